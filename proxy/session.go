package proxy

import (
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
	"github.com/vbproxy/vbproxy/proxy/eventloop"
)

// session serves one client connection. It belongs to one event loop for
// its whole life, and only that loop's thread touches it (authedNow is the
// one field other goroutines read): requests are parsed from the bytes of
// each read into a bounded ring of slots, routed and sent on the loop's
// upstream connections, and their replies written in ring order. See
// doc.go for the model.
type session struct {
	ls     *loopState
	lst    *listener // what the client's listener serves
	srv    *Server
	log    *slog.Logger
	fd     int
	set    int // the loop's connection set this session sends through
	remote string
	local  string
	since  time.Time

	// proto is the client's protocol, decided by its first byte.
	proto uint8
	// Text protocol state (text.go).
	treq     memcached.TextRequest // the command being parsed (reused)
	getPos   int                   // a get line cut short by a full ring resumes at this key offset
	textWant int                   // bytes the pending text command needs in all (line and data)

	// Input (input.go): bytes read and not yet parsed; nil while there are
	// none (the loop's shared buffer is read into first).
	in      []byte
	skip    int64  // bytes of a refused request still to discard
	batch   uint64 // the client read whose requests are being parsed
	blocked bool   // parsing stopped: the ring is full or output is backed up

	// The ring (slot.go): slots [tail, head) are issued and not yet written.
	slots []*slot
	mask  uint64
	depth int // the most slots (Options.PipelineDepth)
	head  uint64
	tail  uint64
	// inflight is the request bytes held by issued slots.
	inflight int

	// Per-vBucket ordering (order.go).
	ord     vbTable
	parked  []*slot
	pumpQ   []uint16
	pumping bool

	// Output (output.go): reply bytes not yet written; nil while there are
	// none.
	out       []byte
	outOff    int
	outBlock  bool // a write returned EAGAIN: wait for Out
	dirty     bool // marked for this round's flush
	lastRead  uint64
	holding   bool
	holdSince int64
	scratch   []byte

	hold       eventloop.Timer
	more       eventloop.Timer // reads the rest that maxReadPerRound left for the next round
	mapTimer   eventloop.Timer // checks for the first map (route.go awaitMap)
	mapWait    []*slot         // requests waiting for the first map, in order
	starved    bool            // in ls.starved: waiting for the loop's in-flight budget
	idle       eventloop.Timer
	lastActive int64
	stall      eventloop.Timer
	lastWrite  int64

	readDone  bool // no more requests: EOF, QUIT, a fatal protocol error, idle timeout or Shutdown
	closed    bool // the descriptor is closed; outcomes still arriving are dropped
	authed    bool
	quitting  bool
	authedNow atomic.Bool
}

func newSession(ls *loopState, lst *listener, fd int, remote, local string) *session {
	srv := ls.srv
	s := &session{
		ls:     ls,
		lst:    lst,
		srv:    srv,
		log:    srv.log.With("client", remote),
		fd:     fd,
		set:    ls.nextSet,
		remote: remote,
		local:  local,
		since:  time.Now(),
		depth:  srv.o.PipelineDepth,
		authed: len(lst.users()) == 0,
	}
	ls.nextSet = (ls.nextSet + 1) % len(ls.sets)
	s.authedNow.Store(s.authed)
	s.hold.Init(s.holdExpired)
	s.idle.Init(s.idleCheck)
	s.stall.Init(s.stallCheck)
	s.more.Init(func() { s.readable(true) })
	s.mapTimer.Init(s.mapCheck)
	return s
}

// start registers the session with its loop and feeds it the bytes already
// read before it joined (after a PROXY header).
func (s *session) start(pre []byte) {
	now := s.ls.lp.Now()
	s.lastActive, s.lastWrite = now, now
	if err := s.ls.lp.Add(s.fd, s); err != nil {
		s.log.Warn("client connection not registered", "err", err)
		s.readDone = true
		s.close()
		return
	}
	if d := s.srv.lv.idleTimeout.Load(); d > 0 {
		s.ls.lp.After(&s.idle, time.Duration(d))
	}
	s.log.Debug("client connected")
	if len(pre) > 0 {
		s.batch++
		s.received(pre)
	}
}

// Event handles the client socket's readiness. Implements
// eventloop.Handler.
func (s *session) Event(ev uint32) {
	if s.closed {
		return
	}
	if ev&eventloop.Out != 0 && s.outBlock {
		s.outBlock = false
		s.Flush()
		if s.closed {
			return
		}
	}
	if ev&(eventloop.In|eventloop.Hup|eventloop.Err) != 0 {
		s.readable(ev&(eventloop.Hup|eventloop.Err) != 0)
	}
}

// stop ends reading (Shutdown): the requests already read are answered,
// then the session closes.
func (s *session) stop() {
	if s.closed {
		return
	}
	s.readDone = true
	s.maybeClose()
}

// maybeClose closes the session once it reads no more and every issued
// request's reply is written.
func (s *session) maybeClose() {
	if s.readDone && !s.closed && s.tail == s.head && s.pendingOut() == 0 {
		s.close()
	}
}

// close closes the client connection at once. Requests still in flight
// upstream complete later into the closed session and are dropped; parked
// ones are failed now.
func (s *session) close() {
	if s.closed {
		return
	}
	s.closed = true
	s.readDone = true
	lp := s.ls.lp
	lp.Cancel(&s.hold)
	lp.Cancel(&s.idle)
	lp.Cancel(&s.stall)
	lp.Cancel(&s.more)
	lp.Cancel(&s.mapTimer)
	for _, sl := range s.mapWait {
		sl.state = slotDone
	}
	s.mapWait = nil
	_ = lp.Close(s.fd)
	s.dropParked()
	s.releaseIn()
	s.releaseOut()
	switch s.proto {
	case protoBinary:
		s.ls.c.connsBinary.Add(-1)
	case protoText:
		s.ls.c.connsText.Add(-1)
	}
	delete(s.ls.sessions, s)
	s.log.Debug("client disconnected")
	s.srv.sessionDone(s)
}

// idleCheck closes a client that sent nothing for IdleTimeout (after its
// outstanding replies).
func (s *session) idleCheck() {
	d := s.srv.lv.idleTimeout.Load()
	if d <= 0 {
		return // turned off by Reconfigure
	}
	now := s.ls.lp.Now()
	if since := now - s.lastActive; since < d {
		s.ls.lp.Schedule(&s.idle, s.lastActive+d)
		return
	}
	if !s.readDone {
		s.log.Debug("closing idle client connection", "idle_timeout", time.Duration(d))
		s.readDone = true
		s.maybeClose()
	}
}

// stallCheck closes a client that has not taken any of its replies for
// WriteTimeout.
func (s *session) stallCheck() {
	if !s.outBlock || s.closed {
		return
	}
	d := int64(s.srv.o.WriteTimeout)
	now := s.ls.lp.Now()
	if now-s.lastWrite < d {
		s.ls.lp.Schedule(&s.stall, s.lastWrite+d)
		return
	}
	s.log.Debug("closing client connection: it does not read its replies", "write_timeout", s.srv.o.WriteTimeout)
	s.close()
}
