package proxy

import (
	"errors"
	"net"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
	"github.com/vbproxy/vbproxy/proxy/upstream"
	"github.com/vbproxy/vbproxy/vbmap"
)

// Resend backoff: when neither the map nor the forward map names another
// owner (NOT_MY_VBUCKET), or the node is not connected yet, wait before
// resending, doubling from minBackoff up to maxBackoff, until the operation
// deadline.
const (
	minBackoff = int64(10 * time.Millisecond)
	maxBackoff = int64(100 * time.Millisecond)
	// downGrace is how many backoff steps a request for a node that is down
	// waits for the map to move its vBucket before it fails (about 30ms):
	// when a node leaves, the new map usually arrives within that time.
	downGrace = 2
)

// Reply texts of the errors the proxy makes for forwarded requests.
const (
	msgNoMap      = "Temporary failure: no vBucket map loaded"
	msgNoOwner    = "Temporary failure: vBucket has no active node"
	msgNoPool     = "Temporary failure: node not connected"
	msgNMVB       = "Temporary failure: vBucket owner not found before the timeout"
	msgTimeout    = "Temporary failure: node timed out"
	msgNodeDown   = "Temporary failure: node down"
	msgQueueFull  = "Temporary failure: node overloaded"
	msgConnClosed = "Temporary failure: node connection closed"
	msgShutdown   = "Temporary failure: proxy shutting down"
	msgUpstream   = "Temporary failure: node error"
	// msgNoCollection: the listener's collection ID was not resolved in time.
	msgNoCollection = "Temporary failure: collection ID not resolved"
	msgKeyTooLong   = "Key too long for a named collection (246 bytes at most)"
)

// upstreamErrorMessage is the ETMPFAIL reply text for an upstream error.
func upstreamErrorMessage(err error) string {
	switch {
	case errors.Is(err, upstream.ErrTimeout):
		return msgTimeout
	case errors.Is(err, upstream.ErrNodeDown), errors.Is(err, upstream.ErrConnecting):
		return msgNodeDown
	case errors.Is(err, upstream.ErrQueueFull):
		return msgQueueFull
	case errors.Is(err, upstream.ErrConnClosed), errors.Is(err, upstream.ErrClosed):
		return msgConnClosed
	}
	return msgUpstream
}

// forward sends a key request to its node: the packet is patched in place
// (the loud twin of a quiet opcode, the vBucket) and sent on the session's
// connection to the owner, unless per-vBucket ordering parks it
// (order.go). The outcome arrives in sl.Complete, or at once when the send
// fails.
func (s *session) forward(sl *slot, replica bool) {
	pkt := sl.pkt.Bytes()
	memcached.SetOpcode(pkt, upstreamOp(sl.op))
	sl.deadline = sl.start + int64(s.srv.o.OperationTimeout)
	sl.replica = replica
	if len(s.mapWait) > 0 {
		s.mapWait = append(s.mapWait, sl) // behind the requests waiting for the first map
		return
	}
	s.route(sl)
}

// route sends a forwarded request on the current map; before the first map
// it waits for one (awaitMap).
func (s *session) route(sl *slot) {
	replica := sl.replica
	m := s.srv.o.Map.Current()
	if m == nil {
		s.awaitMap(sl)
		return
	}
	vb, node := m.Route(sl.pkt.Key)
	if replica {
		node = replicaNode(m, vb)
	}
	sl.vb, sl.ordVB, sl.sentMap = vb, vb, m
	if node < 0 {
		if sl.replicaEligible() && s.admit(sl, "") {
			sl.settleFail(memcached.StatusETMPFAIL, msgNoOwner) // a replica, else the failure
			return
		}
		if !sl.replicaEligible() {
			sl.fail(memcached.StatusETMPFAIL, msgNoOwner)
		}
		return
	}
	if s.admit(sl, m.Nodes()[node].Addr) {
		sl.transmit(m, node)
	}
}

// upstreamOp is the opcode a request is forwarded with: the loud twin of a
// quiet opcode (so every forwarded request gets exactly one reply), and GET
// for GETK and GETKQ (Couchbase's serverless mode refuses them; the proxy
// puts the key back into the reply, getkReply).
func upstreamOp(op memcached.Opcode) memcached.Opcode {
	if op = op.Loud(); op == memcached.OpGetK {
		return memcached.OpGet
	}
	return op
}

// getkReply turns the reply to a GET sent for a GETK into the GETK reply
// memcached would send: the key after the extras of a hit; on a miss the
// key alone (no error text); any other error as it came.
func getkReply(dst []byte, h *memcached.Header, pkt, key []byte) []byte {
	r := *h
	switch h.Status {
	case memcached.StatusSuccess:
		e := memcached.HeaderLen + int(h.ExtrasLen)
		value := pkt[e+int(h.KeyLen) : memcached.HeaderLen+int(h.BodyLen)]
		return memcached.AppendResponse(dst, &r, r.Status, r.CAS, pkt[memcached.HeaderLen:e], key, value)
	case memcached.StatusKeyENOENT:
		return memcached.AppendResponse(dst, &r, r.Status, r.CAS, nil, key, nil)
	}
	return append(dst, pkt...)
}

