package upstream

import (
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
)

// getRequests builds n GETs of key with opaques 0..n-1, completing to done
// and expiring at deadline (0: OperationTimeout from Send).
func getRequests(n int, key string, done Completer, deadline int64) []*Request {
	reqs := make([]*Request, n)
	for i := range reqs {
		reqs[i] = &Request{Packet: getPacket(uint32(i), key), Done: done, Deadline: deadline}
	}
	return reqs
}

// A server that stops answering: the requests fail with ErrTimeout once
// OperationTimeout has passed (not before, and within a bound after), the
// connection is closed as hung and the node goes down, then comes back up
// when the server answers again.
func TestHungServer(t *testing.T) {
	f := startFakeKV(t, fakeConfig{})
	log := newStateLog()
	const opTimeout = 300 * time.Millisecond
	h := newHarness(t)
	n := h.node(f.addr, log.options(Options{
		OperationTimeout: opTimeout, ConnectTimeout: 200 * time.Millisecond, checkInterval: 10 * time.Millisecond,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
	}))
	c := h.conn(h.loop(), n)
	c.waitUp(t)
	mustSetGet(t, c, "k", "v")

	f.setHang(true)
	done := newRecorder(t, 64)
	start := time.Now()
	c.sendAll(t, getRequests(20, "k", done, 0))
	for _, r := range done.wait(t, 20) {
		if r.err != ErrTimeout {
			t.Errorf("hung request: err %v, want ErrTimeout", r.err)
		}
		if r.node != f.addr {
			t.Errorf("Node = %q, want %q", r.node, f.addr)
		}
		if el := r.at.Sub(start); el < opTimeout || el > opTimeout+2*time.Second {
			t.Errorf("hung request failed after %v, want between %v and %v", el, opTimeout, opTimeout+2*time.Second)
		}
	}
	waitState(t, n, StateDown)
	if got := log.errCount(KindTimeout); got != 20 {
		t.Errorf("timeout errors = %d, want 20", got)
	}
	if err := n.LastError(); !errors.Is(err, ErrTimeout) {
		t.Errorf("LastError = %v, want ErrTimeout (closed as hung)", err)
	}

	f.setHang(false)
	waitState(t, n, StateUp)
	c.waitUp(t)
	mustSetGet(t, c, "k2", "v2")
	want := []State{StateConnecting, StateUp, StateDown, StateUp}
	if got := log.history(); !slices.Equal(got, want) {
		t.Errorf("states = %v, want %v", got, want)
	}
}

// A server that closes its connections: the requests they carried fail with
// ErrConnClosed at once (not by timeout: the timeout is long), and the
// connections reconnect after a backoff.
func TestServerClosesConnection(t *testing.T) {
	f := startFakeKV(t, fakeConfig{})
	log := newStateLog()
	const minBackoff = 200 * time.Millisecond
	h := newHarness(t)
	n := h.node(f.addr, log.options(Options{OperationTimeout: time.Minute, MinBackoff: minBackoff, MaxBackoff: 2 * minBackoff}))
	l := h.loop()
	conns := []*testConn{h.conn(l, n), h.conn(l, n)}
	for _, c := range conns {
		c.waitUp(t)
	}
	if got := n.Conns(); got != 2 {
		t.Fatalf("Conns = %d, want 2", got)
	}

	f.setDropData(true)
	done := newRecorder(t, 64)
	reqs := getRequests(30, "k", done, 0)
	conns[0].sendAll(t, reqs[:15])
	conns[1].sendAll(t, reqs[15:])
	waitFor(t, "requests at the server", func() bool { _, d := f.counts(); return d == len(reqs) })
	f.setDropData(false)
	closed := time.Now()
	f.closeConns()
	for _, r := range done.wait(t, len(reqs)) {
		if r.err != ErrConnClosed {
			t.Errorf("err = %v, want ErrConnClosed", r.err)
		}
		if el := r.at.Sub(closed); el > 5*time.Second {
			t.Errorf("failed %v after the close, want at once", el)
		}
	}
	for i, c := range conns {
		if _, pending := c.up(); pending != 0 {
			t.Errorf("connection %d: Pending = %d after the close, want 0", i, pending)
		}
	}
	waitFor(t, "reconnected", func() bool { return n.Conns() == 2 })
	if acc := f.acceptTimes(); len(acc) != 4 {
		t.Errorf("accepted %d connections, want 4 (2 + 2 reconnections)", len(acc))
	} else {
		for _, at := range acc[2:] {
			// The first retry waits a jittered delay in [MinBackoff/2, MinBackoff].
			if d := at.Sub(closed); d < minBackoff/2 {
				t.Errorf("reconnected %v after the close, want at least %v (backoff)", d, minBackoff/2)
			}
		}
	}
	for _, c := range conns {
		c.waitUp(t)
		mustSetGet(t, c, "after", "close")
	}
	if got := log.errCount(KindIO); got != 2 {
		t.Errorf("io errors = %d, want 2 (one per lost connection)", got)
	}
	want := []State{StateConnecting, StateUp, StateDown, StateUp}
	if got := log.history(); !slices.Equal(got, want) {
		t.Errorf("states = %v, want %v", got, want)
	}
}

