package proxy

import (
	"time"

	"golang.org/x/sys/unix"

	"github.com/vbproxy/vbproxy/memcached"
	"github.com/vbproxy/vbproxy/proxy/eventloop"
)

// Writing replies.
//
// Replies are appended to the session's output buffer strictly in ring
// order (a reply that arrives before an earlier one waits in its slot), the
// quiet rules applied, and the buffer is written once at the end of the
// loop round (eventloop.StageClient): every reply that became ready in a
// round leaves in one write. A write that returns EAGAIN keeps the rest and
// waits for the socket's Out edge; the stall timer closes a client that
// takes nothing for WriteTimeout.
//
// The reply hold: when the buffered replies belong to a pipelined batch
// (requests of one client read) whose next request is still in flight, the
// write waits for it, at most Options.ReplyHold, so that a batch whose
// requests went to several nodes leaves in one write, not one per node.

// emit appends one reply and accounts for it. A binary reply is dropped
// when the quiet rules suppress it; a text reply's bytes are already what
// noreply and meta q leave of it.
func (s *session) emit(sl *slot, b []byte) {
	status := sl.status
	if !s.closed && len(b) > 0 && (s.proto == protoText || !sl.op.Suppress(status)) {
		if s.out == nil {
			s.out = s.ls.outBuf()
		}
		s.out = append(s.out, b...)
		s.markDirty()
	}
	s.account(sl, status)
}

// account counts one written (or suppressed) reply.
func (s *session) account(sl *slot, status memcached.Status) {
	s.holding = false
	s.lastRead = sl.batch
	if sl.synthetic {
		return // the END of a multi-get: its keys were counted
	}
	s.ls.c.count(sl.op, status, !sl.byNode)
	d := time.Duration(s.ls.lp.Now() - sl.start)
	s.slowRequest(sl, status, d)
	if po := s.srv.pobs; po != nil {
		proto := "binary"
		if s.proto == protoText {
			proto = sl.tr.Cmd.Protocol()
		}
		po.RequestProtocol(proto, sl.op, status, d)
		return
	}
	s.srv.obs.Request(sl.op, status, d)
}

// emitSlot emits a done slot's stored outcome.
func (s *session) emitSlot(sl *slot) {
	switch {
	case sl.out == outLocal:
		s.emit(sl, sl.local)
	case sl.out == outTextResp:
		var h memcached.Header
		h.Decode(sl.local)
		s.emitTextResp(sl, &h, sl.local)
	case s.proto == protoText:
		s.emit(sl, s.textFailure(sl))
	default:
		h := memcached.Header{Opcode: sl.op, Opaque: sl.opaque}
		s.scratch = memcached.AppendError(s.scratch[:0], &h, sl.status, sl.msg)
		s.emit(sl, s.scratch)
	}
}

// drain writes the done slots at the head of the ring, in order.
func (s *session) drain() {
	for s.tail != s.head {
		sl := s.slots[s.tail&s.mask]
		if sl.state != slotDone {
			break
		}
		s.emitSlot(sl)
		sl.reset()
		s.tail++
	}
	s.afterWrite()
}

// advance frees the slot at the head of the ring, just emitted, and drains
// the ones behind it.
func (s *session) advance() {
	s.slots[s.tail&s.mask].reset()
	s.tail++
	s.drain()
}

// afterWrite notes that slots were freed: a blocked reader may resume (at
// the flush) and a finished session may close.
func (s *session) afterWrite() {
	if s.blocked || s.readDone {
		s.markDirty()
	}
}

func (s *session) markDirty() {
	if !s.dirty && !s.closed {
		s.dirty = true
		s.ls.lp.MarkDirty(s, eventloop.StageClient)
	}
}

// pendingOut is the number of reply bytes not yet written.
func (s *session) pendingOut() int { return len(s.out) - s.outOff }

// Flush writes the output (end of round), unless the reply hold keeps it.
// Implements eventloop.Flusher.
func (s *session) Flush() {
	s.dirty = false
	if s.closed {
		return
	}
	if s.pendingOut() > 0 && !s.outBlock && !s.holdReplies() {
		s.write()
	}
	if s.closed {
		return
	}
	if s.blocked {
		s.resume()
	}
	s.maybeClose()
}

// write writes the output until it is all written or the socket is full.
func (s *session) write() {
	for s.outOff < len(s.out) {
		n, err := unix.Write(s.fd, s.out[s.outOff:])
		if n > 0 {
			s.outOff += n
			s.lastWrite = s.ls.lp.Now()
			s.ls.c.bytesOut.Add(uint64(n))
			s.srv.obs.Bytes(0, n)
			continue
		}
		switch err {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			s.outBlock = true
			if d := s.srv.o.WriteTimeout; d > 0 && !s.stall.Scheduled() {
				s.ls.lp.After(&s.stall, d)
			}
			return
		}
		s.log.Debug("client write failed", "err", err)
		s.close()
		return
	}
	s.releaseOut()
}

// releaseOut gives the written (or abandoned) output buffer back.
func (s *session) releaseOut() {
	if s.out != nil {
		s.ls.putOutBuf(s.out)
	}
	s.out, s.outOff = nil, 0
}

// holdReplies reports whether the buffered replies should wait for the next
// request of their batch, still in flight. A hold lasts at most ReplyHold;
// the hold timer then flushes.
func (s *session) holdReplies() bool {
	holdMax := int64(s.srv.o.ReplyHold)
	if holdMax <= 0 || s.tail == s.head {
		return false
	}
	sl := s.slots[s.tail&s.mask]
	if sl.state == slotDone || sl.batch != s.lastRead {
		return false
	}
	now := s.ls.lp.Now()
	if !s.holding {
		s.holding = true
		s.holdSince = now
		s.ls.lp.Schedule(&s.hold, now+holdMax)
		return true
	}
	return now-s.holdSince < holdMax // past it: write; holding stays set so sl is not held again
}

// holdExpired flushes the replies a hold kept.
func (s *session) holdExpired() { s.markDirty() }
