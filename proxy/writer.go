package proxy

import (
	"time"

	"github.com/vbproxy/vbproxy/memcached"
)

// writeLoop writes the outcome of every slot in ring order, applying the
// quiet rules, and flushes when the next slot is not ready yet, so that the
// replies of a pipeline leave in as few writes as possible. It returns when
// the reader has stopped and every issued slot has been written (or dropped,
// when the client is gone).
func (s *session) writeLoop() {
	defer close(s.writerDone)
	for {
		done := s.readDone.Load()
		if s.tail == s.head.Load() {
			if done {
				break
			}
			// Caught up with the reader: hold if it is still issuing the
			// requests of the read whose replies are buffered.
			if r := s.batchRead.Load(); r == 0 || !s.hold(r) {
				s.flush()
			}
			<-s.wake
			continue
		}
		sl := s.slots[s.tail&s.mask]
		if sl.state.Load() != slotDone {
			if !s.hold(sl.read) {
				s.flush()
			}
			<-s.wake
			continue
		}
		s.holding = false
		s.lastRead = sl.read
		s.emit(sl)
		sl.reset()
		sl.state.Store(slotFree)
		s.tail++
		s.free <- struct{}{}
	}
	if s.holdTimer != nil {
		s.holdTimer.Stop()
	}
	s.flush()
}

// hold reports whether the replies already buffered should wait for the
// next request of client read read (the next slot's, or one the reader is
// still parsing) instead of leaving now: it came in the same client read as
// the reply written last (a pipelined batch), so the batch's replies can
// leave in one write once the rest of it is done. A hold lasts at most
// Options.ReplyHold, after which a timer wakes the writer to flush.
func (s *session) hold(read uint64) bool {
	holdMax := s.srv.o.ReplyHold
	if holdMax <= 0 || s.discard || s.w == nil || s.w.Buffered() == 0 || read != s.lastRead {
		return false
	}
	now := s.srv.now()
	if !s.holding {
		s.holding = true
		s.holdSince = now
		if s.holdTimer == nil {
			s.holdTimer = time.AfterFunc(holdMax, s.wakeWriter)
		} else {
			s.holdTimer.Reset(holdMax)
		}
		return true
	}
	if now.Sub(s.holdSince) >= holdMax {
		return false // flushed; holding stays set so that sl is not held again
	}
	return true
}

// emit writes one slot's reply (unless the quiet rules suppress it) and
// accounts for it.
func (s *session) emit(sl *slot) {
	status := sl.status
	if !sl.op.Suppress(status) && !s.discard {
		var b []byte
		switch sl.out {
		case outResp:
			n := memcached.HeaderLen + int(sl.req.Resp.BodyLen)
			if n > len(sl.req.RespBuf) {
				// Not a whole reply: never write a partial packet.
				status = memcached.StatusEINTERNAL
				h := memcached.Header{Opcode: sl.op, Opaque: sl.opaque}
				s.scratch = memcached.AppendError(s.scratch[:0], &h, status, "Internal error: truncated node reply")
				b = s.scratch
				break
			}
			b = sl.req.RespBuf[:n]
			memcached.SetOpcode(b, sl.op)
			memcached.SetOpaque(b, sl.opaque)
			if status == memcached.StatusSuccess && sl.op.Loud() == memcached.OpDelete {
				// Couchbase answers DELETE with the deletion's CAS;
				// memcached, which our clients expect, with 0.
				memcached.SetCAS(b, 0)
			}
		case outLocal:
			b = sl.local
		default:
			h := memcached.Header{Opcode: sl.op, Opaque: sl.opaque}
			s.scratch = memcached.AppendError(s.scratch[:0], &h, status, sl.msg)
			b = s.scratch
		}
		if _, err := s.writer().Write(b); err != nil {
			s.writeFailed(err)
		}
	}
	s.c.count(sl.op, status, sl.out)
	s.srv.obs.Request(sl.op, status, time.Since(sl.start))
}

// flush writes buffered replies to the client and gives the write buffer
// back to the pool (buffers.go): the writer holds one only between flushes.
func (s *session) flush() {
	if !s.discard && s.w != nil && s.w.Buffered() > 0 {
		if err := s.w.Flush(); err != nil {
			s.writeFailed(err)
		}
	}
	s.releaseWriter()
}

// writeFailed switches the writer to dropping replies and stops the reader:
// the client cannot be written to any more.
func (s *session) writeFailed(err error) {
	if s.discard {
		return
	}
	s.discard = true
	s.log.Debug("client write failed", "err", err)
	close(s.dead)
	s.cc.stop()
}
