package memcached

import "encoding/binary"

type replyKind uint8

const (
	replyNormal   replyKind = iota
	replyProbe              // a CAS of 0 compared by a GET: hit = EXISTS/EX, miss = NOT_FOUND/NF
	replyCompare            // mg C: a matching CAS omits the value (HD instead of VA)
	replyTooLarge           // the DELETE after a too-large store: always the too-large error
)

// TextReply is the reply context of one slot: everything needed to turn
// the binary reply to that slot's request into text, in a small value with
// no pointers that the session keeps in the slot. Build it with
// TextRequest.Reply (or UnlinkReply) right after ParseText; it does not
// refer to the request line.
type TextReply struct {
	Cmd TextCmd
	// NoReply: classic noreply; nothing is written for this slot, errors
	// included.
	NoReply bool
	// Quiet: meta q; mg hides EN, ms/md/ma hide HD (errors are always
	// written).
	Quiet bool

	kind       replyKind
	op         Opcode
	base64     bool
	value      bool
	hasCAS     bool
	opaqueLong bool
	nret       uint8
	nopaque    uint8
	ttl        int32
	dataLen    int32
	compareCAS uint64
	ret        [textMaxTokens]byte
	opaque     [metaMaxOpaque]byte
}

// Reply returns the reply context for the slots of a parsed request (one
// for every key of a get line).
func (r *TextRequest) Reply() TextReply {
	m := &r.Meta
	rc := TextReply{
		Cmd: r.Cmd, NoReply: r.NoReply, Quiet: m.Quiet, kind: r.kind, op: r.op,
		base64: m.Base64, value: m.Value, hasCAS: m.HasCAS || r.Cmd == TextCas,
		opaqueLong: m.opaqueLong, nret: m.nret, ttl: m.TTL, compareCAS: r.CAS,
		ret: m.ret,
	}
	if r.DataLen >= 2 {
		rc.dataLen = int32(r.DataLen - 2)
	}
	if !m.opaqueLong {
		rc.nopaque = uint8(copy(rc.opaque[:], m.Opaque))
	}
	return rc
}

// UnlinkReply is the reply context for the slot that carries
// AppendTextUnlink after a store refused with an Unlink error: whatever the
// DELETE answers, the slot writes "SERVER_ERROR object too large for cache"
// (nothing under noreply).
func (r *TextRequest) UnlinkReply() TextReply {
	return TextReply{Cmd: r.Cmd, NoReply: r.NoReply, kind: replyTooLarge, op: OpDelete}
}

// AppendTextReply appends the text reply for one slot, given the binary
// reply to its request (resp, and the reply's extras and value), and
// returns the extended slice; it does not allocate when dst has room.
//
// key is the key the request was sent with (the binary key for a meta key
// with flag b, which k re-encodes). A get miss writes nothing (the session
// writes END after the last key); any other failure status writes the
// memcached reply for it (NOT_FOUND, NOT_STORED, EXISTS, ...) or a
// "SERVER_ERROR ..." line.
func AppendTextReply(dst []byte, rc *TextReply, key []byte, resp *Header, extras, value []byte) []byte {
	if rc.NoReply {
		return dst
	}
	st := resp.Status
	if rc.kind == replyTooLarge {
		return append(dst, "SERVER_ERROR object too large for cache\r\n"...)
	}
	switch rc.Cmd {
	case TextGet, TextGets, TextGat, TextGats:
		if st == StatusKeyENOENT {
			return dst
		}
		if st != StatusSuccess {
			return appendStatusError(dst, rc, st)
		}
		dst = append(dst, "VALUE "...)
		dst = append(dst, key...)
		dst = append(dst, ' ')
		dst = appendUint(dst, uint64(replyFlags(extras)))
		dst = append(dst, ' ')
		dst = appendUint(dst, uint64(len(value)))
		if rc.Cmd == TextGets || rc.Cmd == TextGats {
			dst = append(dst, ' ')
			dst = appendUint(dst, resp.CAS)
		}
		dst = append(dst, "\r\n"...)
		dst = append(dst, value...)
		return append(dst, "\r\n"...)
	case TextSet, TextAdd, TextReplace, TextAppend, TextPrepend, TextCas:
		if s := textStoreResult(rc, st); s != "" {
			return append(dst, s...)
		}
	case TextDelete:
		switch st {
		case StatusSuccess:
			return append(dst, "DELETED\r\n"...)
		case StatusKeyENOENT:
			return append(dst, "NOT_FOUND\r\n"...)
		}
	case TextTouch:
		switch st {
		case StatusSuccess:
			return append(dst, "TOUCHED\r\n"...)
		case StatusKeyENOENT:
			return append(dst, "NOT_FOUND\r\n"...)
		}
	case TextIncr, TextDecr:
		switch st {
		case StatusSuccess:
			dst = appendUint(dst, replyCounter(value))
			return append(dst, "\r\n"...)
		case StatusKeyENOENT:
			return append(dst, "NOT_FOUND\r\n"...)
		}
	case TextMetaGet:
		return appendMetaGet(dst, rc, key, resp, extras, value)
	case TextMetaSet:
		return appendMetaSet(dst, rc, key, resp)
	case TextMetaDelete:
		return appendMetaDelete(dst, rc, key, st)
	case TextMetaArith:
		return appendMetaArith(dst, rc, key, resp, value)
	}
	return appendStatusError(dst, rc, st)
}

// AppendTextFailure appends the reply for a slot the proxy could not get
// an answer for (node down, timeout, retries exhausted):
// "SERVER_ERROR <reason>\r\n", nothing under noreply. Meta commands always
// get it, quiet or not. reason should be short ("temporary failure").
func AppendTextFailure(dst []byte, rc *TextReply, reason string) []byte {
	if rc.NoReply {
		return dst
	}
	dst = append(dst, "SERVER_ERROR "...)
	dst = append(dst, reason...)
	return append(dst, "\r\n"...)
}

