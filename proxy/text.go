package proxy

import (
	"strings"

	"github.com/vbproxy/vbproxy/memcached"
)

// The text front end: classic ASCII and meta commands (memcached 1.6),
// translated onto the same slots, routing and upstream connections as the
// binary protocol. The codec (memcached.ParseText, AppendTextToBinary,
// AppendTextReply) does no I/O; this file drives it:
//
//   - A keyed command becomes one slot holding the binary request the codec
//     built (loud opcodes only) and the command's reply context
//     (memcached.TextReply). A get/gets/gat/gats line becomes one slot per
//     key, duplicates included, then one slot that writes END; when the
//     ring fills mid-line, the line stays buffered and parsing resumes at
//     the next key (getPos), so a multi-get of thousands of keys streams
//     through a bounded ring. Keys of one line that live on one node leave
//     in that node connection's one write of the round.
//   - Replies are turned back into text when written, in slot order:
//     straight from the node connection's read buffer into the output when
//     the slot is next in line, else from a copy kept in the slot.
//   - Parse errors, local commands (version, verbosity, stats, flush_all,
//     mn) and text authentication answer in slots of their own, so every
//     reply keeps its place; noreply and meta q are applied by the codec.

// Client protocols.
const (
	protoUnknown uint8 = iota // no byte read yet
	protoBinary
	protoText
)

// Protocols says which protocols a listener serves.
type Protocols uint8

// Listener protocol sets (config words both, binary, text).
const (
	ProtocolsBoth Protocols = iota
	ProtocolsBinary
	ProtocolsText
)

// String returns the config word.
func (p Protocols) String() string {
	switch p {
	case ProtocolsBinary:
		return "binary"
	case ProtocolsText:
		return "text"
	}
	return "both"
}

// Refusals of a protocol the listener does not serve, before the close.
var (
	msgTextRefused   = []byte("SERVER_ERROR text protocol not enabled on this listener\r\n")
	msgBinaryRefused = "Binary protocol not enabled on this listener"
)

// detect sets the session's protocol from its first byte. A protocol the
// listener does not serve is answered with an error in that protocol and
// the connection closes; detect then returns false.
func (s *session) detect(first byte) bool {
	binary := first == memcached.MagicRequest
	switch {
	case binary && s.lst.Protocols == ProtocolsText:
		h := memcached.Header{Opcode: memcached.OpNoop}
		s.refuseProtocol(memcached.AppendError(nil, &h, memcached.StatusUnknownCommand, msgBinaryRefused))
		return false
	case !binary && s.lst.Protocols == ProtocolsBinary:
		s.refuseProtocol(msgTextRefused)
		return false
	case binary:
		s.proto = protoBinary
		s.ls.c.connsBinary.Add(1)
	default:
		s.proto = protoText
		s.ls.c.connsText.Add(1)
	}
	return true
}

func (s *session) refuseProtocol(reply []byte) {
	s.log.Debug("client protocol not served on this listener", "protocols", s.lst.Protocols.String())
	s.out = append(s.ls.outBuf(), reply...)
	s.readDone = true
	s.markDirty()
}

// textValueLimit is the largest text value accepted: the request size limit
// less what the binary request adds (extras and the longest key).
func (s *session) textValueLimit() int {
	return max(s.srv.maxRequestSize()-8-memcached.MaxKeyLen, 1)
}

// textCommand handles the command at the start of buf. It returns the bytes
// it consumed, or ok false when it needs more bytes or a free slot (then it
// consumed nothing, and sets blocked or textWant).
func (s *session) textCommand(buf []byte) (n int, ok bool) {
	maxGet := s.srv.maxRequestSize()
	if !s.authed {
		maxGet = 0 // memcached's authentication reader makes no multiget exception
	}
	lineEnd, next, st := memcached.TextFrame(buf, maxGet)
	switch st {
	case memcached.FrameNeedMore:
		s.textWant = 0
		return 0, false
	case memcached.FrameClose:
		s.log.Debug("closing client connection: request line too long")
		s.readDone = true
		s.markDirty()
		return len(buf), true
	}
	line := buf[:lineEnd]
	if !s.authed {
		return s.textAuth(buf, line, next)
	}
	req := &s.treq
	if err := memcached.ParseText(line, s.textValueLimit(), req); err != nil {
		return s.textRefuse(req, err, next)
	}
	switch {
	case req.Cmd.MultiKey():
		return s.textGet(req, next)
	case req.DataLen > 0:
		need := next + req.DataLen
		if len(buf) < need {
			s.textWant = need
			return 0, false
		}
		value, derr := req.CheckData(buf[next:need])
		if derr != nil {
			if _, ok := s.textReply(memcached.OpSet, req.AppendError(nil, derr)); !ok {
				return 0, false
			}
			return need, true
		}
		if !s.textKeyed(req, req.Key, value) {
			return 0, false
		}
		return need, true
	case req.Cmd.Local():
		if !s.textLocal(req) {
			return 0, false
		}
		return next, true
	}
	if !s.textKeyed(req, req.Key, nil) {
		return 0, false
	}
	return next, true
}

