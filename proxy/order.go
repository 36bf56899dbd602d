package proxy

import (
	"slices"
)

// Per-vBucket ordering.
//
// A client's requests to one vBucket must execute in the order it sent them,
// as on one memcached server: a pipelined "SET k; GET k" reads its own write.
// Requests that travel on the session's one connection to a node keep their
// order; they could overtake each other only when they go to different nodes
// (the map changed between them) or when one is resent (NOT_MY_VBUCKET, a
// node not connected yet). So the session tracks, per vBucket with requests
// in flight, the node they went to; a request for another node, or behind a
// request waiting to be resent, is parked instead of sent. Parked requests
// are sent oldest first, one at a time per vBucket, each once the vBucket has
// nothing in flight. All of it runs on the session's loop: waiting (backoff)
// is a loop timer per slot, never a goroutine.

// vbOrder is the state of one vBucket with requests in flight or parked.
type vbOrder struct {
	addr     string // node the in-flight requests went to
	inflight int32  // requests sent (or reserved for a resend) and not settled
	waiting  int32  // requests parked
}

// Why a parked slot waits.
const (
	parkNew        uint8 = iota // never sent: another request for its vBucket is ahead
	parkNMVB                    // NOT_MY_VBUCKET: re-route, maybe back off
	parkWait                    // not sent (no connection yet, connection closing): back off, re-route
	parkDown                    // the node is down: re-route if the map moved, briefly
	parkCollection              // the collection ID is being resolved (collection.go)
	parkBusy                    // the node connection's output is full: back off, resend
)

// admit decides whether sl may be sent to addr now. If so the vBucket's
// in-flight count includes sl; otherwise sl is parked.
func (s *session) admit(sl *slot, addr string) bool {
	e := s.ord.get(sl.ordVB)
	if e.waiting > 0 || (e.inflight > 0 && e.addr != addr) {
		sl.park = parkNew
		s.parkSlot(sl, &e)
		s.ord.set(sl.ordVB, e)
		return false
	}
	e.addr = addr
	e.inflight++
	s.ord.set(sl.ordVB, e)
	return true
}

// retarget records that the vBucket's in-flight request (reserved for a
// resend) goes to addr.
func (s *session) retarget(sl *slot, addr string) {
	e := s.ord.get(sl.ordVB)
	e.addr = addr
	s.ord.set(sl.ordVB, e)
}

// settle ends sl's turn in flight (it has its outcome, or failed without
// being sent) and sends the vBucket's parked requests when they can go.
func (s *session) settle(sl *slot) {
	e := s.ord.get(sl.ordVB)
	e.inflight--
	pump := e.inflight == 0 && e.waiting > 0
	s.ord.set(sl.ordVB, e)
	if pump {
		s.pump(sl.ordVB)
	}
}

// requeue parks a slot that was in flight so that it is sent again, before
// any later request for its vBucket.
func (s *session) requeue(sl *slot, why uint8) {
	e := s.ord.get(sl.ordVB)
	e.inflight--
	sl.park = why
	s.parkSlot(sl, &e)
	pump := e.inflight == 0
	s.ord.set(sl.ordVB, e)
	if pump {
		s.pump(sl.ordVB)
	}
}

// parkSlot inserts sl into the parked list, kept in request order.
func (s *session) parkSlot(sl *slot, e *vbOrder) {
	i, _ := slices.BinarySearchFunc(s.parked, sl.seq, func(p *slot, seq uint64) int {
		switch {
		case p.seq < seq:
			return -1
		case p.seq > seq:
			return 1
		}
		return 0
	})
	s.parked = slices.Insert(s.parked, i, sl)
	e.waiting++
}

// pump sends the parked requests of vb, oldest first, each once vb has
// nothing in flight. A send that settles at once (it failed) pumps again;
// that pump is queued rather than nested, so the stack stays flat.
func (s *session) pump(vb uint16) {
	s.pumpQ = append(s.pumpQ, vb)
	if s.pumping {
		return
	}
	s.pumping = true
	for len(s.pumpQ) > 0 {
		vb := s.pumpQ[0]
		s.pumpQ = s.pumpQ[:copy(s.pumpQ, s.pumpQ[1:])]
		s.pumpOne(vb)
	}
	s.pumping = false
}

func (s *session) pumpOne(vb uint16) {
	e := s.ord.get(vb)
	if e.inflight > 0 || e.waiting == 0 {
		return
	}
	i := slices.IndexFunc(s.parked, func(p *slot) bool { return p.ordVB == vb })
	sl := s.parked[i]
	s.parked = slices.Delete(s.parked, i, i+1)
	e.waiting--
	e.inflight++ // reserved: nothing else for vb goes until sl settles
	s.ord.set(vb, e)
	sl.resend()
}

// dropParked fails every parked request (the session is closing); their
// timers are stopped.
func (s *session) dropParked() {
	for len(s.parked) > 0 {
		sl := s.parked[0]
		s.parked = s.parked[1:]
		e := s.ord.get(sl.ordVB)
		e.waiting--
		s.ord.set(sl.ordVB, e)
		sl.state = slotDone
	}
	s.parked = nil
	for seq := s.tail; seq != s.head; seq++ {
		if sl := s.slots[seq&s.mask]; sl.timer.Scheduled() {
			s.ls.lp.Cancel(&sl.timer)
			sl.state = slotDone
		}
	}
}