// QueueSize requests pending on a connection: the next Send fails with
// ErrQueueFull at once, and succeeds again once they are answered.
func TestQueueFull(t *testing.T) {
	f := startFakeKV(t, fakeConfig{})
	log := newStateLog()
	h := newHarness(t)
	n := h.node(f.addr, log.options(Options{QueueSize: 4, OperationTimeout: time.Minute}))
	c := h.conn(h.loop(), n)
	c.waitUp(t)
	f.closeGate("*")
	done := newRecorder(t, 8)
	c.sendAll(t, getRequests(4, "k", done, 0))
	r := &Request{Packet: getPacket(9, "k"), Done: done}
	if err := c.send(r); err != ErrQueueFull {
		t.Fatalf("fifth Send = %v, want ErrQueueFull", err)
	}
	if got := log.errCount(KindQueueFull); got != 1 {
		t.Errorf("queue_full errors = %d, want 1", got)
	}
	if _, pending := c.up(); pending != 4 {
		t.Errorf("Pending = %d, want 4", pending)
	}
	f.openGate()
	for _, r := range done.wait(t, 4) {
		if r.err != nil || r.resp.Status != memcached.StatusKeyENOENT {
			t.Errorf("err %v status %s, want a KEY_ENOENT response", r.err, r.resp.Status)
		}
	}
	if err := c.send(r); err != nil {
		t.Errorf("Send after the queue drained = %v, want nil", err)
	}
	done.wait(t, 1)
	h.teardown()
	done.none(t)
}

// A response that arrives after its request timed out is discarded: the
// request completes once, with ErrTimeout, and the connection carries on.
func TestLateResponseDiscarded(t *testing.T) {
	f := startFakeKV(t, fakeConfig{})
	// A long operation timeout (the connection is not taken for hung) and a
	// short check interval: the slow request fails by its own deadline while
	// the server holds its answer, which is released afterwards.
	h := newHarness(t)
	n := h.node(f.addr, Options{OperationTimeout: time.Minute, checkInterval: 5 * time.Millisecond})
	c := h.conn(h.loop(), n)
	c.waitUp(t)
	mustSetGet(t, c, "fast", "fast-value")
	f.closeGate("slow")

	done := newRecorder(t, 8)
	slow := &Request{Packet: getPacket(1, "slow"), Done: done, Deadline: c.l.deadline(50 * time.Millisecond)}
	fast := &Request{Packet: getPacket(2, "fast"), Done: done}
	c.sendAll(t, []*Request{slow, fast})
	got := done.wait(t, 1)
	if got[0].req != slow || got[0].err != ErrTimeout {
		t.Fatalf("first completion: slow=%v err %v, want the slow request with ErrTimeout", got[0].req == slow, got[0].err)
	}
	f.openGate()
	got = append(got, done.wait(t, 1)...)
	// The server answers in order: the late reply to slow came before fast's.
	if r := got[1]; r.req != fast || r.err != nil || string(r.value()) != "fast-value" || r.resp.Opaque != 2 {
		t.Fatalf("second completion: fast=%v err %v, want fast-value with opaque 2", r.req == fast, r.err)
	}
	mustSetGet(t, c, "fast", "again")
	done.none(t)
	if n.State() != StateUp {
		t.Errorf("State = %s, want up", n.State())
	}
}