// replicaNode is the first replica of vb, -1 when it has none.
func replicaNode(m *vbmap.Map, vb uint16) int {
	if r := m.Replicas(vb); len(r) > 0 {
		return r[0]
	}
	return -1
}

// transmit sends the slot's packet to node index node of m; the slot is
// counted in flight for its vBucket. After a successful Send the slot
// belongs to the connection until Complete.
func (sl *slot) transmit(m *vbmap.Map, node int) {
	s := sl.sess
	addr := m.Nodes()[node].Addr
	sl.sentMap, sl.sentAddr = m, addr
	c := s.ls.conn(s.set, m, node)
	if c == nil {
		// The map names a node whose connection this loop has not opened
		// yet (the map change is on its way to the loop): wait for it.
		s.requeue(sl, parkWait)
		return
	}
	if coll := s.lst.coll; coll != nil {
		cid, st := coll.id()
		switch st {
		case collMissing:
			coll.wake() // it may exist again
			sl.settleFail(memcached.StatusUnknownCollection, coll.msg)
			return
		case collUnknown:
			coll.wake()
			s.requeue(sl, parkCollection)
			return
		}
		sl.req.Collection = cid
	}
	pkt := sl.pkt.Bytes()
	memcached.SetVBucket(pkt, sl.vb)
	sl.req.Packet = pkt
	sl.req.Deadline = sl.activeDeadline()
	sl.sentAt = s.ls.lp.Now()
	err := c.Send(&sl.req)
	switch {
	case err == nil:
	case errors.Is(err, upstream.ErrClosed), errors.Is(err, upstream.ErrConnecting):
		// Draining after a map change, or a node that just joined the map
		// and has not finished its first connection: not a failure, route
		// again after a backoff.
		s.requeue(sl, parkWait)
	case errors.Is(err, upstream.ErrNodeDown):
		s.requeue(sl, parkDown)
	case errors.Is(err, upstream.ErrBusy):
		s.requeue(sl, parkBusy) // the node takes large values slower than they come: wait
	default:
		sl.settleFail(memcached.StatusETMPFAIL, upstreamErrorMessage(err))
	}
}

// settleFail settles a forwarded slot and completes it with an error;
// a read that may be served by a replica goes there instead (replica.go).
func (sl *slot) settleFail(status memcached.Status, msg string) {
	if status == memcached.StatusETMPFAIL && sl.replicaEligible() && sl.readReplica() {
		return
	}
	if sl.replicaRead {
		msg = msgNoReplica
	}
	sl.sess.settle(sl)
	sl.fail(status, msg)
}

// resend sends a parked slot, according to why it was parked. The slot is
// reserved in flight for its vBucket.
func (sl *slot) resend() {
	s := sl.sess
	if s.closed || s.srv.closing.Load() {
		sl.settleFail(memcached.StatusETMPFAIL, msgShutdown)
		return
	}
	if s.ls.lp.Now() >= sl.deadline {
		sl.settleFail(memcached.StatusETMPFAIL, parkedMessage(sl.park))
		return
	}
	sl.retries++
	switch sl.park {
	case parkNMVB:
		sl.resendNMVB()
		return
	case parkWait:
		sl.sleep(nextResend, msgNoPool)
		return
	case parkCollection:
		sl.sleep(nextResend, msgNoCollection)
		return
	case parkBusy:
		sl.sleep(nextResend, msgQueueFull)
		return
	case parkDown:
		// Fail fast unless the map moves the vBucket within a short grace.
		if !sl.movedAway() {
			if sl.graceTries >= downGrace {
				sl.settleFail(memcached.StatusETMPFAIL, msgNodeDown)
				return
			}
			sl.graceTries++
			sl.sleep(nextResend, msgNodeDown)
			return
		}
	}
	sl.resendCurrent()
}

// resendCurrent routes the slot on the current map and sends it.
func (sl *slot) resendCurrent() {
	m := sl.sess.srv.o.Map.Current()
	if m == nil {
		sl.settleFail(memcached.StatusETMPFAIL, msgNoMap)
		return
	}
	node := sl.owner(m, sl.routeVB(m))
	if node < 0 {
		sl.settleFail(memcached.StatusETMPFAIL, msgNoOwner)
		return
	}
	sl.sess.retarget(sl, m.Nodes()[node].Addr)
	sl.transmit(m, node)
}

// movedAway reports whether the current map sends the slot to another node
// than the one it last went to.
func (sl *slot) movedAway() bool {
	m := sl.sess.srv.o.Map.Current()
	if m == nil || m == sl.sentMap {
		return false
	}
	node := sl.owner(m, sl.routeVB(m))
	return node >= 0 && m.Nodes()[node].Addr != sl.sentAddr
}

