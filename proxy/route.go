package proxy

import (
	"errors"
	"net"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
	"github.com/vbproxy/vbproxy/proxy/upstream"
	"github.com/vbproxy/vbproxy/vbmap"
)

// NOT_MY_VBUCKET backoff: when neither the map nor the forward map names
// another owner, wait before resending, doubling from nmvbMinBackoff up to
// nmvbMaxBackoff, until the operation deadline.
const (
	nmvbMinBackoff = 10 * time.Millisecond
	nmvbMaxBackoff = 100 * time.Millisecond
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
)

// upstreamErrorMessage is the ETMPFAIL reply text for an upstream error.
func upstreamErrorMessage(err error) string {
	switch {
	case errors.Is(err, upstream.ErrTimeout):
		return msgTimeout
	case errors.Is(err, upstream.ErrNodeDown):
		return msgNodeDown
	case errors.Is(err, upstream.ErrQueueFull):
		return msgQueueFull
	case errors.Is(err, upstream.ErrConnClosed), errors.Is(err, upstream.ErrClosed):
		return msgConnClosed
	}
	return msgUpstream
}

// forward sends a key request to its node: the packet is patched in place
// (the loud twin of a quiet opcode, the vBucket) and handed to the node's
// pool. The outcome arrives in sl.Complete, or at once when the send fails.
func (s *session) forward(sl *slot, replica bool) {
	pkt := sl.pkt.Bytes()
	memcached.SetOpcode(pkt, sl.op.Loud())
	sl.deadline = sl.start.Add(s.srv.o.OperationTimeout)
	sl.replica = replica
	m := s.srv.o.Map.Current()
	if m == nil {
		sl.fail(memcached.StatusETMPFAIL, msgNoMap)
		return
	}
	vb, node := m.Route(sl.pkt.Key)
	if replica {
		node = replicaNode(m, vb)
	}
	sl.vb = vb
	sl.send(m, node)
}

// replicaNode is the first replica of vb, -1 when it has none.
func replicaNode(m *vbmap.Map, vb uint16) int {
	if r := m.Replicas(vb); len(r) > 0 {
		return r[0]
	}
	return -1
}

// send forwards the slot's packet to node index node of m. After a
// successful Send the slot belongs to the pool until Complete.
func (sl *slot) send(m *vbmap.Map, node int) {
	if node < 0 {
		sl.fail(memcached.StatusETMPFAIL, msgNoOwner)
		return
	}
	addr := m.Nodes()[node].Addr
	p := sl.sess.pools.Get(addr)
	if p == nil {
		// The map names a node whose pool the map subscriber has not opened
		// yet (or just closed): wait for it within the deadline.
		sl.sentMap, sl.sentAddr = m, ""
		sl.sess.retries.Add(1)
		go sl.retryLater(msgNoPool)
		return
	}
	pkt := sl.pkt.Bytes()
	memcached.SetVBucket(pkt, sl.vb)
	memcached.SetOpaque(pkt, sl.opaque)
	sl.req.Packet = pkt
	sl.req.Deadline = sl.deadline
	sl.sentMap, sl.sentAddr = m, addr
	if err := p.Send(&sl.req); err != nil {
		if errors.Is(err, upstream.ErrClosed) {
			// The pool was closed by a map change after Get: the request was
			// not sent; route it again on the new map.
			sl.sess.retries.Add(1)
			go sl.retryLater(msgConnClosed)
			return
		}
		if errors.Is(err, upstream.ErrNodeDown) && p.State() == upstream.StateConnecting {
			// A node that just joined the map: its pool has not finished
			// its first connection yet. That is not a failure; wait for it.
			sl.sess.retries.Add(1)
			go sl.retryLater(msgNodeDown)
			return
		}
		sl.fail(memcached.StatusETMPFAIL, upstreamErrorMessage(err))
	}
}

// retryNMVB handles a NOT_MY_VBUCKET reply on its own goroutine: offer the
// reply's config to the map source, then resend at once when the owner
// changed, else try the forward owner, else back off. The client never sees
// NOT_MY_VBUCKET; past the deadline it gets ETMPFAIL.
func (sl *slot) retryNMVB() {
	defer sl.sess.retries.Done()
	srv := sl.sess.srv
	refused := sl.req.Node
	if refused == "" {
		refused = sl.sentAddr
	}
	if body := nmvbBody(sl.req.RespBuf, &sl.req.Resp); len(body) > 0 {
		srv.offer(body, refused)
	}
	srv.nmvbRetry()
	if srv.closing.Load() {
		sl.fail(memcached.StatusETMPFAIL, msgShutdown)
		return
	}
	if !time.Now().Before(sl.deadline) {
		sl.fail(memcached.StatusETMPFAIL, msgNMVB)
		return
	}
	m := srv.o.Map.Current()
	if m == nil {
		sl.fail(memcached.StatusETMPFAIL, msgNoMap)
		return
	}
	vb := sl.routeVB(m)
	if node := sl.owner(m, vb); node >= 0 && m != sl.sentMap && m.Nodes()[node].Addr != refused {
		sl.send(m, node) // the map moved the vBucket: at once
		return
	}
	if fwd := m.Forward(vb); !sl.fwdTried && !sl.replica && fwd >= 0 && m.Nodes()[fwd].Addr != refused {
		sl.fwdTried = true
		sl.send(m, fwd)
		return
	}
	if !sl.sleep() {
		sl.fail(memcached.StatusETMPFAIL, msgNMVB)
		return
	}
	sl.fwdTried = false
	if m = srv.o.Map.Current(); m == nil {
		sl.fail(memcached.StatusETMPFAIL, msgNoMap)
		return
	}
	sl.send(m, sl.owner(m, sl.routeVB(m)))
}

// retryLater routes the request again after a backoff, for a send that did
// not reach any node (no pool for the address yet, or its pool closed).
func (sl *slot) retryLater(msg string) {
	defer sl.sess.retries.Done()
	srv := sl.sess.srv
	if srv.closing.Load() {
		sl.fail(memcached.StatusETMPFAIL, msgShutdown)
		return
	}
	if !sl.sleep() {
		sl.fail(memcached.StatusETMPFAIL, msg)
		return
	}
	m := srv.o.Map.Current()
	if m == nil {
		sl.fail(memcached.StatusETMPFAIL, msgNoMap)
		return
	}
	vb := sl.routeVB(m)
	sl.send(m, sl.owner(m, vb))
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

// sleep waits for the next backoff step. It returns false, without waiting,
// when the step would end past the deadline or the server is closing.
func (sl *slot) sleep() bool {
	d := sl.backoff
	if d == 0 {
		d = nmvbMinBackoff
	}
	sl.backoff = min(2*d, nmvbMaxBackoff)
	if time.Until(sl.deadline) < d {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return !sl.sess.srv.closing.Load()
	case <-sl.sess.srv.closed:
		return false
	}
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
