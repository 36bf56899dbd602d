package proxy

import (
	"fmt"
	"sync/atomic"

	"github.com/vbproxy/vbproxy/memcached"
	"github.com/vbproxy/vbproxy/proxy/upstream"
)

// broadcast is the fan-out of one FLUSH to every node of the map. It lives
// in its slot and is reused by the slot's next FLUSH.
type broadcast struct {
	sl      *slot
	subs    []*subRequest
	pending atomic.Int32  // sub-requests outstanding, plus one held by the sender
	failed  atomic.Int32  // nodes that did not succeed
	status  atomic.Uint32 // first failure status (0 = none)
	total   int
}

// subRequest is the FLUSH sent to one node.
type subRequest struct {
	bc  *broadcast
	req upstream.Request
	buf []byte
}

// Complete implements upstream.Completer.
func (r *subRequest) Complete(req *upstream.Request) {
	switch {
	case req.Err != nil:
		r.bc.fail(memcached.StatusETMPFAIL)
	case req.Resp.Status != memcached.StatusSuccess:
		r.bc.fail(req.Resp.Status)
	}
	r.bc.done()
}

func (bc *broadcast) fail(st memcached.Status) {
	bc.failed.Add(1)
	bc.status.CompareAndSwap(0, uint32(st)|1<<16)
}

// done drops one outstanding count; the last one completes the slot: success
// only if every node succeeded, else the first failure's status.
func (bc *broadcast) done() {
	if bc.pending.Add(-1) != 0 {
		return
	}
	sl := bc.sl
	if n := bc.failed.Load(); n > 0 {
		st := memcached.Status(bc.status.Load() & 0xffff)
		sl.fail(st, fmt.Sprintf("Flush failed on %d of %d nodes", n, bc.total))
		return
	}
	sl.local = memcached.AppendResponse(sl.local[:0], &sl.pkt.Header, memcached.StatusSuccess, 0, nil, nil, nil)
	sl.answer(memcached.StatusSuccess)
}

// flushAll sends FLUSH to every node of the current map. It is refused with
// NOT_SUPPORTED unless Options.AllowFlush.
func (s *session) flushAll(sl *slot) {
	h := &sl.pkt.Header
	if !s.srv.o.AllowFlush {
		s.localError(sl, memcached.StatusNotSupported, "Flush is disabled on this proxy")
		return
	}
	if h.KeyLen != 0 || h.ValueLen() != 0 || (h.ExtrasLen != 0 && h.ExtrasLen != 4) {
		s.localError(sl, memcached.StatusEINVAL, "Invalid arguments")
		return
	}
	m := s.srv.o.Map.Current()
	if m == nil {
		s.localError(sl, memcached.StatusETMPFAIL, msgNoMap)
		return
	}
	nodes := m.Nodes()
	if sl.bc == nil {
		sl.bc = &broadcast{sl: sl}
	}
	bc := sl.bc
	bc.total = len(nodes)
	bc.failed.Store(0)
	bc.status.Store(0)
	bc.pending.Store(int32(len(nodes)) + 1)
	for len(bc.subs) < len(nodes) {
		bc.subs = append(bc.subs, &subRequest{bc: bc})
	}
	deadline := sl.start.Add(s.srv.o.OperationTimeout)
	for i, n := range nodes {
		sub := bc.subs[i]
		sub.buf = memcached.AppendRequest(sub.buf[:0], memcached.OpFlush, 0, h.Opaque, 0, sl.pkt.Extras, nil, nil)
		sub.req = upstream.Request{Packet: sub.buf, Deadline: deadline, Done: sub, RespBuf: sub.req.RespBuf}
		p := s.pools.Get(n.Addr)
		if p == nil {
			bc.fail(memcached.StatusETMPFAIL)
			bc.pending.Add(-1)
			continue
		}
		if err := p.Send(&sub.req); err != nil {
			bc.fail(memcached.StatusETMPFAIL)
			bc.pending.Add(-1)
		}
	}
	bc.done() // the sender's own count
}
