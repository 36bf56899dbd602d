package proxy

import (
	"fmt"

	"github.com/vbproxy/vbproxy/memcached"
	"github.com/vbproxy/vbproxy/proxy/upstream"
)

// broadcast is the fan-out of one FLUSH to every node of the map. It lives
// in its slot, on the session's loop, and is reused by the slot's next
// FLUSH.
type broadcast struct {
	sl      *slot
	subs    []*subRequest
	pending int // sub-requests outstanding, plus one held by the sender
	failed  int // nodes that did not succeed
	status  memcached.Status
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
	if bc.failed == 0 {
		bc.status = st
	}
	bc.failed++
}

// done drops one outstanding count; the last one completes the slot: success
// only if every node succeeded, else the first failure's status.
func (bc *broadcast) done() {
	if bc.pending--; bc.pending != 0 {
		return
	}
	sl := bc.sl
	if bc.failed > 0 {
		sl.fail(bc.status, fmt.Sprintf("Flush failed on %d of %d nodes", bc.failed, bc.total))
		return
	}
	if sl.sess.proto == protoText {
		sl.local = memcached.AppendTextLine(sl.local[:0], &sl.tr, "OK")
	} else {
		sl.local = memcached.AppendResponse(sl.local[:0], &sl.pkt.Header, memcached.StatusSuccess, 0, nil, nil, nil)
	}
	sl.answer(memcached.StatusSuccess)
}

// flushAll sends FLUSH to every node of the current map. It is refused with
// NOT_SUPPORTED unless Options.AllowFlush.
func (s *session) flushAll(sl *slot) {
	h := &sl.pkt.Header
	if !s.lst.AllowFlush {
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
	bc.failed = 0
	bc.status = 0
	bc.pending = len(nodes) + 1
	for len(bc.subs) < len(nodes) {
		bc.subs = append(bc.subs, &subRequest{bc: bc})
	}
	deadline := sl.start + int64(s.srv.o.OperationTimeout)
	for i := range nodes {
		sub := bc.subs[i]
		sub.buf = memcached.AppendRequest(sub.buf[:0], memcached.OpFlush, 0, h.Opaque, 0, sl.pkt.Extras, nil, nil)
		sub.req = upstream.Request{Packet: sub.buf, Deadline: deadline, Done: sub}
		c := s.ls.conn(s.set, m, i)
		if c == nil || c.Send(&sub.req) != nil {
			bc.fail(memcached.StatusETMPFAIL)
			bc.pending--
		}
	}
	bc.done() // the sender's own count
}