// A request whose Deadline passes while the server holds its answer fails
// with ErrTimeout at that deadline, long before OperationTimeout, and the
// connection stays up (it is not taken for hung before OperationTimeout).
func TestRequestDeadline(t *testing.T) {
	f := startFakeKV(t, fakeConfig{})
	log := newStateLog()
	h := newHarness(t)
	n := h.node(f.addr, log.options(Options{OperationTimeout: time.Minute, checkInterval: 5 * time.Millisecond}))
	c := h.conn(h.loop(), n)
	c.waitUp(t)
	f.closeGate("held")
	const d = 60 * time.Millisecond
	done := newRecorder(t, 4)
	start := time.Now()
	if err := c.send(&Request{Packet: setPacket(3, "held", "x"), Done: done, Deadline: c.l.deadline(d)}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	r := done.wait(t, 1)[0]
	if r.err != ErrTimeout {
		t.Fatalf("err = %v, want ErrTimeout", r.err)
	}
	if el := r.at.Sub(start); el < d || el > d+2*time.Second {
		t.Errorf("failed after %v, want between %v and %v", el, d, d+2*time.Second)
	}
	if got := log.errCount(KindTimeout); got != 1 {
		t.Errorf("timeout errors = %d, want 1", got)
	}
	if up, pending := c.up(); !up || pending != 0 {
		t.Errorf("after the timeout: up %v pending %d, want up with 0", up, pending)
	}
	// A deadline already in the past is failed by the next check at the
	// latest, even though the server never answers it.
	if err := c.send(&Request{Packet: getPacket(4, "held"), Done: done, Deadline: c.l.deadline(-time.Second)}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if r := done.wait(t, 1)[0]; r.err != ErrTimeout {
		t.Errorf("past deadline: err = %v, want ErrTimeout", r.err)
	}
	// The held answers come late and are discarded; the next request is
	// answered.
	f.openGate()
	if got := roundTrip(t, c, getPacket(5, "other")); got.err != nil || got.resp.Status != memcached.StatusKeyENOENT {
		t.Errorf("GET other: err %v status %s, want KEY_ENOENT", got.err, got.resp.Status)
	}
	done.none(t)
}

// Nothing listens: Send answers ErrConnecting before the first attempt has
// failed (the request may wait for it, not counted as down), ErrNodeDown
// after (counted), and the connection keeps retrying.
func TestNodeDownFailsFast(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	log := newStateLog()
	h := newHarness(t)
	n := h.node(addr, log.options(Options{MinBackoff: 5 * time.Millisecond, MaxBackoff: 10 * time.Millisecond}))
	l := h.loop()
	var first error
	c := &testConn{l: l, closed: make(chan struct{})}
	l.do(func() {
		c.Conn = NewConn(n, l.lp, func() {
			if c.closes.Add(1) == 1 {
				close(c.closed)
			}
		})
		first = c.Send(&Request{Packet: getPacket(1, "k"), Done: newRecorder(t, 1)})
	})
	h.conns = append(h.conns, c)
	if first != ErrConnecting {
		t.Errorf("Send while connecting = %v, want ErrConnecting", first)
	}
	if got := log.errCount(KindDown); got != 0 {
		t.Errorf("down errors while connecting = %d, want 0", got)
	}
	waitState(t, n, StateDown)
	if err := c.send(&Request{Packet: getPacket(1, "k"), Done: newRecorder(t, 1)}); err != ErrNodeDown {
		t.Errorf("Send while down = %v, want ErrNodeDown", err)
	}
	if got := log.errCount(KindDown); got != 1 {
		t.Errorf("down errors counted by a Send while down = %d, want 1", got)
	}
	waitFor(t, "retries", func() bool { return log.errCount(KindIO) >= 4 })
	if err := n.LastError(); err == nil || !strings.Contains(err.Error(), "dial") {
		t.Errorf("LastError = %v, want the dial error", err)
	}
	if got := n.Conns(); got != 0 {
		t.Errorf("Conns = %d, want 0", got)
	}
}

// A server that accepts and never answers the handshake: Send answers
// ErrConnecting for the whole ConnectTimeout, then ErrNodeDown, and the
// error says the bootstrap did not finish in time.
func TestConnectingUntilBootstrapTimeout(t *testing.T) {
	f := startFakeKV(t, fakeConfig{})
	f.setHang(true)
	log := newStateLog()
	const connectTimeout = 300 * time.Millisecond
	h := newHarness(t)
	n := h.node(f.addr, log.options(Options{ConnectTimeout: connectTimeout, MinBackoff: time.Minute, MaxBackoff: time.Minute}))
	start := time.Now()
	c := h.conn(h.loop(), n)
	for time.Since(start) < connectTimeout/2 {
		if err := c.send(&Request{Packet: getPacket(1, "k"), Done: newRecorder(t, 1)}); err != ErrConnecting {
			t.Fatalf("Send %v after NewConn = %v, want ErrConnecting", time.Since(start), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitState(t, n, StateDown)
	if el := time.Since(start); el < connectTimeout {
		t.Errorf("down after %v, before ConnectTimeout %v", el, connectTimeout)
	}
	if err := c.send(&Request{Packet: getPacket(1, "k"), Done: newRecorder(t, 1)}); err != ErrNodeDown {
		t.Errorf("Send after the failed attempt = %v, want ErrNodeDown", err)
	}
	if err := n.LastError(); err == nil || !strings.Contains(err.Error(), "bootstrap did not finish within 300ms") {
		t.Errorf("LastError = %v, want the bootstrap timeout", err)
	}
	if got, want := log.errCount(KindIO), 1; got != want {
		t.Errorf("io errors = %d, want %d", got, want)
	}
	if got := log.errCount(KindDown); got != 1 {
		t.Errorf("down errors = %d, want 1", got)
	}
}

func TestSendBadRequest(t *testing.T) {
	f := startFakeKV(t, fakeConfig{})
	h := newHarness(t)
	n := h.node(f.addr, Options{})
	c := h.conn(h.loop(), n)
	c.waitUp(t)
	good := getPacket(1, "key")
	mutate := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	done := newRecorder(t, 8)
	tests := []struct {
		name string
		r    Request
	}{
		{"no completer", Request{Packet: good}},
		{"short packet", Request{Packet: good[:20], Done: done}},
		{"empty packet", Request{Done: done}},
		{"response magic", Request{Packet: mutate(func(b []byte) []byte { b[0] = memcached.MagicResponse; return b }), Done: done}},
		{"body length too long", Request{Packet: mutate(func(b []byte) []byte { b[11]++; return b }), Done: done}},
		{"trailing bytes", Request{Packet: append(append([]byte(nil), good...), 0), Done: done}},
		{"key longer than body", Request{Packet: mutate(func(b []byte) []byte { b[3] = 200; return b }), Done: done}},
		{"extras longer than body", Request{Packet: mutate(func(b []byte) []byte { b[4] = 200; return b }), Done: done}},
		{"quiet opcode", Request{Packet: mutate(func(b []byte) []byte { b[1] = byte(memcached.OpGetQ); return b }), Done: done}},
		{"quiet SETQ", Request{Packet: mutate(func(b []byte) []byte { b[1] = byte(memcached.OpSetQ); return b }), Done: done}},
	}
	for _, tt := range tests {
		if err := c.send(&tt.r); err != ErrBadRequest {
			t.Errorf("%s: Send = %v, want ErrBadRequest", tt.name, err)
		}
	}
	if _, pending := c.up(); pending != 0 {
		t.Errorf("Pending = %d after refused sends, want 0", pending)
	}
	mustSetGet(t, c, "still", "works")
	done.none(t)
}

// A server that answers part of what it was sent and closes, the end of
// stream arriving with the last answers (queued before the loop reads):
// the answered requests complete, the rest fail with ErrConnClosed at once
// (the end of stream is seen in the same read burst, not after
// OperationTimeout), and the connection reconnects.
func TestServerAnswersThenCloses(t *testing.T) {
	const sent, answered = 4, 2
	reqLen := len(getPacket(0, "k"))
	first := true
	var mu sync.Mutex
	addr := startPlainServer(t, func(nc net.Conn) {
		mu.Lock()
		once := first
		first = false
		mu.Unlock()
		if !once {
			_, _ = io.Copy(io.Discard, nc) // the reconnection: stay open
			return
		}
		buf := make([]byte, sent*reqLen)
		if _, err := io.ReadFull(nc, buf); err != nil {
			return
		}
		out, _ := answerAll(buf[:answered*reqLen], nil)
		_, _ = nc.Write(out) // then return: the close follows the answers
	})
	h := newHarness(t)
	n := h.node(addr, Options{OperationTimeout: time.Minute, MinBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	c := h.conn(h.loop(), n)
	c.waitUp(t)
	done := newRecorder(t, sent)
	c.sendAll(t, getRequests(sent, "k", done, 0))
	// Hold the loop while the server answers and closes, so that the
	// answers and the end of stream are both queued when it reads.
	c.l.lp.Post(func() { time.Sleep(200 * time.Millisecond) })
	start := time.Now()
	for i, r := range done.wait(t, sent) {
		switch {
		case i < answered:
			if r.err != nil || r.resp.Status != memcached.StatusSuccess || string(r.value()) != "k" {
				t.Errorf("request %d: err %v status %s, want its answer", i, r.err, r.resp.Status)
			}
		case r.err != ErrConnClosed:
			t.Errorf("request %d: err %v, want ErrConnClosed", i, r.err)
		}
		if el := r.at.Sub(start); el > 5*time.Second {
			t.Errorf("request %d completed %v after the close, want at once", i, el)
		}
	}
	c.waitUp(t) // reconnected
}
