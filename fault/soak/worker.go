package soak

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/vbproxy/vbproxy/fault"
	"github.com/vbproxy/vbproxy/memcached"
)

// Outcome classes of a request, as counted in the report.
const (
	classOK      = iota
	classTmpfail // ETMPFAIL from the proxy (node down, timeout, no owner)
	classConn    // the connection broke or could not be opened
	classTimeout // no reply within the client's own timeout
	classOther   // any other status: never expected
	numClasses
)

// seconds counts outcomes per second of the run.
type seconds [][numClasses]int

func (s *seconds) add(sec, class int) {
	s.grow(sec)
	(*s)[sec][class]++
}

// grow makes room for second sec.
func (s *seconds) grow(sec int) {
	for len(*s) <= sec {
		*s = append(*s, [numClasses]int{})
	}
}

// worker is one soak client, binary or text: it owns its keys (it is
// their only writer) and checks every reply with the Checker, the same way
// for both protocols.
type worker struct {
	id    int
	proto string // protoBinary or protoText
	// ackCAS: acknowledgements of mutations carry the new CAS (binary);
	// text STORED and DELETED carry none, so a text client's CAS checks
	// rest on the CAS its gets return.
	ackCAS bool
	dial   func() (kvConn, error)
	ck     *Checker
	start  time.Time
	rng    *rand.Rand
	c      kvConn
	vals   []string
	ctrs   []string
	ver    map[string]uint64 // next version per value key
	cas    map[string]uint64 // CAS of the last acknowledged mutation per key
	counts seconds
	others map[string]int // unexpected statuses (and text replies) by name
}

func newWorker(id int, proto string, seed uint64, ck *Checker, start time.Time, dial func() (kvConn, error)) *worker {
	w := &worker{id: id, proto: proto, ackCAS: proto == protoBinary, dial: dial, ck: ck, start: start,
		rng: rand.New(rand.NewPCG(seed, uint64(id))), ver: map[string]uint64{}, cas: map[string]uint64{}, others: map[string]int{}}
	for j := range 8 {
		w.vals = append(w.vals, fmt.Sprintf("soak-%d-v%d", id, j))
	}
	for j := range 2 {
		w.ctrs = append(w.ctrs, fmt.Sprintf("soak-%d-c%d", id, j))
	}
	return w
}

// classify turns a reply (or its error) into an outcome class; ok means a
// reply the operation may interpret. An unexpected text reply is an
// unexpected status (classOther) and drops the connection, which may be
// out of step.
func (w *worker) classify(r fault.Response, err error) int {
	var re *replyError
	switch {
	case err == nil && r.Status == memcached.StatusETMPFAIL:
		return classTmpfail
	case err == nil:
		return classOK
	case errors.As(err, &re):
		w.reset()
		w.others[re.Kind()]++
		return classOther
	case errors.Is(err, os.ErrDeadlineExceeded):
		w.reset()
		return classTimeout
	default:
		w.reset()
		return classConn
	}
}

func (w *worker) reset() {
	if w.c != nil {
		_ = w.c.Close()
		w.c = nil
	}
}

func (w *worker) record(class int) {
	w.counts.add(int(time.Since(w.start)/time.Second), class)
}

// do runs one request, connecting first when needed.
func (w *worker) do(fn func(c kvConn) (fault.Response, error)) (fault.Response, int) {
	if w.c == nil {
		c, err := w.dial()
		if err != nil {
			w.record(classConn)
			time.Sleep(20 * time.Millisecond)
			return fault.Response{}, classConn
		}
		w.c = c
	}
	r, err := fn(w.c)
	class := w.classify(r, err)
	if err != nil {
		r = fault.Response{} // no reply the operation may read
	}
	if class == classOK && r.Status != memcached.StatusSuccess && r.Status != memcached.StatusKeyENOENT &&
		r.Status != memcached.StatusKeyEEXISTS {
		class = classOther
		w.others[r.Status.String()]++
	}
	w.record(class)
	return r, class
}

// step runs one random operation.
func (w *worker) step() {
	switch n := w.rng.IntN(100); {
	case n < 35:
		w.get(w.vals[w.rng.IntN(len(w.vals))], false)
	case n < 60:
		w.set(w.vals[w.rng.IntN(len(w.vals))])
	case n < 70:
		w.casUpdate(w.vals[w.rng.IntN(len(w.vals))])
	case n < 85:
		w.incr(w.ctrs[w.rng.IntN(len(w.ctrs))])
	case n < 95:
		w.del(w.vals[w.rng.IntN(len(w.vals))])
	default:
		w.getCounter(w.ctrs[w.rng.IntN(len(w.ctrs))])
	}
}