// textRefuse answers a line the codec refused: its reply (unless noreply
// was parsed), the data block swallowed or not, the connection closed or
// not; a too-large store also deletes the key's old value, as memcached
// does.
func (s *session) textRefuse(req *memcached.TextRequest, err *memcached.TextError, next int) (int, bool) {
	if err.Unlink {
		sl := s.acquire()
		if sl == nil {
			s.blocked = true
			return 0, false
		}
		sl.pkt.Adopt(memcached.AppendTextUnlink(sl.pkt.Reuse(), req, 0))
		sl.tr = req.UnlinkReply()
		s.begin(sl, &sl.pkt.Header)
		s.dispatch(sl)
	} else if reply := req.AppendError(nil, err); len(reply) > 0 {
		if _, ok := s.textReply(memcached.Opcode(0xff), reply); !ok {
			return 0, false
		}
	}
	if err.Swallow {
		s.skip = int64(req.DataLen)
	}
	if err.Close {
		s.readDone = true
		s.markDirty()
	}
	return next, true
}

// textReply issues a slot answered locally with reply (text bytes), counted
// as opcode op.
func (s *session) textReply(op memcached.Opcode, reply []byte) (*slot, bool) {
	sl := s.acquire()
	if sl == nil {
		s.blocked = true
		return nil, false
	}
	s.begin(sl, &memcached.Header{Opcode: op})
	sl.local = append(sl.local[:0], reply...)
	sl.answer(memcached.StatusSuccess)
	return sl, true
}

// textEnd issues the END slot of a multi-get: not a request of its own.
func (s *session) textEnd() bool {
	sl := s.acquire()
	if sl == nil {
		s.blocked = true
		return false
	}
	s.begin(sl, &memcached.Header{Opcode: memcached.OpNoop})
	sl.synthetic = true
	sl.local = memcached.AppendTextEnd(sl.local[:0])
	sl.answer(memcached.StatusSuccess)
	return true
}

// textKeyed issues the slot of a keyed command: the binary request for key
// (value for a store), routed like any binary request.
func (s *session) textKeyed(req *memcached.TextRequest, key, value []byte) bool {
	sl := s.acquire()
	if sl == nil {
		s.blocked = true
		return false
	}
	sl.pkt.Adopt(memcached.AppendTextToBinary(sl.pkt.Reuse(), req, key, 0, value))
	sl.size = len(sl.pkt.Bytes())
	s.inflight += sl.size
	s.ls.inflight += sl.size
	sl.tr = req.Reply()
	s.begin(sl, &sl.pkt.Header)
	s.dispatch(sl)
	return true
}

// textGet issues one slot per key of a get family line, then the END slot.
// It resumes at getPos when an earlier call ran out of slots.
func (s *session) textGet(req *memcached.TextRequest, next int) (int, bool) {
	pos := s.getPos
	for {
		key, nx := req.NextKey(pos)
		if key == nil {
			break
		}
		if !s.textKeyed(req, key, nil) {
			s.getPos = pos
			return 0, false
		}
		pos = nx
	}
	if !s.textEnd() {
		s.getPos = pos // every key is issued; only END is left
		return 0, false
	}
	s.getPos = 0
	return next, true
}

// textLocal answers the commands the proxy serves itself.
func (s *session) textLocal(req *memcached.TextRequest) bool {
	rc := req.Reply()
	switch req.Cmd {
	case memcached.TextQuit:
		// Nothing is written: close once the earlier replies are.
		s.quitting = true
		s.readDone = true
		s.markDirty()
		return true
	case memcached.TextMetaNoop:
		// The barrier comes from the ring: written after every earlier reply.
		_, ok := s.textReply(memcached.OpNoop, memcached.AppendTextLine(nil, &rc, "MN"))
		return ok
	case memcached.TextVersion:
		_, ok := s.textReply(memcached.OpVersion, memcached.AppendTextVersion(nil, s.srv.o.Version))
		return ok
	case memcached.TextVerbosity:
		// Couchbase applies verbosity server-wide: never forwarded; memcached
		// always answers OK.
		_, ok := s.textReply(memcached.OpVerbosity, memcached.AppendTextLine(nil, &rc, "OK"))
		return ok
	case memcached.TextStats:
		_, ok := s.textReply(memcached.OpStat, s.textStats(req))
		return ok
	case memcached.TextFlushAll:
		return s.textFlush(req)
	}
	_, ok := s.textReply(0xff, req.AppendError(nil, memcached.ErrTextError))
	return ok
}

