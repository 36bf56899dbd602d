package proxy

import (
	"errors"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
	"github.com/vbproxy/vbproxy/proxy/eventloop"
	"github.com/vbproxy/vbproxy/proxy/upstream"
	"github.com/vbproxy/vbproxy/vbmap"
)

// Slot states. A slot is free, then pending (filled, waiting for its
// outcome), then done (its reply is ready to write), then free.
const (
	slotFree uint8 = iota
	slotPending
	slotDone
)

// How the writer turns a done slot into reply bytes.
const (
	outLocal    uint8 = iota // reply bytes in local (made by the proxy, or a copied node reply)
	outError                 // an error reply built from status and msg
	outTextResp              // a node's binary reply in local, written as text (text.go)
)

// What a parked slot does when its backoff timer fires.
const (
	nextResend uint8 = iota // route on the current map and send
	nextNMVB                // after a NOT_MY_VBUCKET backoff: forget the forward owner, resend
)

// slot is one request of a session, from the moment it is parsed until its
// reply is written. Slots belong to their session (and so to its loop);
// they are allocated the first time the ring needs them and reused: each
// holds the client's packet, the forwarded request and room for a reply,
// so steady state allocates nothing.
type slot struct {
	sess  *session
	pkt   memcached.Packet // the client's request (patched in place before forwarding)
	req   upstream.Request // the forwarded request; req.Done is the slot
	state uint8

	op     memcached.Opcode // the client's opcode (the quiet one if it sent one)
	opaque uint32           // the client's opaque
	start  int64            // loop time the request was parsed
	batch  uint64           // the client read it came in (session.batch)
	seq    uint64           // position in the session's request order
	size   int              // request bytes counted in session.inflight

	// Routing and retry state.
	deadline    int64
	vb          uint16
	ordVB       uint16 // vBucket for per-session ordering (the first routing's)
	park        uint8  // why the slot is parked (order.go)
	next        uint8  // what the backoff timer does
	graceTries  int
	retries     int
	replica     bool // a client's GET_REPLICA: routed to the first replica
	replicaRead bool // a read sent to a replica after its active failed (replica.go)
	replicaIdx  int  // the next replica of the vBucket to try
	sentMap     *vbmap.Map
	sentAddr    string
	sentAt      int64  // loop time of the last send (UpstreamObserver)
	refused     string // the node that answered NOT_MY_VBUCKET
	fwdTried    bool
	backoff     int64
	timer       eventloop.Timer

	// tr is a text command's reply context (text sessions only).
	tr memcached.TextReply

	// Outcome.
	byNode    bool // the reply came from a node
	synthetic bool // not a client request (a multi-get's END): not counted
	out       uint8
	status    memcached.Status
	msg       string
	local     []byte

	bc *broadcast
}

// Complete implements upstream.Completer; it runs on the loop.
// NOT_MY_VBUCKET replies (and idempotent requests whose connection was lost)
// are parked to be sent again; everything else completes the slot. A reply
// for the slot next in line is written straight from the connection's read
// buffer; any other is copied into the slot.
func (sl *slot) Complete(r *upstream.Request) {
	s := sl.sess
	if uo := s.srv.upObs; uo != nil && r.Err == nil {
		uo.UpstreamRequest(r.Node, r.Resp.Status, time.Duration(s.ls.lp.Now()-sl.sentAt))
	}
	if sl.replicaRead {
		st := memcached.StatusETMPFAIL
		if r.Err == nil {
			st = r.Resp.Status
		}
		if !sl.replicaReply(st, r.Node) {
			return
		}
		memcached.SetOpcode(r.RespBuf, sl.op.Loud()) // GET_REPLICA's reply reads as the GET's
		r.Resp.Opcode = sl.op.Loud()
	} else if r.Err != nil {
		if errors.Is(r.Err, upstream.ErrConnClosed) && sl.idempotent() {
			s.requeue(sl, parkDown)
			return
		}
		sl.settleFail(memcached.StatusETMPFAIL, upstreamErrorMessage(r.Err))
		return
	}
	if r.Resp.Status == memcached.StatusUnknownCollection && s.lst.coll != nil {
		// Dropped (and perhaps created again with a new ID): resolve again,
		// then resend or fail with the clear error.
		s.lst.coll.invalidate(sl.req.Collection)
		s.requeue(sl, parkCollection)
		return
	}
	if r.Resp.Status == memcached.StatusNotMyVBucket {
		sl.refused = r.Node
		if body := nmvbBody(r.RespBuf, &r.Resp); len(body) > 0 {
			s.srv.offer(body, r.Node)
		}
		s.requeue(sl, parkNMVB)
		return
	}
	s.settle(sl)
	sl.status = r.Resp.Status
	sl.out = outLocal
	pkt := r.RespBuf
	if n := memcached.HeaderLen + int(r.Resp.BodyLen); n > len(pkt) {
		sl.fail(memcached.StatusEINTERNAL, "Internal error: truncated node reply")
		return
	}
	sl.byNode = true
	if s.proto == protoText {
		if sl.seq == s.tail && !s.closed {
			sl.state = slotDone
			s.emitTextResp(sl, &r.Resp, pkt)
			s.advance()
			return
		}
		sl.local = append(sl.local[:0], pkt...)
		sl.out = outTextResp
		sl.finish()
		return
	}
	if sl.op.Loud() == memcached.OpGetK {
		sl.local = getkReply(sl.local[:0], &r.Resp, pkt, sl.pkt.Key)
		memcached.SetOpcode(sl.local, sl.op)
		memcached.SetOpaque(sl.local, sl.opaque)
		sl.finish()
		return
	}
	memcached.SetOpcode(pkt, sl.op)
	memcached.SetOpaque(pkt, sl.opaque)
	if sl.status == memcached.StatusSuccess && sl.op.Loud() == memcached.OpDelete {
		// Couchbase answers DELETE with the deletion's CAS; memcached,
		// which our clients expect, with 0.
		memcached.SetCAS(pkt, 0)
	}
	if sl.seq == s.tail && !s.closed {
		sl.state = slotDone
		s.emit(sl, pkt)
		s.advance()
		return
	}
	sl.local = append(sl.local[:0], pkt...)
	sl.finish()
}

