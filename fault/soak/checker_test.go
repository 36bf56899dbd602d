package soak

import (
	"strings"
	"testing"
)

func TestCheckerDetectsStaleRead(t *testing.T) {
	c := NewChecker()
	c.Write("k", 1, false, Acked, 100)
	c.Write("k", 2, false, Acked, 101)
	c.Read("k", true, 2, 101) // fine
	c.Read("k", true, 1, 100) // older than the last acknowledged write
	if got := c.Count("stale read"); got != 1 {
		t.Fatalf("stale reads: got %d, want 1: %v", got, c.Violations())
	}
	if v := c.Violations()[0]; v.Key != "k" || !strings.Contains(v.Detail, "older than the last acknowledged write, version 2") {
		t.Errorf("violation: %v", v)
	}
	c.Write("k", 3, true, Acked, 102)
	c.Read("k", true, 2, 101) // a deleted key read back
	c.Read("k", false, 0, 0)  // fine
	if got := c.Count("stale read"); got != 2 {
		t.Errorf("stale reads after the delete: got %d, want 2: %v", got, c.Violations())
	}
	c.Write("n", 1, false, Acked, 5)
	c.Read("n", false, 0, 0) // the acknowledged write is gone
	c.Read("n", true, 1, 6)  // right version, wrong CAS
	if got := c.Count("stale read"); got != 4 {
		t.Errorf("stale reads: got %d, want 4: %v", got, c.Violations())
	}
}

func TestCheckerAllowsUnknownOutcomes(t *testing.T) {
	c := NewChecker()
	c.Write("k", 1, false, Acked, 100)
	c.Write("k", 2, false, Unknown, 0)
	c.Write("k", 3, true, Unknown, 0)
	c.Read("k", true, 1, 100)
	c.Read("k", true, 2, 0)
	c.Read("k", false, 0, 0)
	c.Write("k", 4, false, Refused, 0)
	c.Read("k", true, 4, 0) // a refused write must not be seen
	if got := c.Count("stale read"); got != 1 {
		t.Errorf("stale reads: got %d, want 1 (the refused write): %v", got, c.Violations())
	}
	// An unknown write may still land after a later acknowledged one (a
	// stalled node executing what it had read): explained, counted late.
	c.Write("k", 5, false, Acked, 110)
	c.Read("k", true, 2, 0)
	c.Read("k", true, 1, 0) // acknowledged before 5: stale
	if got, late := c.Count("stale read"), c.Count("late"); got != 2 || late != 1 {
		t.Errorf("stale reads, late: got %d, %d, want 2, 1: %v", got, late, c.Violations())
	}
}

func TestCheckerDetectsLostWrite(t *testing.T) {
	c := NewChecker()
	c.Write("a", 7, false, Acked, 1)
	c.Write("b", 3, false, Acked, 1)
	c.Write("b", 4, false, Unknown, 0)
	c.Write("d", 2, true, Acked, 1)
	c.FinalValue("a", true, 7)
	c.FinalValue("b", true, 4)
	c.FinalValue("d", false, 0)
	if got := c.Count("lost write"); got != 0 {
		t.Fatalf("lost writes: got %d, want 0: %v", got, c.Violations())
	}
	c.FinalValue("a", true, 6)  // an older version survived
	c.FinalValue("a", false, 0) // the key vanished
	c.FinalValue("d", true, 1)  // a deleted key came back
	if got := c.Count("lost write"); got != 3 {
		t.Errorf("lost writes: got %d, want 3: %v", got, c.Violations())
	}
	c.Incr("n", Acked, 0)
	c.Incr("n", Acked, 1)
	c.FinalCounter("n", true, 0)
	if got := c.Count("lost write"); got != 4 {
		t.Errorf("lost writes after a lost increment: got %d, want 4: %v", got, c.Violations())
	}
}

func TestCheckerIncrAndCAS(t *testing.T) {
	c := NewChecker()
	c.Incr("n", Acked, 0) // created at 0
	c.Incr("n", Acked, 1)
	c.Incr("n", Unknown, 0)
	c.Incr("n", Acked, 3) // 1 + 1 + the unknown one
	c.ReadCounter("n", true, 3)
	if got := c.Count("incr") + c.Count("stale read"); got != 0 {
		t.Fatalf("violations: %v", c.Violations())
	}
	c.Incr("n", Unknown, 0)
	c.Incr("n", Acked, 4) // the unknown one did not land (yet)
	c.Incr("n", Acked, 6) // now it did: explained
	c.Incr("n", Acked, 8) // and it cannot land twice
	c.ReadCounter("n", true, 7)
	if c.Count("incr") != 1 || c.Count("stale read") != 1 {
		t.Errorf("incr/stale: got %d/%d, want 1/1: %v", c.Count("incr"), c.Count("stale read"), c.Violations())
	}

	c.Write("k", 1, false, Acked, 10)
	c.CASConflict("k", 10)
	c.CASAck("k", 10, 10)
	c.Write("k", 2, false, Unknown, 0)
	c.CASConflict("k", 10) // explained by the unknown write
	if got := c.Count("cas"); got != 2 {
		t.Errorf("cas violations: got %d, want 2: %v", got, c.Violations())
	}
}

// A text client's STORED carries no CAS: the first read of the version
// tells it, and a later read with another CAS is stale.
func TestCheckerLearnsCASFromReads(t *testing.T) {
	c := NewChecker()
	c.Write("k", 1, false, Acked, 0)
	c.Read("k", true, 1, 0)  // get: no CAS to compare
	c.Read("k", true, 1, 77) // gets: the acknowledged version's CAS is 77
	c.Read("k", true, 1, 77)
	if got := c.Count("stale read"); got != 0 {
		t.Fatalf("stale reads: got %d, want 0: %v", got, c.Violations())
	}
	c.Read("k", true, 1, 78)
	if got := c.Count("stale read"); got != 1 {
		t.Errorf("stale reads after a read with another CAS: got %d, want 1: %v", got, c.Violations())
	}
	c.Write("k", 2, false, Acked, 0) // the next version starts unknown again
	c.Read("k", true, 2, 90)
	if got := c.Count("stale read"); got != 1 {
		t.Errorf("stale reads: got %d, want 1: %v", got, c.Violations())
	}
}