// textStats is the reply to "stats": the proxy's counters as STAT lines
// (memcached's names where they mean the same; a stat with no value, such
// as the bucket of a listener without one, is left out), then END. "stats proxy" is
// the same; any other group is ERROR, as memcached answers one it does not
// know.
func (s *session) textStats(req *memcached.TextRequest) []byte {
	if req.NumTokens() > 1 && string(req.Token(1)) != "proxy" {
		return []byte("ERROR\r\n")
	}
	var b []byte
	s.srv.eachStat(func(k, v string) {
		if v != "" { // "STAT bucket " breaks clients that split on spaces
			b = memcached.AppendTextStat(b, k, v)
		}
	})
	return memcached.AppendTextEnd(b)
}

// textFlush answers flush_all: refused with memcached's own words unless
// the flush policy allows it, else FLUSH to every node, then OK.
func (s *session) textFlush(req *memcached.TextRequest) bool {
	var refusal *memcached.TextError
	switch {
	case !s.lst.AllowFlush:
		refusal = memcached.ErrTextFlushDisabled
	case req.DelayErr != nil:
		refusal = req.DelayErr
	}
	if refusal != nil {
		if reply := req.AppendError(nil, refusal); len(reply) > 0 {
			_, ok := s.textReply(memcached.OpFlush, reply)
			return ok
		}
		return true
	}
	sl := s.acquire()
	if sl == nil {
		s.blocked = true
		return false
	}
	var extras []byte
	if req.Delay > 0 {
		d := uint32(req.Delay)
		extras = []byte{byte(d >> 24), byte(d >> 16), byte(d >> 8), byte(d)}
	}
	sl.pkt.Adopt(memcached.AppendRequest(sl.pkt.Reuse(), memcached.OpFlush, 0, 0, 0, extras, nil, nil))
	sl.tr = req.Reply()
	s.begin(sl, &sl.pkt.Header)
	s.flushAll(sl)
	return true
}

// textAuth handles what an unauthenticated text client sends: only the
// authentication set (memcached -Y) is accepted, checked against
// Options.Users like SASL PLAIN; everything else is CLIENT_ERROR
// unauthenticated.
func (s *session) textAuth(buf, line []byte, next int) (int, bool) {
	dataLen, err := memcached.ParseTextAuth(line)
	if err != nil {
		if _, ok := s.textReply(0xff, []byte(err.Reply)); !ok && len(err.Reply) > 0 {
			return 0, false
		}
		if err.Close {
			s.readDone = true
			s.markDirty()
		}
		return next, true
	}
	need := next + dataLen
	if len(buf) < need {
		s.textWant = need
		return 0, false
	}
	user, pass, err := memcached.SplitTextAuth(buf[next:need])
	reply := "STORED\r\n"
	switch {
	case err != nil:
		reply = err.Reply
	case checkUser(s.lst.users(), user, pass):
		s.authed = true
		s.authedNow.Store(true)
	default:
		s.srv.authFailures.Add(1)
		s.log.Info("client authentication failed")
		reply = memcached.ErrTextAuthFailure.Reply
	}
	if _, ok := s.textReply(memcached.OpSASLAuth, []byte(reply)); !ok {
		if s.authed {
			s.authed = false // not answered yet: the same bytes come again
			s.authedNow.Store(false)
		}
		return 0, false
	}
	return need, true
}

// emitTextResp writes the text reply for a slot from the binary reply pkt
// (header h), straight into the output.
func (s *session) emitTextResp(sl *slot, h *memcached.Header, pkt []byte) {
	if !s.closed {
		e := memcached.HeaderLen + int(h.ExtrasLen)
		k := e + int(h.KeyLen)
		end := memcached.HeaderLen + int(h.BodyLen)
		if s.out == nil {
			s.out = s.ls.outBuf()
		}
		n := len(s.out)
		s.out = memcached.AppendTextReply(s.out, &sl.tr, sl.pkt.Key, h, pkt[memcached.HeaderLen:e], pkt[k:end])
		if len(s.out) > n {
			s.markDirty()
		}
	}
	s.account(sl, h.Status)
}

// textFailure is the text reply for an error the proxy made (node down,
// timeout...): "SERVER_ERROR temporary failure: node down".
// A request the proxy refused as invalid (a key too long for a named
// collection) is a CLIENT_ERROR instead.
func (s *session) textFailure(sl *slot) []byte {
	reason := sl.msg
	if reason != "" {
		reason = strings.ToLower(reason[:1]) + reason[1:]
	}
	s.scratch = memcached.AppendTextFailure(s.scratch[:0], &sl.tr, reason)
	if sl.status == memcached.StatusEINVAL && len(s.scratch) > 0 {
		s.scratch = append([]byte("CLIENT_ERROR "), s.scratch[len("SERVER_ERROR "):]...)
	}
	return s.scratch
}