// idempotent reports whether sending the request twice has the effect of
// sending it once, so that it may be resent after its connection was lost
// with the request possibly executed: reads, TOUCH and GAT, and SET without
// CAS.
func (sl *slot) idempotent() bool {
	switch sl.op.Loud() {
	case memcached.OpGet, memcached.OpGetK, memcached.OpGAT, memcached.OpTouch, memcached.OpGetReplica:
		return true
	case memcached.OpSet:
		return sl.pkt.CAS == 0
	}
	return false
}

// finish marks the slot done and writes every done slot from the head of
// the ring.
func (sl *slot) finish() {
	sl.state = slotDone
	if sl.seq == sl.sess.tail {
		sl.sess.drain()
	}
}

// fail completes the slot with an error reply made by the proxy.
func (sl *slot) fail(status memcached.Status, msg string) {
	sl.out = outError
	sl.status = status
	sl.msg = msg
	sl.finish()
}

// answer completes the slot with a local reply already in sl.local.
func (sl *slot) answer(status memcached.Status) {
	sl.out = outLocal
	sl.status = status
	sl.finish()
}

// reset prepares a written slot for reuse, keeping its buffers.
func (sl *slot) reset() {
	s := sl.sess
	s.inflight -= sl.size
	if sl.size > 0 {
		s.ls.inflight -= sl.size
		if s.ls.inflight <= loopInflightBytes && len(s.ls.starved) > 0 {
			s.ls.wakeStarved()
		}
	}
	sl.size = 0
	sl.state = slotFree
	sl.byNode = false
	sl.synthetic = false
	sl.replicaRead = false
	sl.replicaIdx = 0
	sl.sentMap = nil
	sl.sentAddr = ""
	sl.refused = ""
	sl.fwdTried = false
	sl.backoff = 0
	sl.graceTries = 0
	sl.retries = 0
	sl.msg = ""
	sl.local = sl.local[:0]
	sl.req.Err = nil
	sl.req.Packet = nil
	if cap(sl.local) > retainLocal {
		sl.local = nil
	}
	if sl.pkt.Cap() > retainPacket {
		sl.pkt.Release()
	}
}

// retainLocal and retainPacket are the largest reply and request buffers a
// slot keeps between requests, so that one large value does not pin memory
// on an idle connection.
const (
	retainLocal  = 4 << 10
	retainPacket = 4 << 10
)

// acquire returns the next free slot of the ring, growing the ring up to
// the pipeline depth; nil when the session has depth requests issued.
func (s *session) acquire() *slot {
	if s.head-s.tail == uint64(len(s.slots)) {
		if len(s.slots) >= s.depth {
			return nil
		}
		s.growRing()
	}
	i := s.head & s.mask
	sl := s.slots[i]
	if sl == nil {
		sl = &slot{sess: s}
		sl.req.Done = sl
		sl.timer.Init(sl.wake)
		s.slots[i] = sl
	}
	return sl
}

// growRing doubles the full ring (it starts small: most clients have one
// request in flight), keeping the issued slots at their sequence positions.
func (s *session) growRing() {
	n := max(2*len(s.slots), 4)
	grown := make([]*slot, n)
	mask := uint64(n - 1)
	for seq := s.tail; seq != s.head; seq++ {
		grown[seq&mask] = s.slots[seq&s.mask]
	}
	s.slots, s.mask = grown, mask
}

// begin records the request's identity in the slot: from here on the slot
// must be completed exactly once.
func (s *session) begin(sl *slot, h *memcached.Header) {
	sl.op = h.Opcode
	sl.opaque = h.Opaque
	sl.seq = s.head
	sl.start = s.ls.lp.Now()
	s.lastActive = sl.start // a whole request: the client is not idle
	sl.batch = s.batch
	sl.state = slotPending
	s.head++
}
