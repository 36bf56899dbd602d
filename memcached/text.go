package memcached

import "bytes"

// TextCmd is a text-protocol (classic ASCII or meta) command.
type TextCmd uint8

// Text commands. TextUnknown is what a line that names no command (or one
// the proxy does not serve) parses to; its error says what to answer.
const (
	TextUnknown TextCmd = iota
	TextGet
	TextGets
	TextGat
	TextGats
	TextSet
	TextAdd
	TextReplace
	TextAppend
	TextPrepend
	TextCas
	TextDelete
	TextIncr
	TextDecr
	TextTouch
	TextMetaGet    // mg
	TextMetaSet    // ms
	TextMetaDelete // md
	TextMetaArith  // ma
	TextMetaNoop   // mn: answered "MN" after every earlier reply
	TextMetaDebug  // me: always refused (ParseText returns ErrMetaDebugRefused)
	TextVersion
	TextVerbosity
	TextQuit
	TextStats
	TextFlushAll
	textCmdCount
)

var textCmdNames = [textCmdCount]string{
	"unknown", "get", "gets", "gat", "gats", "set", "add", "replace", "append", "prepend", "cas",
	"delete", "incr", "decr", "touch", "mg", "ms", "md", "ma", "mn", "me",
	"version", "verbosity", "quit", "stats", "flush_all",
}

// String returns the command as a client types it ("gets", "ms"); metrics
// use it as a label value.
func (c TextCmd) String() string {
	if c < textCmdCount {
		return textCmdNames[c]
	}
	return "unknown"
}

// Meta reports whether c is a meta command (mg, ms, md, ma, mn, me).
func (c TextCmd) Meta() bool { return c >= TextMetaGet && c <= TextMetaDebug }

// Protocol is the metrics label for c: "meta" or "text".
func (c TextCmd) Protocol() string {
	if c.Meta() {
		return "meta"
	}
	return "text"
}

// MultiKey reports whether c is a retrieval command with any number of keys
// (get, gets, gat, gats): one slot per key, then a local END.
func (c TextCmd) MultiKey() bool { return c >= TextGet && c <= TextGats }

// Local reports whether the session answers c itself, with no upstream
// request: mn, version, verbosity, quit, stats, flush_all.
func (c TextCmd) Local() bool {
	return c == TextMetaNoop || (c >= TextVersion && c <= TextFlushAll)
}

// TextError is a parse failure: what to write and what happens to the
// bytes after the line. Every TextError is a package-level value; none is
// allocated per request.
type TextError struct {
	// Reply is the complete reply, "\r\n" included; empty when nothing is
	// written (a silent close). Write it unless the request's NoReply is set
	// (TextRequest.AppendError does both).
	Reply string
	// Swallow: the data block of a storage command follows the line and is
	// discarded unread: TextRequest.DataLen bytes (the declared length + 2).
	// When false, the next bytes are parsed as a command, as memcached does.
	Swallow bool
	// Close: close the connection after writing Reply (an over-long line, an
	// HTTP request line).
	Close bool
	// Unlink: memcached also drops any existing value under the key, so a
	// failed store never leaves stale data behind (a too-large set or ms). A
	// session that reproduces this sends AppendTextUnlink in a slot whose
	// reply is TextRequest.FailedReply(err).
	Unlink bool
}

func (e *TextError) Error() string {
	if e.Reply == "" {
		return "memcached: text: connection closed without a reply"
	}
	return "memcached: text: " + e.Reply[:len(e.Reply)-2]
}

// The exact memcached 1.6 replies for requests that fail to parse.
var (
	ErrTextError          = &TextError{Reply: "ERROR\r\n"}
	ErrTextBadFormat      = &TextError{Reply: "CLIENT_ERROR bad command line format\r\n"}
	ErrTextBadFormatSwall = &TextError{Reply: "CLIENT_ERROR bad command line format\r\n", Swallow: true}
	ErrTextBadDataChunk   = &TextError{Reply: "CLIENT_ERROR bad data chunk\r\n"}
	ErrTextBadExptime     = &TextError{Reply: "CLIENT_ERROR invalid exptime argument\r\n"}
	ErrTextBadDelta       = &TextError{Reply: "CLIENT_ERROR invalid numeric delta argument\r\n"}
	ErrTextDeleteUsage    = &TextError{Reply: "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n"}
	ErrTextTooLarge       = &TextError{Reply: "SERVER_ERROR object too large for cache\r\n", Swallow: true}
	ErrTextTooLargeSet    = &TextError{Reply: "SERVER_ERROR object too large for cache\r\n", Swallow: true, Unlink: true}
	ErrTextFlushDisabled  = &TextError{Reply: "CLIENT_ERROR flush_all not allowed\r\n"}
	// ErrTextClose closes the connection without a reply: a request line that
	// ends in an HTTP version, as memcached does against HTTP probes.
	ErrTextClose = &TextError{Close: true}
)

// Text authentication replies (memcached -Y): see ParseTextAuth.
var (
	ErrTextUnauthenticated = &TextError{Reply: "CLIENT_ERROR unauthenticated\r\n"}
	ErrTextAuthTermination = &TextError{Reply: "CLIENT_ERROR bad command line termination\r\n"}
	ErrTextAuthFormat      = &TextError{Reply: "CLIENT_ERROR bad authentication token format\r\n"}
	ErrTextAuthFailure     = &TextError{Reply: "CLIENT_ERROR authentication failure\r\n"}
)

// TextMaxLine is how far memcached looks for the end of a request line: with
// more than this many bytes buffered and no '\n', it closes the connection,
// unless the line is a get or gets (multigets may be longer).
const TextMaxLine = 2048

// FrameStatus is what TextFrame found.
type FrameStatus uint8

const (
	// FrameNeedMore: no complete line yet; read more and call again.
	FrameNeedMore FrameStatus = iota
	// FrameLine: buf[:lineEnd] is a command line; the next command (or the
	// data block) starts at buf[next].
	FrameLine
	// FrameClose: the line is too long; close the connection without a
	// reply, as memcached does.
	FrameClose
)

// TextFrame finds the first command line in buf.
//
// A line ends at '\n'; a '\r' before it is dropped (bare '\n' endings are
// accepted, as in memcached). With no '\n' in more than TextMaxLine buffered
// bytes, the connection must close, unless the line (after at most 100
// leading spaces) starts with "get " or "gets ": those may grow to
// maxGetLine bytes before the close. Before text authentication, pass
// maxGetLine 0: memcached's authentication reader makes no exception.
func TextFrame(buf []byte, maxGetLine int) (lineEnd, next int, st FrameStatus) {
	if i := bytes.IndexByte(buf, '\n'); i >= 0 {
		end := i
		if i > 1 && buf[i-1] == '\r' {
			end = i - 1
		}
		return end, i + 1, FrameLine
	}
	if len(buf) <= TextMaxLine {
		return 0, 0, FrameNeedMore
	}
	p := 0
	for p < len(buf) && buf[p] == ' ' {
		p++
	}
	rest := buf[p:]
	if p > 100 || !(bytes.HasPrefix(rest, []byte("get ")) || bytes.HasPrefix(rest, []byte("gets "))) {
		return 0, 0, FrameClose
	}
	if len(buf) > maxGetLine {
		return 0, 0, FrameClose
	}
	return 0, 0, FrameNeedMore
}
