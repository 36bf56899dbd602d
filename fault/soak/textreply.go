package soak

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/vbproxy/vbproxy/memcached"
)

// The text client's limits. Soak values are short ("key:version"); a reply
// that declares more than maxTextValue bytes is refused before anything is
// allocated for it.
const (
	textReadBuf  = 64 << 10 // bufio size of the reader: the longest reply line
	maxTextValue = 1 << 20  // the largest data block accepted in a VALUE reply
)

// failurePrefix starts the reply vbproxy gives a text client for ETMPFAIL:
// "SERVER_ERROR temporary failure" from a node, or "SERVER_ERROR temporary
// failure: <reason>" when the proxy made it (node down, timed out...).
const failurePrefix = "SERVER_ERROR temporary failure"

// replyError is a text reply the soak does not expect: a line outside the
// command's vocabulary (CLIENT_ERROR, ERROR, a SERVER_ERROR other than a
// temporary failure) or one that breaks the protocol's framing. After it the
// connection may be out of step with its replies, so the worker drops it.
type replyError struct {
	Cmd    string // the command that got it: "set", "gets", ...
	Line   string // the reply line, truncated to 80 bytes
	Reason string
}

func (e *replyError) Error() string {
	return fmt.Sprintf("text %s: %s: %q", e.Cmd, e.Reason, e.Line)
}

// Kind is the error without the line (which may carry a key): the report
// counts unexpected replies by it.
func (e *replyError) Kind() string { return "text " + e.Cmd + ": " + e.Reason }

func badReply(cmd string, line []byte, format string, args ...any) *replyError {
	if len(line) > 80 {
		line = line[:80]
	}
	return &replyError{Cmd: cmd, Line: string(line), Reason: fmt.Sprintf(format, args...)}
}

// failure reports whether line is a temporary failure: ETMPFAIL.
func failure(line []byte) bool {
	rest, ok := bytes.CutPrefix(line, []byte(failurePrefix))
	return ok && (len(rest) == 0 || bytes.HasPrefix(rest, []byte(": ")))
}

// storeStatus maps the reply line of a storage command (without "\r\n") to
// the binary status a binary client would have got. cmd is "set", "add" or
// "cas": set answers STORED (or NOT_STORED), add STORED or NOT_STORED (the
// key exists), cas STORED, EXISTS (the CAS differs) or NOT_FOUND.
func storeStatus(cmd string, line []byte) (memcached.Status, error) {
	switch string(line) {
	case "STORED":
		return memcached.StatusSuccess, nil
	case "NOT_STORED":
		if cmd != "cas" {
			return memcached.StatusNotStored, nil
		}
	case "EXISTS", "NOT_FOUND":
		if cmd == "cas" {
			if line[0] == 'E' {
				return memcached.StatusKeyEEXISTS, nil
			}
			return memcached.StatusKeyENOENT, nil
		}
	}
	if failure(line) {
		return memcached.StatusETMPFAIL, nil
	}
	return 0, badReply(cmd, line, "unexpected reply")
}

// deleteStatus maps the reply line of delete: DELETED or NOT_FOUND.
func deleteStatus(line []byte) (memcached.Status, error) {
	switch {
	case string(line) == "DELETED":
		return memcached.StatusSuccess, nil
	case string(line) == "NOT_FOUND":
		return memcached.StatusKeyENOENT, nil
	case failure(line):
		return memcached.StatusETMPFAIL, nil
	}
	return 0, badReply("delete", line, "unexpected reply")
}

// incrReply maps the reply line of incr: the new value in decimal (a
// success, with the value), NOT_FOUND, or a temporary failure.
func incrReply(line []byte) (memcached.Status, uint64, error) {
	switch {
	case string(line) == "NOT_FOUND":
		return memcached.StatusKeyENOENT, 0, nil
	case failure(line):
		return memcached.StatusETMPFAIL, 0, nil
	case len(line) > 0 && line[0] >= '0' && line[0] <= '9':
		n, err := decimal(line, 64)
		if err != nil {
			return 0, 0, badReply("incr", line, "counter: %v", err)
		}
		return memcached.StatusSuccess, n, nil
	}
	return 0, 0, badReply("incr", line, "unexpected reply")
}

// decimal parses a canonical unsigned decimal as memcached writes one: no
// sign, no leading zero (but "0"), at most bits wide.
func decimal(b []byte, bits int) (uint64, error) {
	if len(b) == 0 {
		return 0, errors.New("empty number")
	}
	if len(b) > 1 && b[0] == '0' {
		return 0, fmt.Errorf("number %q has a leading zero", b)
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("number %q is not decimal", b)
		}
	}
	n, err := strconv.ParseUint(string(b), 10, bits)
	if err != nil {
		return 0, fmt.Errorf("number %q out of range (%d bits)", b, bits)
	}
	return n, nil
}

