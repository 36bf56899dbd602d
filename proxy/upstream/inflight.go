package upstream

import "math/bits"

// inflight is a connection's table of requests written and not yet answered.
//
// It is sized once, from Options.QueueSize rounded up to a power of two, and
// never allocates afterwards. A request's wire opaque is the index of its slot
// in the low bits and the slot's generation in the high bits, so a response
// finds its request with one array load, and a response for a slot that has
// since been freed or reused (a late reply to a request that timed out) does
// not match and is discarded. Free slots are reused in FIFO order, so the
// same opaque comes back only after 2^32 allocations on the connection.
//
// Occupied slots are also linked in send order, so the timeout scan visits
// only the requests in flight.
//
// inflight is not safe for concurrent use: it belongs to its connection's
// event loop.
type inflight struct {
	slots    []slot
	idxBits  uint
	idxMask  uint32
	free     []int32 // ring of free slot indexes
	freeHead int
	freeLen  int
	head     int32 // oldest occupied slot, -1 when empty
	tail     int32 // newest occupied slot, -1 when empty
	n        int
}

type slot struct {
	r        *Request
	deadline int64  // nanoseconds since the pool's epoch
	opaque   uint32 // wire opaque while occupied
	gen      uint32
	prev     int32
	next     int32
}

func newInflight(size int) *inflight {
	size = max(size, 1)
	b := uint(bits.Len(uint(size - 1)))
	n := 1 << b
	t := &inflight{
		slots:   make([]slot, n),
		idxBits: b,
		idxMask: uint32(n - 1),
		free:    make([]int32, n),
		freeLen: n,
		head:    -1,
		tail:    -1,
	}
	for i := range t.free {
		t.free[i] = int32(i)
	}
	return t
}

// Len returns the number of occupied slots.
func (t *inflight) Len() int { return t.n }

// add stores r with its deadline and returns its wire opaque. ok is false when
// the table is full (callers bound pending requests so that it never is).
func (t *inflight) add(r *Request, deadline int64) (opaque uint32, ok bool) {
	if t.freeLen == 0 {
		return 0, false
	}
	i := t.free[t.freeHead]
	t.freeHead = (t.freeHead + 1) & int(t.idxMask)
	t.freeLen--
	s := &t.slots[i]
	s.gen++
	s.r = r
	s.deadline = deadline
	s.opaque = s.gen<<t.idxBits | uint32(i)
	s.next = -1
	s.prev = t.tail
	if t.tail >= 0 {
		t.slots[t.tail].next = i
	} else {
		t.head = i
	}
	t.tail = i
	t.n++
	return s.opaque, true
}

// take removes and returns the request sent with opaque, or nil when no
// request in flight has it.
func (t *inflight) take(opaque uint32) *Request {
	i := int32(opaque & t.idxMask)
	s := &t.slots[i]
	if s.r == nil || s.opaque != opaque {
		return nil
	}
	r := s.r
	t.remove(i)
	return r
}

func (t *inflight) remove(i int32) {
	s := &t.slots[i]
	if s.prev >= 0 {
		t.slots[s.prev].next = s.next
	} else {
		t.head = s.next
	}
	if s.next >= 0 {
		t.slots[s.next].prev = s.prev
	} else {
		t.tail = s.prev
	}
	s.r = nil
	tailPos := (t.freeHead + t.freeLen) & int(t.idxMask)
	t.free[tailPos] = i
	t.freeLen++
	t.n--
}

// expire removes the requests whose deadline is at or before now, appending
// them to dst.
func (t *inflight) expire(now int64, dst []*Request) []*Request {
	for i := t.head; i >= 0; {
		s := &t.slots[i]
		next := s.next
		if s.deadline <= now {
			dst = append(dst, s.r)
			t.remove(i)
		}
		i = next
	}
	return dst
}

// drain removes every request, appending them to dst in send order.
func (t *inflight) drain(dst []*Request) []*Request {
	for t.head >= 0 {
		dst = append(dst, t.slots[t.head].r)
		t.remove(t.head)
	}
	return dst
}
