package upstream

import (
	"slices"
	"testing"
	"time"
)

// A node's state is the aggregate of its connections on every loop: Up
// while any is up, Down once none is after a failure, Down after Close.
// OnState reports each transition once, in order; OnError counts each lost
// connection and failed attempt as "io".
func TestNodeStates(t *testing.T) {
	f := startFakeKV(t, fakeConfig{})
	log := newStateLog()
	h := newHarness(t)
	n := h.node(f.addr, log.options(Options{
		ConnectTimeout: 200 * time.Millisecond, MinBackoff: 20 * time.Millisecond, MaxBackoff: 40 * time.Millisecond,
	}))
	if got, want := log.history(), []State{StateConnecting}; !slices.Equal(got, want) {
		t.Errorf("states after NewNode = %v, want %v", got, want)
	}
	if n.State() != StateConnecting || n.Conns() != 0 || n.LastError() != nil {
		t.Errorf("new node: state %s conns %d last error %v, want connecting, 0, nil", n.State(), n.Conns(), n.LastError())
	}
	c1, c2 := h.conn(h.loop(), n), h.conn(h.loop(), n) // one per loop
	c1.waitUp(t)
	c2.waitUp(t)
	if n.State() != StateUp || n.Conns() != 2 {
		t.Fatalf("both up: state %s conns %d, want up, 2", n.State(), n.Conns())
	}

	// One connection lost: still Up, and it comes back.
	f.closeOldest()
	waitFor(t, "one connection lost", func() bool { return log.errCount(KindIO) == 1 })
	if n.State() != StateUp {
		t.Errorf("one of two lost: state %s, want up", n.State())
	}
	waitFor(t, "reconnected", func() bool { return n.Conns() == 2 })
	if err := n.LastError(); err != nil {
		t.Errorf("LastError after the reconnection = %v, want nil", err)
	}

	// Both lost and the attempts fail (the handshake is never answered):
	// Down, with the reason.
	f.setHang(true)
	f.closeConns()
	waitState(t, n, StateDown)
	waitFor(t, "a failed attempt", func() bool { return log.errCount(KindIO) >= 4 }) // 1 + 2 lost + 1 attempt
	if err := n.LastError(); err == nil {
		t.Error("LastError while down = nil, want the reason")
	}
	if n.Conns() != 0 {
		t.Errorf("Conns while down = %d, want 0", n.Conns())
	}

	f.setHang(false)
	waitState(t, n, StateUp)
	c1.waitUp(t)
	c2.waitUp(t)
	mustSetGet(t, c1, "k", "v1")
	mustSetGet(t, c2, "k", "v2")
	h.teardown()
	want := []State{StateConnecting, StateUp, StateDown, StateUp, StateDown}
	if got := log.history(); !slices.Equal(got, want) {
		t.Errorf("states = %v, want %v", got, want)
	}
	if got := log.errCount(KindTimeout) + log.errCount(KindAuth) + log.errCount(KindDown) + log.errCount(KindQueueFull); got != 0 {
		t.Errorf("errors other than io = %d, want 0", got)
	}
}

func TestStateString(t *testing.T) {
	for s, want := range map[State]string{StateConnecting: "connecting", StateUp: "up", StateDown: "down", State(7): "State(7)"} {
		if got := s.String(); got != want {
			t.Errorf("State(%d).String() = %q, want %q", int32(s), got, want)
		}
	}
}