// valueHeader is a parsed "VALUE <key> <flags> <bytes>[ <cas>]" line.
type valueHeader struct {
	flags uint32
	n     int
	cas   uint64
}

// parseValueHeader parses a VALUE line (without "\r\n") of get (withCAS
// false: four fields) or gets (five, the last the CAS) for key: the key must
// be the one asked for and the length at most maxTextValue.
func parseValueHeader(cmd string, line []byte, key string, withCAS bool) (valueHeader, error) {
	f := bytes.Split(line, []byte(" "))
	want := 4
	if withCAS {
		want = 5
	}
	if string(f[0]) != "VALUE" {
		return valueHeader{}, badReply(cmd, line, "not a VALUE line")
	}
	if len(f) != want {
		return valueHeader{}, badReply(cmd, line, "VALUE line with %d fields, want %d", len(f), want)
	}
	if string(f[1]) != key {
		return valueHeader{}, badReply(cmd, line, "VALUE for another key")
	}
	flags, err := decimal(f[2], 32)
	if err != nil {
		return valueHeader{}, badReply(cmd, line, "flags: %v", err)
	}
	n, err := decimal(f[3], 32)
	if err != nil {
		return valueHeader{}, badReply(cmd, line, "length: %v", err)
	}
	if n > maxTextValue {
		return valueHeader{}, badReply(cmd, line, "length %d over the limit %d", n, maxTextValue)
	}
	h := valueHeader{flags: uint32(flags), n: int(n)}
	if withCAS {
		if h.cas, err = decimal(f[4], 64); err != nil {
			return valueHeader{}, badReply(cmd, line, "cas: %v", err)
		}
	}
	return h, nil
}

// textReader reads the replies of a text-protocol server: lines ended by
// "\r\n" and data blocks of a declared length. It does no parsing of its
// own beyond framing; the functions above interpret the lines.
type textReader struct {
	r *bufio.Reader
}

func newTextReader(r io.Reader) textReader {
	return textReader{r: bufio.NewReaderSize(r, textReadBuf)}
}

// line reads one reply line and returns it without "\r\n"; the slice is
// valid until the next read. A line longer than textReadBuf, or ended by a
// bare "\n", is a replyError.
func (t textReader) line(cmd string) ([]byte, error) {
	l, err := t.r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return nil, badReply(cmd, l, "reply line longer than %d bytes", textReadBuf)
	}
	if err != nil {
		if errors.Is(err, io.EOF) && len(l) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if len(l) < 2 || l[len(l)-2] != '\r' {
		return nil, badReply(cmd, l, "reply line not ended by \\r\\n")
	}
	return l[:len(l)-2], nil
}

// get reads the whole reply of a one-key get (withCAS false) or gets: at
// most one VALUE block or one failure line, then END. A miss is KEY_ENOENT,
// a temporary failure ETMPFAIL (vbproxy writes END after it, as after every
// key of a get line).
func (t textReader) get(key string, withCAS bool) (memcached.Status, valueHeader, []byte, error) {
	cmd := "get"
	if withCAS {
		cmd = "gets"
	}
	l, err := t.line(cmd)
	if err != nil {
		return 0, valueHeader{}, nil, err
	}
	st := memcached.StatusKeyENOENT
	var h valueHeader
	var value []byte
	switch {
	case string(l) == "END":
		return st, h, nil, nil
	case failure(l):
		st = memcached.StatusETMPFAIL
	case bytes.HasPrefix(l, []byte("VALUE ")):
		if h, err = parseValueHeader(cmd, l, key, withCAS); err != nil {
			return 0, valueHeader{}, nil, err
		}
		value = make([]byte, h.n+2)
		if _, err := io.ReadFull(t.r, value); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return 0, valueHeader{}, nil, err
		}
		if string(value[h.n:]) != "\r\n" {
			return 0, valueHeader{}, nil, badReply(cmd, value[h.n:], "data block of %d bytes not ended by \\r\\n", h.n)
		}
		value, st = value[:h.n], memcached.StatusSuccess
	default:
		return 0, valueHeader{}, nil, badReply(cmd, l, "unexpected reply")
	}
	if l, err = t.line(cmd); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF // inside the reply
		}
		return 0, valueHeader{}, nil, err
	}
	if string(l) != "END" {
		return 0, valueHeader{}, nil, badReply(cmd, l, "want END after the key's reply")
	}
	return st, h, value, nil
}
