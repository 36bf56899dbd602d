package proxy

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
	"github.com/vbproxy/vbproxy/proxy/upstream"
)

// session serves one client connection with two goroutines: the reader
// parses, classifies and routes each request into the next slot of a bounded
// ring, and the writer writes the slots' outcomes strictly in ring order. See
// doc.go for the model.
type session struct {
	srv    *Server
	pools  *upstream.Pools // this session's connection set (one connection per node)
	cc     *clientConn
	log    *slog.Logger
	remote string // guarded by srv.mu (set once by sessionStarted)
	local  string // guarded by srv.mu
	since  time.Time

	r       *memcached.Reader // reader only: nil while idle (buffers.go)
	ir      idleReader        // reader only: what r reads
	idleBuf [idleBufSize]byte // reader only: the read that ends an idle wait
	w       *bufio.Writer     // writer only: nil while idle (buffers.go)
	slots   []*slot           // ring; an entry is allocated the first time it is used
	mask    uint64

	head       atomic.Uint64 // slots issued by the reader (published after the slot is filled)
	batchRead  atomic.Uint64 // the client read whose requests the reader is still issuing; 0 between reads
	readDone   atomic.Bool   // the reader issues no more slots
	tail       uint64        // slots written (writer only)
	free       chan struct{} // one token per free slot: the reader waits here when the ring is full
	wake       chan struct{} // capacity 1: a slot became done, or the reader ended
	dead       chan struct{} // closed by the writer when the client cannot be written to
	writerDone chan struct{}
	retries    sync.WaitGroup // pump goroutines (resending parked requests)

	ordMu  sync.Mutex // guards ord and parked (order.go)
	ord    vbTable    // vBuckets with requests in flight or parked
	parked []*slot    // requests waiting to be sent, in request order

	authed    bool        // reader only: SASL succeeded (or is not required)
	quitting  bool        // reader only: QUIT read, read no more
	authedNow atomic.Bool // authed, for Clients
	discard   bool        // writer only: the client is gone, drop replies
	lastRead  uint64      // writer only: the read of the last slot written
	holding   bool        // writer only: replies held for the rest of their read's requests
	holdSince time.Time   // writer only: when holding began
	holdTimer *time.Timer // writer only: wakes the writer when a hold must end
	scratch   []byte      // writer only: error replies

	c counters
}

func newSession(srv *Server, c net.Conn) *session {
	depth := srv.o.PipelineDepth
	cc := &clientConn{Conn: c, idle: srv.o.IdleTimeout, write: srv.o.WriteTimeout, obs: srv.obs}
	if cc.write < 0 {
		cc.write = 0
	}
	s := &session{
		srv:        srv,
		cc:         cc,
		since:      time.Now(),
		slots:      make([]*slot, depth),
		mask:       uint64(depth - 1),
		free:       make(chan struct{}, depth),
		wake:       make(chan struct{}, 1),
		dead:       make(chan struct{}),
		writerDone: make(chan struct{}),
		authed:     len(srv.o.Users) == 0,
	}
	s.authedNow.Store(s.authed)
	for range depth {
		s.free <- struct{}{}
	}
	return s
}

// run serves the connection until the client leaves, QUIT, a fatal protocol
// error or Shutdown, then waits for every outstanding request and closes.
func (s *session) run() {
	defer s.srv.sessionDone(s)
	if s.srv.o.ProxyProtocol {
		if err := s.readProxyHeader(); err != nil {
			s.srv.log.Warn("client PROXY header refused", "remote", s.cc.Conn.RemoteAddr().String(), "err", err)
			_ = s.cc.Close()
			return
		}
	}
	remote := s.cc.RemoteAddr().String()
	s.srv.sessionStarted(s, remote, s.cc.LocalAddr().String())
	s.log = s.srv.log.With("client", remote)
	s.log.Debug("client connected")

	go s.writeLoop()
	s.readLoop()
	<-s.writerDone
	s.retries.Wait()
	_ = s.cc.Close()
	s.log.Debug("client disconnected", "requests", s.c.requests.Load())
}