// AppendTextLine appends line and "\r\n" unless rc.NoReply: the replies of
// local commands ("OK" for verbosity and flush_all, "MN", "RESET").
func AppendTextLine(dst []byte, rc *TextReply, line string) []byte {
	if rc.NoReply {
		return dst
	}
	dst = append(dst, line...)
	return append(dst, "\r\n"...)
}

// AppendTextEnd appends "END\r\n": the last line of a get family reply and
// of a stats reply.
func AppendTextEnd(dst []byte) []byte { return append(dst, "END\r\n"...) }

// AppendTextVersion appends "VERSION <version>\r\n".
func AppendTextVersion(dst []byte, version string) []byte {
	dst = append(dst, "VERSION "...)
	dst = append(dst, version...)
	return append(dst, "\r\n"...)
}

// AppendTextStat appends one "STAT <name> <value>\r\n" line of a stats
// reply; end the reply with AppendTextEnd.
func AppendTextStat(dst []byte, name, value string) []byte {
	dst = append(dst, "STAT "...)
	dst = append(dst, name...)
	dst = append(dst, ' ')
	dst = append(dst, value...)
	return append(dst, "\r\n"...)
}

// AppendTextStatUint appends a STAT line with a decimal value.
func AppendTextStatUint(dst []byte, name string, v uint64) []byte {
	dst = append(dst, "STAT "...)
	dst = append(dst, name...)
	dst = append(dst, ' ')
	dst = appendUint(dst, v)
	return append(dst, "\r\n"...)
}

// AppendTextStatInt appends a STAT line with a signed decimal value.
func AppendTextStatInt(dst []byte, name string, v int64) []byte {
	dst = append(dst, "STAT "...)
	dst = append(dst, name...)
	dst = append(dst, ' ')
	dst = appendInt(dst, v)
	return append(dst, "\r\n"...)
}

func replyFlags(extras []byte) uint32 {
	if len(extras) < 4 {
		return 0
	}
	return binary.BigEndian.Uint32(extras)
}

// replyCounter is the new value of an INCREMENT/DECREMENT: 8 bytes big
// endian.
func replyCounter(value []byte) uint64 {
	if len(value) < 8 {
		return 0
	}
	return binary.BigEndian.Uint64(value)
}

// textStoreResult maps a store's status to memcached's reply ("" for a
// status that is a failure in any context: appendStatusError). It follows
// what memcached's text path answers for the same outcome: an add on an
// existing key, a replace or append on a missing one are NOT_STORED; a cas
// on a missing key is NOT_FOUND, a stale one EXISTS.
func textStoreResult(rc *TextReply, st Status) string {
	if rc.kind == replyProbe {
		switch st {
		case StatusSuccess:
			return "EXISTS\r\n"
		case StatusKeyENOENT:
			return "NOT_FOUND\r\n"
		}
		return ""
	}
	switch st {
	case StatusSuccess:
		return "STORED\r\n"
	case StatusKeyEEXISTS, StatusLocked:
		if rc.op == OpAdd {
			return "NOT_STORED\r\n"
		}
		return "EXISTS\r\n"
	case StatusKeyENOENT:
		if rc.hasCAS {
			return "NOT_FOUND\r\n"
		}
		return "NOT_STORED\r\n"
	case StatusNotStored:
		return "NOT_STORED\r\n"
	case StatusENOMEM:
		return "SERVER_ERROR out of memory storing object\r\n"
	}
	return ""
}

func appendStatusError(dst []byte, rc *TextReply, st Status) []byte {
	if s := statusErrorText(st); s != "" {
		return append(dst, s...)
	}
	dst = append(dst, "SERVER_ERROR unexpected status 0x"...)
	const hex = "0123456789abcdef"
	return append(dst, hex[st>>12&15], hex[st>>8&15], hex[st>>4&15], hex[st&15], '\r', '\n')
}

// statusErrorText is the reply for a status that is a failure in every
// context; "" for a status it does not know (written as "SERVER_ERROR
// unexpected status 0x....").
func statusErrorText(st Status) string {
	switch st {
	case StatusE2BIG:
		return "SERVER_ERROR object too large for cache\r\n"
	case StatusENOMEM:
		return "SERVER_ERROR out of memory\r\n"
	case StatusDeltaBadval:
		return "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
	case StatusETMPFAIL, StatusEBUSY:
		return "SERVER_ERROR temporary failure\r\n"
	case StatusUnknownCommand:
		return "SERVER_ERROR unknown command\r\n"
	case StatusNotSupported:
		return "SERVER_ERROR not supported\r\n"
	case StatusEINVAL:
		return "SERVER_ERROR invalid arguments\r\n"
	case StatusNotMyVBucket:
		return "SERVER_ERROR not my vbucket\r\n"
	case StatusNoBucket:
		return "SERVER_ERROR no bucket\r\n"
	case StatusAuthError, StatusEAccess:
		return "SERVER_ERROR access denied\r\n"
	case StatusAuthStale:
		return "SERVER_ERROR authentication stale\r\n"
	case StatusLocked, StatusKeyEEXISTS:
		return "SERVER_ERROR item locked\r\n"
	case StatusEINTERNAL:
		return "SERVER_ERROR internal error\r\n"
	case StatusERange:
		return "SERVER_ERROR out of range\r\n"
	case StatusNotInitialized:
		return "SERVER_ERROR not initialized\r\n"
	case StatusKeyENOENT:
		return "NOT_FOUND\r\n"
	case StatusNotStored:
		return "NOT_STORED\r\n"
	}
	return ""
}
