package upstream

import (
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
)

// Drain stops taking requests, lets those in flight finish (answered, not
// failed), then closes: onClosed runs once.
func TestDrainLetsInFlightFinish(t *testing.T) {
	f := startFakeKV(t, fakeConfig{Delay: map[string]time.Duration{"slowish": 100 * time.Millisecond}})
	check := checkGoroutines(t)
	log := newStateLog()
	h := newHarness(t)
	n := h.node(f.addr, log.options(Options{OperationTimeout: 10 * time.Second}))
	c := h.conn(h.loop(), n)
	c.waitUp(t)
	done := newRecorder(t, 16)
	var sendErr error
	c.l.do(func() {
		for _, r := range getRequests(5, "slowish", done, 0) {
			if err := c.Send(r); err != nil {
				t.Errorf("Send: %v", err)
			}
		}
		c.Drain()
		sendErr = c.Send(&Request{Packet: getPacket(9, "k"), Done: done})
	})
	if sendErr != ErrClosed {
		t.Errorf("Send while draining = %v, want ErrClosed", sendErr)
	}
	select {
	case <-c.closed:
		t.Fatal("onClosed ran before the drained requests were answered")
	default:
	}
	for _, r := range done.wait(t, 5) {
		if r.err != nil || r.resp.Status != memcached.StatusKeyENOENT {
			t.Errorf("drained request: err %v status %s, want KEY_ENOENT", r.err, r.resp.Status)
		}
	}
	c.waitClosed(t)
	if got := n.Conns(); got != 0 {
		t.Errorf("Conns after the drain = %d, want 0", got)
	}
	if err := c.send(&Request{Packet: getPacket(1, "k"), Done: done}); err != ErrClosed {
		t.Errorf("Send after the drain = %v, want ErrClosed", err)
	}
	c.l.do(c.Drain) // again: harmless
	c.l.do(c.Close)
	h.teardown()
	if h := log.history(); h[len(h)-1] != StateDown {
		t.Errorf("states = %v, want down last (Node.Close)", h)
	}
	if got := log.errCount(KindIO); got != 0 {
		t.Errorf("io errors = %d, want 0 (a drain is not a failure)", got)
	}
	done.none(t)
	f.close()
	check()
}

// Drain of a connection whose server never answers: the requests fail once
// OperationTimeout has passed (the connection is hung, or the drain's time
// is up) and the connection closes.
func TestDrainUnanswered(t *testing.T) {
	f := startFakeKV(t, fakeConfig{})
	check := checkGoroutines(t)
	const opTimeout = 200 * time.Millisecond
	h := newHarness(t)
	n := h.node(f.addr, Options{OperationTimeout: opTimeout, checkInterval: 10 * time.Millisecond})
	l := h.loop()
	conns := []*testConn{h.conn(l, n), h.conn(l, n)}
	for _, c := range conns {
		c.waitUp(t)
	}
	f.setDropData(true)
	done := newRecorder(t, 16)
	reqs := getRequests(10, "k", done, l.deadline(time.Hour))
	start := time.Now()
	l.do(func() {
		for i, r := range reqs {
			if err := conns[i%2].Send(r); err != nil {
				t.Errorf("Send %d: %v", i, err)
			}
		}
		conns[0].Drain()
		conns[1].Drain()
	})
	for _, r := range done.wait(t, 10) {
		if r.err != ErrConnClosed && r.err != ErrTimeout {
			t.Errorf("err = %v, want ErrConnClosed or ErrTimeout", r.err)
		}
		if el := r.at.Sub(start); el < opTimeout || el > opTimeout+2*time.Second {
			t.Errorf("failed after %v, want between %v and %v", el, opTimeout, opTimeout+2*time.Second)
		}
	}
	for _, c := range conns {
		c.waitClosed(t)
	}
	h.teardown()
	f.close()
	check()
}

// Close fails what is in flight with ErrConnClosed during the call, and
// onClosed runs once.
func TestCloseFailsInFlight(t *testing.T) {
	f := startFakeKV(t, fakeConfig{})
	check := checkGoroutines(t)
	log := newStateLog()
	h := newHarness(t)
	n := h.node(f.addr, log.options(Options{OperationTimeout: time.Minute}))
	c := h.conn(h.loop(), n)
	c.waitUp(t)
	f.setDropData(true)
	done := newRecorder(t, 16)
	reqs := getRequests(10, "k", done, 0)
	c.sendAll(t, reqs)
	waitFor(t, "requests at the server", func() bool { _, d := f.counts(); return d == len(reqs) })
	var during int
	c.l.do(func() {
		c.Close()
		during = len(done.ch) // completed within Close
	})
	if during != len(reqs) {
		t.Errorf("%d requests completed during Close, want %d", during, len(reqs))
	}
	for _, r := range done.wait(t, len(reqs)) {
		if r.err != ErrConnClosed {
			t.Errorf("err = %v, want ErrConnClosed", r.err)
		}
	}
	c.waitClosed(t)
	if err := c.send(&Request{Packet: getPacket(1, "k"), Done: done}); err != ErrClosed {
		t.Errorf("Send after Close = %v, want ErrClosed", err)
	}
	if got := n.Conns(); got != 0 {
		t.Errorf("Conns after Close = %d, want 0", got)
	}
	h.teardown()
	if got := n.State(); got != StateDown {
		t.Errorf("State after Node.Close = %s, want down", got)
	}
	if got := log.errCount(KindIO) + log.errCount(KindTimeout); got != 0 {
		t.Errorf("io+timeout errors = %d, want 0 (a Close is not a failure)", got)
	}
	done.none(t)
	f.close()
	check()
}