// versionOf parses "key:version".
func versionOf(key string, v []byte) (uint64, bool) {
	k, n, ok := strings.Cut(string(v), ":")
	if !ok || k != key {
		return 0, false
	}
	ver, err := strconv.ParseUint(n, 10, 64)
	return ver, err == nil
}

// get reads key (text: "get", or "gets" when withCAS) and checks the value
// and its CAS where the reply has one.
func (w *worker) get(key string, withCAS bool) (found bool, cas uint64) {
	r, class := w.do(func(c kvConn) (fault.Response, error) {
		if withCAS {
			return c.Gets(key)
		}
		return c.Get(key)
	})
	if class != classOK {
		return false, 0
	}
	switch r.Status {
	case memcached.StatusSuccess:
		ver, ok := versionOf(key, r.Value)
		if !ok {
			w.ck.mu.Lock()
			w.ck.violate("stale read", key, "value %q is not one this client wrote", r.Value)
			w.ck.mu.Unlock()
			return false, 0
		}
		w.ck.Read(key, true, ver, r.CAS)
		return true, r.CAS
	case memcached.StatusKeyENOENT:
		w.ck.Read(key, false, 0, 0)
	}
	return false, 0
}

func (w *worker) nextVersion(key string) uint64 {
	w.ver[key]++
	return w.ver[key]
}

func (w *worker) set(key string) {
	ver := w.nextVersion(key)
	r, class := w.do(func(c kvConn) (fault.Response, error) {
		return c.Set(key, []byte(key+":"+strconv.FormatUint(ver, 10)), 0)
	})
	w.settle(key, ver, false, r, class)
}

// settle records a mutation's outcome. A reply with a status is definite;
// no reply (an error, ETMPFAIL, an unexpected text line) is unknown.
func (w *worker) settle(key string, ver uint64, deleted bool, r fault.Response, class int) {
	switch {
	case class == classOK && r.Status == memcached.StatusSuccess:
		if !deleted && w.ackCAS {
			// DELETE's CAS differs between servers (memcached: 0).
			w.ck.CASAck(key, w.cas[key], r.CAS)
		}
		w.cas[key] = r.CAS
		w.ck.Write(key, ver, deleted, Acked, r.CAS)
	case class == classOK || class == classOther && r.Status != memcached.StatusSuccess:
		w.ck.Write(key, ver, deleted, Refused, 0)
	default:
		w.ck.Write(key, ver, deleted, Unknown, 0)
	}
}

func (w *worker) casUpdate(key string) {
	found, cas := w.get(key, true)
	if !found {
		return
	}
	ver := w.nextVersion(key)
	r, class := w.do(func(c kvConn) (fault.Response, error) {
		return c.Set(key, []byte(key+":"+strconv.FormatUint(ver, 10)), cas)
	})
	if class == classOK {
		switch r.Status {
		case memcached.StatusKeyEEXISTS:
			w.ck.CASConflict(key, cas)
		case memcached.StatusKeyENOENT:
			w.ck.Read(key, false, 0, 0)
		}
	}
	w.settle(key, ver, false, r, class)
}

func (w *worker) del(key string) {
	ver := w.nextVersion(key)
	r, class := w.do(func(c kvConn) (fault.Response, error) { return c.Delete(key) })
	if class == classOK && r.Status == memcached.StatusKeyENOENT {
		w.ck.Read(key, false, 0, 0) // the key must have been missing
	}
	w.settle(key, ver, true, r, class)
}

func (w *worker) incr(key string) {
	var n uint64
	r, class := w.do(func(c kvConn) (fault.Response, error) {
		r, v, err := c.Incr(key)
		n = v
		return r, err
	})
	switch {
	case class == classOK && r.Status == memcached.StatusSuccess:
		w.ck.Incr(key, Acked, n)
	case class == classOK || class == classOther && r.Status != memcached.StatusSuccess:
		w.ck.Incr(key, Refused, 0)
	default:
		w.ck.Incr(key, Unknown, 0)
	}
}

func (w *worker) getCounter(key string) {
	r, class := w.do(func(c kvConn) (fault.Response, error) { return c.Get(key) })
	if class != classOK {
		return
	}
	switch r.Status {
	case memcached.StatusSuccess:
		n, err := strconv.ParseUint(strings.TrimSpace(string(r.Value)), 10, 64)
		if err != nil {
			w.ck.mu.Lock()
			w.ck.violate("incr", key, "counter value %q is not a number", r.Value)
			w.ck.mu.Unlock()
			return
		}
		w.ck.ReadCounter(key, true, n)
	case memcached.StatusKeyENOENT:
		w.ck.ReadCounter(key, false, 0)
	}
}
