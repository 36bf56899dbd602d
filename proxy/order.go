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
// nothing in flight.

// vbOrder is the state of one vBucket with requests in flight or parked.
type vbOrder struct {
	addr     string // node the in-flight requests went to
	inflight int32  // requests sent (or reserved by a pump) and not settled
	waiting  int32  // requests parked
}

// Why a parked slot waits.
const (
	parkNew  uint8 = iota // never sent: another request for its vBucket is ahead
	parkNMVB              // NOT_MY_VBUCKET: offer the config, re-route, maybe back off
	parkWait              // not sent (no pool yet, pool closing): back off, re-route
	parkDown              // the node is down: re-route if the map moved, briefly
)

// admit decides whether the reader may send sl to addr now. If so the
// vBucket's in-flight count includes sl; otherwise sl is parked.
func (s *session) admit(sl *slot, addr string) bool {
	s.ordMu.Lock()
	e := s.ord.get(sl.ordVB)
	if e.waiting > 0 || (e.inflight > 0 && e.addr != addr) {
		sl.park = parkNew
		s.parkLocked(sl, &e)
		s.ord.set(sl.ordVB, e)
		s.ordMu.Unlock()
		return false
	}
	e.addr = addr
	e.inflight++
	s.ord.set(sl.ordVB, e)
	s.ordMu.Unlock()
	return true
}

// retarget records that the vBucket's in-flight request (reserved by a pump)
// goes to addr.
func (s *session) retarget(sl *slot, addr string) {
	s.ordMu.Lock()
	e := s.ord.get(sl.ordVB)
	e.addr = addr
	s.ord.set(sl.ordVB, e)
	s.ordMu.Unlock()
}

// settle ends sl's turn in flight (it has its outcome, or failed without
// being sent) and starts a pump when parked requests can now go.
func (s *session) settle(sl *slot) {
	s.ordMu.Lock()
	e := s.ord.get(sl.ordVB)
	e.inflight--
	pump := e.inflight == 0 && e.waiting > 0
	s.ord.set(sl.ordVB, e)
	s.ordMu.Unlock()
	if pump {
		s.startPump(sl.ordVB)
	}
}

// requeue parks a slot that was in flight so that it is sent again, before
// any later request for its vBucket.
func (s *session) requeue(sl *slot, why uint8) {
	s.ordMu.Lock()
	e := s.ord.get(sl.ordVB)
	e.inflight--
	sl.park = why
	s.parkLocked(sl, &e)
	pump := e.inflight == 0
	s.ord.set(sl.ordVB, e)
	s.ordMu.Unlock()
	if pump {
		s.startPump(sl.ordVB)
	}
}

// parkLocked inserts sl into the parked list, which is kept in request
// order.
func (s *session) parkLocked(sl *slot, e *vbOrder) {
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

func (s *session) startPump(vb uint16) {
	s.retries.Add(1)
	go s.pump(vb)
}

// pump sends the parked requests of vb, oldest first, each once vb has
// nothing in flight. It runs on its own goroutine: resending may parse a
// config and back off.
func (s *session) pump(vb uint16) {
	defer s.retries.Done()
	for {
		s.ordMu.Lock()
		e := s.ord.get(vb)
		if e.inflight > 0 || e.waiting == 0 {
			s.ordMu.Unlock()
			return
		}
		i := slices.IndexFunc(s.parked, func(p *slot) bool { return p.ordVB == vb })
		sl := s.parked[i]
		s.parked = slices.Delete(s.parked, i, i+1)
		e.waiting--
		e.inflight++ // reserved: nothing else for vb goes until sl settles
		s.ord.set(vb, e)
		s.ordMu.Unlock()
		sl.resend()
	}
}
