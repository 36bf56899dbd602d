package soak

import (
	"fmt"
	"sync"
)

// Outcome is what a client learned about a mutation it sent.
type Outcome uint8

const (
	// Acked: the mutation succeeded and the client got the reply.
	Acked Outcome = iota
	// Unknown: no reply (an error, a timeout, a broken connection): the
	// mutation may or may not have been applied, now or later.
	Unknown
	// Refused: a definite failure reply (the mutation was not applied).
	Refused
)

// Value is the state of a value key as the checker sees it: Version 0 with
// Deleted false means never written.
type Value struct {
	Version uint64 // the writer's version of the value, increasing per key
	Deleted bool   // the version was a DELETE
	CAS     uint64 // the CAS the acknowledgement carried (0 when unknown)
}

// valueKey is the history of one value key. Each key has one writer (one
// client), so "the last acknowledged write" is exact.
type valueKey struct {
	acked Value
	// maybe holds every write with an unknown outcome (at most maxMaybe):
	// a read may return any of them, even one older than the last
	// acknowledged write: a request that timed out may still be applied
	// later (a stalled node that resumes executes what it had read), which
	// no client-side timeout can rule out. Such reads are counted as late.
	maybe []Value
}

// maxMaybe bounds the unknown-outcome writes remembered per key.
const maxMaybe = 4096

// counterKey is the history of one counter key (INCREMENT by 1 only).
type counterKey struct {
	exists bool   // an increment was acknowledged (the counter exists)
	value  uint64 // the value the last acknowledged increment returned
	// unknown counts the increments with an unknown outcome not yet seen
	// applied: each may still land, once, at any later time.
	unknown uint64
}

// Violation is one check that failed.
type Violation struct {
	Kind   string // "stale read", "lost write", "cas", "incr"
	Key    string
	Detail string
}

func (v Violation) String() string { return v.Kind + " " + v.Key + ": " + v.Detail }

// Checker keeps, per key, the history of acknowledged operations and checks
// every read and the final state against it. Its methods are safe for
// concurrent use (each key is used by one client, many clients at once).
type Checker struct {
	mu         sync.Mutex
	values     map[string]*valueKey
	counters   map[string]*counterKey
	violations []Violation
	counts     map[string]int
}

// NewChecker returns an empty checker.
func NewChecker() *Checker {
	return &Checker{values: map[string]*valueKey{}, counters: map[string]*counterKey{}, counts: map[string]int{}}
}

func (c *Checker) violate(kind, key, format string, args ...any) {
	c.violations = append(c.violations, Violation{Kind: kind, Key: key, Detail: fmt.Sprintf(format, args...)})
	c.counts[kind]++
}

func (c *Checker) value(key string) *valueKey {
	k := c.values[key]
	if k == nil {
		k = &valueKey{}
		c.values[key] = k
	}
	return k
}

// Write records a SET (deleted false) or DELETE (deleted true) of version
// ver and its outcome; cas is the acknowledgement's CAS.
func (c *Checker) Write(key string, ver uint64, deleted bool, out Outcome, cas uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := c.value(key)
	v := Value{Version: ver, Deleted: deleted, CAS: cas}
	switch out {
	case Acked:
		k.acked = v
	case Unknown:
		v.CAS = 0
		if len(k.maybe) == maxMaybe {
			k.maybe = k.maybe[1:]
		}
		k.maybe = append(k.maybe, v)
	}
}

// Read checks a GET of a value key: found, the version the value carries
// and the CAS of the reply. A read older than the last acknowledged write
// is a stale read; so is one the history cannot explain.
func (c *Checker) Read(key string, found bool, ver, cas uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := c.value(key)
	got := Value{Version: ver, Deleted: !found}
	if !found {
		got.Version = 0
	}
	ok, late, why := k.explains(got, cas)
	switch {
	case !ok:
		c.violate("stale read", key, "%s; %s", describe(got), why)
	case late:
		c.counts["late"]++
	case found && ver == k.acked.Version && k.acked.CAS == 0 && cas != 0:
		// The acknowledgement had no CAS (a text STORED): the first read
		// of the version tells it, and every later read must agree.
		k.acked.CAS = cas
	}
}

