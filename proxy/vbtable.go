package proxy

// vbTable maps vBuckets to their ordering state (order.go): the vBuckets of
// one session with requests in flight or parked. It is a small open-
// addressing hash table with linear probing, allocated on first use and
// dropped when it empties after growing, so that an idle session holds at
// most a few hundred bytes; it is several times cheaper per request than a
// Go map. Not safe for concurrent use (session.ordMu guards it).
type vbTable struct {
	ents []vbEntry // nil or a power of two, at most half full
	n    int
}

type vbEntry struct {
	vbOrder
	vb   uint16
	used bool
}

const (
	vbTableMin  = 8  // entries of a new table
	vbTableKeep = 32 // a table larger than this is dropped when it empties
)

func (t *vbTable) home(vb uint16) int {
	return int(uint32(vb)*0x9e3779b1>>16) & (len(t.ents) - 1)
}

// get returns vb's state, the zero vbOrder when it has none.
func (t *vbTable) get(vb uint16) vbOrder {
	if t.n == 0 {
		return vbOrder{}
	}
	for i := t.home(vb); ; i = (i + 1) & (len(t.ents) - 1) {
		e := &t.ents[i]
		if !e.used {
			return vbOrder{}
		}
		if e.vb == vb {
			return e.vbOrder
		}
	}
}

// set stores vb's state; a zero count pair (nothing in flight or parked)
// removes it.
func (t *vbTable) set(vb uint16, o vbOrder) {
	if o.inflight == 0 && o.waiting == 0 {
		t.remove(vb)
		return
	}
	if t.ents == nil {
		t.ents = make([]vbEntry, vbTableMin)
	} else if 2*(t.n+1) > len(t.ents) {
		t.grow()
	}
	i := t.home(vb)
	for ; t.ents[i].used; i = (i + 1) & (len(t.ents) - 1) {
		if t.ents[i].vb == vb {
			t.ents[i].vbOrder = o
			return
		}
	}
	t.ents[i] = vbEntry{vbOrder: o, vb: vb, used: true}
	t.n++
}

// remove deletes vb, shifting back the entries that probed past it.
func (t *vbTable) remove(vb uint16) {
	if t.n == 0 {
		return
	}
	mask := len(t.ents) - 1
	i := t.home(vb)
	for {
		if !t.ents[i].used {
			return
		}
		if t.ents[i].vb == vb {
			break
		}
		i = (i + 1) & mask
	}
	t.n--
	if t.n == 0 && len(t.ents) > vbTableKeep {
		t.ents = nil
		return
	}
	// Backward-shift deletion: move later entries of the probe run into
	// the hole when their home does not lie cyclically in (hole, j].
	hole := i
	for j := (i + 1) & mask; t.ents[j].used; j = (j + 1) & mask {
		h := t.home(t.ents[j].vb)
		if (j-h)&mask >= (j-hole)&mask {
			t.ents[hole] = t.ents[j]
			hole = j
		}
	}
	t.ents[hole] = vbEntry{}
}

func (t *vbTable) grow() {
	old := t.ents
	t.ents = make([]vbEntry, 2*len(old))
	t.n = 0
	for _, e := range old {
		if e.used {
			t.set(e.vb, e.vbOrder)
		}
	}
}
