package eventloop

// Timer is a callback at a point of the loop's clock. The owner embeds or
// allocates it once and schedules it as often as it likes; scheduling does
// not allocate. A Timer belongs to one loop and is touched only on that
// loop's thread.
type Timer struct {
	when int64
	pos  int // index in the heap plus one; 0 = not scheduled
	f    func()
}

// NewTimer returns a timer that calls f on the loop's thread.
func NewTimer(f func()) *Timer { return &Timer{f: f} }

// Init sets the callback of a Timer embedded in another struct.
func (t *Timer) Init(f func()) { t.f = f }

// Scheduled reports whether the timer is waiting to fire.
func (t *Timer) Scheduled() bool { return t.pos > 0 }

// When is the loop time the timer fires at (valid while Scheduled).
func (t *Timer) When() int64 { return t.when }

// timerHeap is a binary min-heap on when.
type timerHeap []*Timer

func (h *timerHeap) push(t *Timer) {
	*h = append(*h, t)
	t.pos = len(*h)
	h.up(t.pos - 1)
}

func (h *timerHeap) remove(t *Timer) {
	i := t.pos - 1
	last := len(*h) - 1
	if i != last {
		h.swap(i, last)
	}
	(*h)[last] = nil
	*h = (*h)[:last]
	t.pos = 0
	if i != last {
		h.fix(i)
	}
}

func (h *timerHeap) fix(i int) {
	if !h.down(i) {
		h.up(i)
	}
}

func (h timerHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].pos = i + 1
	h[j].pos = j + 1
}

func (h timerHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if h[p].when <= h[i].when {
			return
		}
		h.swap(i, p)
		i = p
	}
}

func (h timerHeap) down(i int) bool {
	start := i
	for {
		l := 2*i + 1
		if l >= len(h) {
			break
		}
		m := l
		if r := l + 1; r < len(h) && h[r].when < h[l].when {
			m = r
		}
		if h[i].when <= h[m].when {
			break
		}
		h.swap(i, m)
		i = m
	}
	return i > start
}