// explains reports whether a read of got (with its CAS) fits the history,
// and whether only a late-applied unknown write explains it.
func (k *valueKey) explains(got Value, cas uint64) (ok, late bool, why string) {
	a := k.acked
	if got.Deleted {
		if a.Deleted || a.Version == 0 {
			return true, false, ""
		}
		for _, m := range k.maybe {
			if m.Deleted {
				return true, m.Version < a.Version, ""
			}
		}
		return false, false, fmt.Sprintf("the last acknowledged write is %s", describe(a))
	}
	if got.Version == a.Version && !a.Deleted {
		if a.CAS != 0 && cas != 0 && cas != a.CAS {
			return false, false, fmt.Sprintf("CAS %d, the acknowledgement said %d", cas, a.CAS)
		}
		return true, false, ""
	}
	for _, m := range k.maybe {
		if m.Version == got.Version && !m.Deleted {
			return true, m.Version < a.Version, ""
		}
	}
	if got.Version < a.Version {
		return false, false, fmt.Sprintf("older than the last acknowledged write, %s, and not a write with an unknown outcome", describe(a))
	}
	return false, false, fmt.Sprintf("never written with a possible outcome (last acknowledged %s)", describe(a))
}

func describe(v Value) string {
	switch {
	case v.Version == 0 && !v.Deleted:
		return "never written"
	case v.Deleted && v.Version == 0:
		return "missing"
	case v.Deleted:
		return fmt.Sprintf("deleted (version %d)", v.Version)
	default:
		return fmt.Sprintf("version %d", v.Version)
	}
}

// CASConflict records a CAS write refused with KEY_EEXISTS although the
// client had just read the key with that CAS: with one writer per key that
// is a violation unless an unknown-outcome write may have landed between.
func (c *Checker) CASConflict(key string, cas uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.value(key).maybe) > 0 {
		return
	}
	c.violate("cas", key, "SET with CAS %d from the last read refused (KEY_EEXISTS) with no other writer", cas)
}

// CASAck checks the CAS of an acknowledged mutation: it must differ from the
// one it replaced.
func (c *Checker) CASAck(key string, old, cas uint64) {
	if cas == 0 || cas == old {
		c.mu.Lock()
		c.violate("cas", key, "acknowledged mutation carries CAS %d (the previous was %d)", cas, old)
		c.mu.Unlock()
	}
}

func (c *Checker) counter(key string) *counterKey {
	k := c.counters[key]
	if k == nil {
		k = &counterKey{}
		c.counters[key] = k
	}
	return k
}

// Incr records an INCREMENT by 1 (initial 0) and, when acknowledged, checks
// the value it returned: the previous acknowledged value plus one, plus at
// most the increments since then whose outcome is unknown.
func (c *Checker) Incr(key string, out Outcome, got uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := c.counter(key)
	switch out {
	case Unknown:
		k.unknown++
		return
	case Refused:
		return
	}
	lo, hi := k.value+1, k.value+1+k.unknown
	if !k.exists {
		// The first increment creates the counter at 0; unknown ones
		// before it may have created and raised it.
		lo, hi = 0, k.unknown
	}
	if got < lo || got > hi {
		c.violate("incr", key, "INCREMENT returned %d, want %d-%d (last acknowledged %d, %d with an unknown outcome)", got, lo, hi, k.value, k.unknown)
		k.exists, k.value = true, got
		return
	}
	// Unknown increments seen applied are settled.
	k.unknown -= got - lo
	k.exists, k.value = true, got
}

// ReadCounter checks a GET of a counter key.
func (c *Checker) ReadCounter(key string, found bool, got uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := c.counter(key)
	switch {
	case !found && k.exists:
		c.violate("stale read", key, "counter missing, last acknowledged %d", k.value)
	case found && k.exists && (got < k.value || got > k.value+k.unknown):
		c.violate("stale read", key, "counter %d, want %d-%d", got, k.value, k.value+k.unknown)
	case found && !k.exists && got > k.unknown:
		c.violate("stale read", key, "counter %d before any acknowledged increment, %d unknown", got, k.unknown)
	}
}

// FinalValue checks a value key's final state (read from the cluster
// itself, not through the proxy): a mismatch is a lost acknowledged write.
func (c *Checker) FinalValue(key string, found bool, ver uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := c.value(key)
	got := Value{Version: ver, Deleted: !found}
	if !found {
		got.Version = 0
	}
	if ok, _, why := k.explains(got, 0); !ok {
		c.violate("lost write", key, "the cluster holds %s; %s", describe(got), why)
	}
}

// FinalCounter checks a counter key's final state.
func (c *Checker) FinalCounter(key string, found bool, got uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := c.counter(key)
	if k.exists && (!found || got < k.value || got > k.value+k.unknown) {
		c.violate("lost write", key, "the cluster holds counter %d (found %v), want %d-%d", got, found, k.value, k.value+k.unknown)
	}
}

// Keys returns the value keys and the counter keys seen.
func (c *Checker) Keys() (values, counters []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.values {
		values = append(values, k)
	}
	for k := range c.counters {
		counters = append(counters, k)
	}
	return values, counters
}

// Count returns the number of violations of kind.
func (c *Checker) Count(kind string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[kind]
}

// Violations returns every violation so far.
func (c *Checker) Violations() []Violation {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Violation(nil), c.violations...)
}
