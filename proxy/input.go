package proxy

import (
	"errors"

	"golang.org/x/sys/unix"

	"github.com/vbproxy/vbproxy/memcached"
)

// Reading and parsing client requests.
//
// The session reads until EAGAIN (the socket is edge-triggered). While it
// has no partial request pending, it reads into its loop's shared buffer
// and keeps only what is left unparsed (a partial request, or requests it
// had no free slot for) in a buffer of its own: so an idle session holds no
// read buffer. A request is copied into its slot when parsed, so nothing
// refers to the read buffers afterwards.
//
// When the ring is full or too much output waits to be written, parsing
// stops (blocked) and the socket is no longer read: backpressure, not
// failure. The session resumes when a flush frees room (resume).

// bulkRead is the read size that counts as activity for the idle timeout
// on its own: a request trickling in a few bytes at a time (slowloris) does
// not keep a connection open, a large value arriving does.
const bulkRead = 16 << 10

// readable reads and parses until EAGAIN, end of stream, or backpressure.
// hup says the peer's end of stream may be pending (the event reported
// it, or nobody knows): then a short read is no proof the socket is
// drained, and reading goes on until EAGAIN or EOF.
func (s *session) readable(hup bool) {
	s.batch++
	read := 0
	for !s.readDone && !s.blocked && !s.closed {
		if read >= maxReadPerRound {
			// The rest in the next round (a timer due at once: no
			// allocation), after every other client of this one.
			s.ls.lp.Schedule(&s.more, s.ls.lp.Now())
			return
		}
		var buf []byte
		if len(s.in) > 0 {
			s.growIn()
			buf = s.in[len(s.in):cap(s.in)]
		} else {
			buf = s.ls.readBuf
		}
		n, err := unix.Read(s.fd, buf)
		if n > 0 {
			read += n
			if n >= bulkRead {
				s.lastActive = s.ls.lp.Now() // a large value on its way
			}
			s.ls.c.bytesIn.Add(uint64(n))
			s.srv.obs.Bytes(n, 0)
			if len(s.in) > 0 {
				s.in = s.in[:len(s.in)+n]
				s.parseIn()
			} else {
				s.received(buf[:n])
			}
			if n < len(buf) && !hup {
				// A short read drained the socket: bytes that arrive later
				// raise a new edge, so the read that would say EAGAIN is
				// saved.
				return
			}
			continue
		}
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return
		case err != nil && !errors.Is(err, unix.ECONNRESET):
			s.log.Debug("client read failed", "err", err)
		}
		// End of stream: answer what was read, then close.
		s.readDone = true
		s.releaseIn()
		s.maybeClose()
		return
	}
}

// received parses bytes read into a buffer that is not the session's own,
// keeping what it could not parse.
func (s *session) received(b []byte) {
	n := s.parse(b)
	if n < len(b) && !s.readDone {
		s.in = append(s.in[:0], b[n:]...)
	}
}

// parseIn parses the session's own pending bytes.
func (s *session) parseIn() {
	n := s.parse(s.in)
	rest := copy(s.in, s.in[n:])
	s.in = s.in[:rest]
	if rest == 0 {
		s.releaseIn()
	}
}

// growIn makes room in s.in for the rest of the partial request at its
// start (or for one more read when it is whole).
func (s *session) growIn() {
	want := clientOutBuf
	switch s.proto {
	case protoBinary:
		if _, _, w, err := memcached.Frame(s.in, memcached.MagicRequest, memcached.MaxKeyLen, s.srv.maxRequestSize()); err == nil {
			want = max(want, w)
		}
	case protoText:
		want = max(want, s.textWant)
	}
	if cap(s.in)-len(s.in) < 4<<10 || cap(s.in) < want {
		grown := make([]byte, len(s.in), max(want, 2*cap(s.in)))
		copy(grown, s.in)
		s.in = grown
	}
}

// releaseIn drops the session's pending-bytes buffer.
func (s *session) releaseIn() {
	if s.in != nil && len(s.in) == 0 {
		s.in = nil
	}
	if s.readDone {
		s.in = nil
	}
}

// parse issues a slot for each whole request at the start of b and returns
// how many bytes it consumed. The first byte a client sends decides its
// protocol: 0x80 is binary, anything else text (text.go).
func (s *session) parse(b []byte) int {
	if s.proto == protoUnknown && len(b) > 0 {
		if !s.detect(b[0]) {
			return len(b)
		}
	}
	off := 0
	for off < len(b) && !s.readDone {
		if s.skip > 0 {
			d := int(min(s.skip, int64(len(b)-off)))
			off += d
			s.skip -= int64(d)
			continue
		}
		if s.overBudget() {
			s.blocked = true
			return off
		}
		var n int
		var ok bool
		if s.proto == protoText {
			n, ok = s.textCommand(b[off:])
		} else {
			n, ok = s.binaryRequest(b[off:])
		}
		if !ok {
			return off
		}
		off += n
	}
	return off
}

// binaryRequest handles the binary request at the start of buf. It returns
// the bytes it consumed, or ok false when it needs more bytes or a free
// slot (then it consumed nothing).
func (s *session) binaryRequest(buf []byte) (n int, ok bool) {
	h, n, want, err := memcached.Frame(buf, memcached.MagicRequest, memcached.MaxKeyLen, s.srv.maxRequestSize())
	if err != nil {
		var pe *memcached.ProtocolError
		if !errors.As(err, &pe) || !pe.Recoverable {
			s.log.Warn("closing client connection: protocol error", "err", err)
			s.readDone = true
			s.maybeClose()
			return len(buf), true
		}
		sl := s.acquire()
		if sl == nil {
			s.blocked = true
			return 0, false
		}
		s.begin(sl, &pe.Header)
		s.log.Debug("client request refused", "err", err)
		s.skip = int64(want)
		sl.fail(pe.Status, refusedMessage(pe))
		return 0, true
	}
	if n == 0 {
		return 0, false // a partial request
	}
	sl := s.acquire()
	if sl == nil {
		s.blocked = true
		return 0, false
	}
	sl.pkt.Load(buf[:n])
	sl.size = n
	s.inflight += n
	s.ls.inflight += n
	s.begin(sl, &h)
	s.dispatch(sl)
	if s.quitting {
		s.readDone = true
		s.markDirty() // close once the earlier replies are written
	}
	return n, true
}

// resume parses what is pending and reads again after backpressure ended.
func (s *session) resume() {
	if !s.blocked || s.closed || s.head-s.tail >= uint64(s.depth) || s.overBudget() {
		return
	}
	s.blocked = false
	s.batch++
	if len(s.in) > 0 {
		s.parseIn()
	}
	if !s.blocked {
		s.readable(true)
	}
}

// overBudget reports whether the session holds too many bytes to take
// another request: requests in flight (their copies in the slots) or
// replies not yet written. A session with nothing in flight always may
// (one request is never larger than MaxRequestSize).
func (s *session) overBudget() bool {
	if s.pendingOut() > maxPendingOut {
		return true
	}
	if s.head == s.tail {
		return false // nothing in flight: one request may always go
	}
	if s.inflight > maxInflightBytes {
		return true
	}
	if s.ls.inflight > loopInflightBytes {
		if !s.starved {
			s.starved = true
			s.ls.starved = append(s.ls.starved, s)
		}
		return true
	}
	return false
}

// refusedMessage is the reply text for a request the reader refused.
func refusedMessage(pe *memcached.ProtocolError) string {
	switch pe.Status {
	case memcached.StatusE2BIG:
		return "Too large"
	case memcached.StatusEINVAL:
		return "Invalid arguments"
	}
	return "Invalid request"
}