// Close or Drain while the connection is dialing: once the dial's result
// comes back (here: the bootstrap completes after the Close), its
// descriptor is closed, onClosed runs once, and nothing leaks.
func TestCloseWhileDialing(t *testing.T) {
	for _, tc := range []struct {
		name string
		stop func(c *Conn)
	}{
		{"close", (*Conn).Close},
		{"drain", (*Conn).Drain},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := startFakeKV(t, fakeConfig{})
			f.holdHandshake()
			h := newHarness(t)
			l := h.loop()
			check, checkFD := checkGoroutines(t), checkFDs(t)
			n := h.node(f.addr, Options{ConnectTimeout: time.Minute})
			c := h.conn(l, n)
			waitFor(t, "the handshake at the server", func() bool { hs, _ := f.counts(); return hs > 0 })
			var err error
			l.do(func() {
				tc.stop(c.Conn)
				err = c.Send(&Request{Packet: getPacket(1, "k"), Done: newRecorder(t, 1)})
			})
			if err != ErrClosed {
				t.Errorf("Send after %s while dialing = %v, want ErrClosed", tc.name, err)
			}
			select {
			case <-c.closed:
				t.Fatal("onClosed ran before the dial came back")
			case <-time.After(20 * time.Millisecond):
			}
			f.releaseHandshake() // the bootstrap succeeds: the loop gets a live descriptor
			c.waitClosed(t)
			waitFor(t, "the server to see the connection closed", func() bool { return f.openConns() == 0 })
			if got := n.Conns(); got != 0 {
				t.Errorf("Conns = %d, want 0", got)
			}
			if got := n.State(); got != StateConnecting {
				t.Errorf("State = %s, want connecting (it never came up)", got)
			}
			n.Close()
			checkFD()
			check()
			if got := len(f.acceptTimes()); got != 1 {
				t.Errorf("accepted %d connections, want 1 (no redial after %s)", got, tc.name)
			}
		})
	}
}

// Close while the bootstrap hangs: Node.Close aborts it at once (not after
// ConnectTimeout), onClosed runs once, nothing leaks.
func TestCloseWhileBootstrapHangs(t *testing.T) {
	f := startFakeKV(t, fakeConfig{})
	f.setHang(true)
	h := newHarness(t)
	l := h.loop()
	check, checkFD := checkGoroutines(t), checkFDs(t)
	n := h.node(f.addr, Options{ConnectTimeout: time.Minute})
	c := h.conn(l, n)
	waitFor(t, "the handshake at the server", func() bool { hs, _ := f.counts(); return hs > 0 })
	c.close()
	start := time.Now()
	n.Close()
	c.waitClosed(t)
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("Node.Close and onClosed took %v, want at once", el)
	}
	n.Close() // twice is harmless
	waitFor(t, "the server to see the connection closed", func() bool { return f.openConns() == 0 })
	checkFD()
	check()
}

// Close while the connection waits to redial: the retry is cancelled
// (no new connection) and onClosed runs at once.
func TestCloseWhileDown(t *testing.T) {
	f := startFakeKV(t, fakeConfig{})
	h := newHarness(t)
	l := h.loop()
	check, checkFD := checkGoroutines(t), checkFDs(t)
	n := h.node(f.addr, Options{MinBackoff: time.Minute, MaxBackoff: time.Minute})
	c := h.conn(l, n)
	c.waitUp(t)
	f.closeConns()
	waitState(t, n, StateDown)
	if err := c.send(&Request{Packet: getPacket(1, "k"), Done: newRecorder(t, 1)}); err != ErrNodeDown {
		t.Errorf("Send while down = %v, want ErrNodeDown", err)
	}
	c.close()
	c.waitClosed(t)
	if err := c.send(&Request{Packet: getPacket(1, "k"), Done: newRecorder(t, 1)}); err != ErrClosed {
		t.Errorf("Send after Close = %v, want ErrClosed", err)
	}
	waitFor(t, "the server to see the connection closed", func() bool { return f.openConns() == 0 })
	checkFD()
	check()
	if got := len(f.acceptTimes()); got != 1 {
		t.Errorf("accepted %d connections, want 1", got)
	}
}