// resendNMVB handles a NOT_MY_VBUCKET reply (whose config Complete already
// offered to the map source): resend at once when the owner changed, else
// try the forward owner, else back off. The client never sees
// NOT_MY_VBUCKET; past the deadline it gets ETMPFAIL.
func (sl *slot) resendNMVB() {
	srv := sl.sess.srv
	refused := sl.refused
	if refused == "" {
		refused = sl.sentAddr
	}
	srv.nmvbRetry()
	m := srv.o.Map.Current()
	if m == nil {
		sl.settleFail(memcached.StatusETMPFAIL, msgNoMap)
		return
	}
	vb := sl.routeVB(m)
	if node := sl.owner(m, vb); node >= 0 && m != sl.sentMap && m.Nodes()[node].Addr != refused {
		sl.sess.retarget(sl, m.Nodes()[node].Addr)
		sl.transmit(m, node) // the map moved the vBucket: at once
		return
	}
	if fwd := m.Forward(vb); !sl.fwdTried && !sl.replica && fwd >= 0 && m.Nodes()[fwd].Addr != refused {
		sl.fwdTried = true
		sl.sess.retarget(sl, m.Nodes()[fwd].Addr)
		sl.transmit(m, fwd)
		return
	}
	sl.sleep(nextNMVB, msgNMVB)
}

// parkedMessage is the reply text for a parked slot past its deadline.
func parkedMessage(why uint8) string {
	switch why {
	case parkNMVB:
		return msgNMVB
	case parkWait:
		return msgNoPool
	case parkDown:
		return msgNodeDown
	case parkCollection:
		return msgNoCollection
	case parkBusy:
		return msgQueueFull
	}
	return msgTimeout
}

// routeVB is the request's vBucket on m: the one already computed, unless m
// has a different number of vBuckets.
func (sl *slot) routeVB(m *vbmap.Map) uint16 {
	if sl.sentMap == nil || m.NumVBuckets() != sl.sentMap.NumVBuckets() {
		sl.vb = m.VBucket(sl.pkt.Key)
	}
	return sl.vb
}

// owner is the node a request for vb goes to on m.
func (sl *slot) owner(m *vbmap.Map, vb uint16) int {
	if sl.replica {
		return replicaNode(m, vb)
	}
	return m.Active(vb)
}

// sleep waits for the next backoff step on the slot's timer, then does
// next. When the step would end past the deadline it fails with msg at
// once.
func (sl *slot) sleep(next uint8, msg string) {
	d := sl.backoff
	if d == 0 {
		d = minBackoff
	}
	sl.backoff = min(2*d, maxBackoff)
	lp := sl.sess.ls.lp
	if sl.deadline-lp.Now() < d {
		sl.settleFail(memcached.StatusETMPFAIL, msg)
		return
	}
	sl.next = next
	lp.After(&sl.timer, time.Duration(d))
}

// wake is the backoff timer's callback.
func (sl *slot) wake() {
	if sl.sess.closed || sl.sess.srv.closing.Load() {
		sl.settleFail(memcached.StatusETMPFAIL, msgShutdown)
		return
	}
	if sl.next == nextNMVB {
		sl.fwdTried = false
	}
	sl.resendCurrent()
}

// nmvbBody returns the value of a NOT_MY_VBUCKET reply (the node's config),
// or nil when the buffer does not hold it.
func nmvbBody(buf []byte, h *memcached.Header) []byte {
	start := memcached.HeaderLen + int(h.ExtrasLen) + int(h.KeyLen)
	end := memcached.HeaderLen + int(h.BodyLen)
	if start > end || end > len(buf) {
		return nil
	}
	return buf[start:end]
}

// hostOf returns the host part of a "host:port" address.
func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// awaitMap holds a request that came before the first map (a proxy just
// started, or whose cluster is not reachable yet): the session's requests
// wait in order, checked every minBackoff, until a map is there or their
// operation timeout passes (then ETMPFAIL "no vBucket map loaded").
func (s *session) awaitMap(sl *slot) {
	s.mapWait = append(s.mapWait, sl)
	if !s.mapTimer.Scheduled() {
		s.ls.lp.After(&s.mapTimer, time.Duration(minBackoff))
	}
}

// mapCheck is the map wait's timer.
func (s *session) mapCheck() {
	if s.closed {
		return
	}
	if s.srv.o.Map.Current() == nil {
		now := s.ls.lp.Now()
		n := 0
		for n < len(s.mapWait) && now >= s.mapWait[n].deadline { // deadlines grow with the order
			s.mapWait[n].fail(memcached.StatusETMPFAIL, msgNoMap)
			n++
		}
		s.mapWait = s.mapWait[:copy(s.mapWait, s.mapWait[n:])]
		if len(s.mapWait) > 0 {
			s.ls.lp.After(&s.mapTimer, time.Duration(minBackoff))
		}
		return
	}
	waiting := s.mapWait
	s.mapWait = nil
	for _, sl := range waiting {
		s.route(sl)
	}
}
