package proxy

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
	"github.com/vbproxy/vbproxy/proxy/upstream"
	"github.com/vbproxy/vbproxy/vbmap"
)

// Slot states. A slot is free, then pending (filled by the reader, waiting for
// its outcome), then done (its outcome is ready for the writer), then free.
const (
	slotFree uint32 = iota
	slotPending
	slotDone
)

// How the writer turns a done slot into reply bytes.
const (
	outResp  uint8 = iota // the upstream reply in req.RespBuf, header patched
	outLocal              // pre-built reply bytes in out
	outError              // an error reply built from status and msg
)

// slot is one request of a session, from the moment it is read until its
// reply is written. Slots are pre-allocated per session and reused: each
// holds the client's packet, the forwarded request (whose response buffer the
// upstream pool reuses) and room for a local reply, so steady state allocates
// nothing.
type slot struct {
	sess  *session
	pkt   memcached.Packet // the client's request, as read (patched in place before forwarding)
	req   upstream.Request // the forwarded request; req.Done is the slot
	state atomic.Uint32

	// Set by the reader when it fills the slot.
	op     memcached.Opcode // the client's opcode (the quiet one if it sent one)
	opaque uint32           // the client's opaque
	start  time.Time        // when the request was read
	read   uint64           // the client read that completed it (clientConn.reads)

	// Routing and retry state, owned by whoever holds the request (the reader
	// until the first Send, then the completion path).
	deadline   time.Time
	vb         uint16
	ordVB      uint16     // vBucket for per-session ordering (the first routing's)
	seq        uint64     // position in the session's request order
	park       uint8      // why the slot is parked (order.go)
	graceTries int        // backoff steps spent waiting for a down node's vBucket to move
	replica    bool       // GET_REPLICA: route to the first replica
	sentMap    *vbmap.Map // the map the last send was routed on
	sentAddr   string     // the node the last send went to
	fwdTried   bool       // the forward owner was tried since the last backoff
	backoff    time.Duration

	// Outcome, set before state becomes slotDone.
	out    uint8
	status memcached.Status
	msg    string
	local  []byte // outLocal reply bytes, reused

	// FLUSH fan-out.
	bc *broadcast
}

// Complete implements upstream.Completer. It runs on an upstream pool
// goroutine and must not block: NOT_MY_VBUCKET replies (and idempotent
// requests whose connection was lost) are parked for a pump goroutine to
// resend; everything else completes the slot.
func (sl *slot) Complete(r *upstream.Request) {
	s := sl.sess
	if r.Err != nil {
		if errors.Is(r.Err, upstream.ErrConnClosed) && sl.idempotent() {
			s.requeue(sl, parkDown)
			return
		}
		sl.settleFail(memcached.StatusETMPFAIL, upstreamErrorMessage(r.Err))
		return
	}
	if r.Resp.Status == memcached.StatusNotMyVBucket {
		s.requeue(sl, parkNMVB)
		return
	}
	s.settle(sl)
	sl.out = outResp
	sl.status = r.Resp.Status
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

// finish hands the slot to the writer.
func (sl *slot) finish() {
	sl.state.Store(slotDone)
	sl.sess.wakeWriter()
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
	sl.sentMap = nil
	sl.sentAddr = ""
	sl.fwdTried = false
	sl.backoff = 0
	sl.graceTries = 0
	sl.msg = ""
	sl.local = sl.local[:0]
	sl.req.Err = nil
	sl.req.Packet = nil
	if cap(sl.local) > retainLocal {
		sl.local = nil
	}
	if cap(sl.req.RespBuf) > retainLocal {
		sl.req.RespBuf = nil
	}
}

// retainLocal is the largest reply buffer a slot keeps between requests, so
// that one large value does not pin memory on an idle connection.
const retainLocal = 64 << 10