// readProxyHeader makes the PROXY-protocol connection parse its header now
// (a zero-length read), so that RemoteAddr is the real client and a bad
// header is reported here rather than logged by the library. A client that
// sends nothing within ProxyHeaderTimeout is served with its socket address.
func (s *session) readProxyHeader() error {
	_, err := s.cc.Conn.Read(nil)
	var ne net.Error
	if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
		return err
	}
	return nil
}

// readLoop reads and dispatches requests until the stream ends.
func (s *session) readLoop() {
	defer func() {
		s.releaseReader(true)
		s.readDone.Store(true)
		s.wakeWriter()
	}()
	for {
		s.releaseReader(false)
		sl := s.acquire()
		if sl == nil {
			return
		}
		if s.r == nil {
			if err := s.awaitRequest(); err != nil {
				s.free <- struct{}{} // the slot was not used
				s.readError(err)
				return
			}
		}
		err := s.r.ReadRequest(&sl.pkt)
		if err != nil {
			var pe *memcached.ProtocolError
			if errors.As(err, &pe) && pe.Recoverable {
				s.begin(sl, &pe.Header)
				s.log.Debug("client request refused", "err", err)
				s.localError(sl, pe.Status, refusedMessage(pe))
				s.markBatch()
				continue
			}
			s.free <- struct{}{} // the slot was not used
			s.readError(err)
			return
		}
		s.begin(sl, &sl.pkt.Header)
		s.dispatch(sl)
		if s.quitting {
			return
		}
		s.markBatch()
	}
}

// readError logs why the reader stopped, unless it is an ordinary end.
func (s *session) readError(err error) {
	var pe *memcached.ProtocolError
	switch {
	case errors.As(err, &pe):
		s.log.Warn("closing client connection: protocol error", "err", err)
	case errors.Is(err, io.EOF), errors.Is(err, errStopped), errors.Is(err, net.ErrClosed):
	case isTimeout(err):
		s.log.Debug("closing idle client connection", "idle_timeout", s.srv.o.IdleTimeout)
	default:
		s.log.Debug("client read failed", "err", err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// acquire waits for a free slot (backpressure when the client has
// PipelineDepth requests in flight). It returns nil when the writer has
// given up on the client.
func (s *session) acquire() *slot {
	select {
	case <-s.free: // the common case: a free slot, without a two-way select
	default:
		select {
		case <-s.free:
		case <-s.dead:
			return nil
		}
	}
	i := s.head.Load() & s.mask
	sl := s.slots[i]
	if sl == nil {
		sl = &slot{sess: s}
		sl.req.Done = sl
		s.slots[i] = sl
	}
	return sl
}

// begin records the request's identity in the slot and publishes it to the
// writer: from here on the slot must be completed exactly once.
func (s *session) begin(sl *slot, h *memcached.Header) {
	sl.op = h.Opcode
	sl.opaque = h.Opaque
	sl.seq = s.head.Load()
	sl.start = s.srv.now()
	sl.read = s.cc.reads
	sl.state.Store(slotPending)
	s.head.Add(1)
}

// markBatch tells the writer, after each request, whether more requests of
// the same client read are waiting to be parsed: then the writer, caught up
// with the reader, holds its buffered replies for them (writer.go) instead
// of flushing a pipelined batch's replies in pieces. When the read's
// requests are all issued, it wakes the writer to flush.
func (s *session) markBatch() {
	if s.r != nil && (s.r.Buffered() > 0 || len(s.ir.pre) > 0 || s.cc.continues) {
		if s.batchRead.Load() != s.cc.reads {
			s.batchRead.Store(s.cc.reads)
		}
		return
	}
	if s.batchRead.Load() != 0 {
		s.batchRead.Store(0)
		s.wakeWriter()
	}
}

// wakeWriter tells the writer that a slot may be ready.
func (s *session) wakeWriter() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
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
