package upstream

import (
	"net"
	"slices"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
)

// sendN sends n GETs through p, failing the test on a Send error.
func sendN(t *testing.T, p *Pool, done Completer, n int, deadline time.Time) []*Request {
	t.Helper()
	reqs := make([]*Request, n)
	for i := range reqs {
		reqs[i] = &Request{Packet: getPacket(uint32(i), "k"), Done: done, Deadline: deadline}
		if err := p.Send(reqs[i]); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
	}
	return reqs
}

// A server that stops answering: in-flight requests fail with ErrTimeout,
// the connection is closed as hung and the pool goes down, then comes back
// up when the server answers again.
func TestHungServer(t *testing.T) {
	f := startFakeKV(t, fakeConfig{})
	log := newStateLog()
	p := NewPool(f.addr, log.options(Options{
		PoolSize: 1, OperationTimeout: time.Second, ConnectTimeout: time.Second, checkInterval: 10 * time.Millisecond,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
	}))
	t.Cleanup(func() { p.Close() })
	waitState(t, p, StateUp)
	mustSetGet(t, p, "k", "v")

	f.setHang(true)
	done := newOnceDone(t, 64)
	sendN(t, p, done, 20, time.Time{})
	for _, r := range done.wait(t, 20) {
		if r.Err != ErrTimeout {
			t.Errorf("hung request: err %v, want ErrTimeout", r.Err)
		}
		if r.Node != f.addr {
			t.Errorf("Node = %q, want %q", r.Node, f.addr)
		}
	}
	waitState(t, p, StateDown)
	if got := log.errCount(KindTimeout); got != 20 {
		t.Errorf("timeout errors = %d, want 20", got)
	}

	f.setHang(false)
	waitState(t, p, StateUp)
	mustSetGet(t, p, "k2", "v2")
	want := []State{StateConnecting, StateUp, StateDown, StateUp}
	if got := log.history(); !slices.Equal(got, want) {
		t.Errorf("states = %v, want %v", got, want)
	}
}

// A server that closes its connections: in-flight requests fail with
// ErrConnClosed (not by timeout: the timeout is long), and the pool
// reconnects.
func TestServerClosesConnection(t *testing.T) {
	f := startFakeKV(t, fakeConfig{})
	log := newStateLog()
	p := NewPool(f.addr, log.options(Options{
		PoolSize: 2, OperationTimeout: time.Minute, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
	}))
	t.Cleanup(func() { p.Close() })
	waitState(t, p, StateUp)
	waitFor(t, "two connections", func() bool { return p.Conns() == 2 })

	f.setDropData(true)
	done := newOnceDone(t, 64)
	reqs := sendN(t, p, done, 30, time.Time{})
	waitFor(t, "requests in flight", func() bool {
		return p.conns[0].pending.Load()+p.conns[1].pending.Load() == int32(len(reqs)) &&
			p.conns[0].owed.Load()+p.conns[1].owed.Load() == int64(len(reqs))
	})
	f.setDropData(false)
	f.closeConns()
	for _, r := range done.wait(t, len(reqs)) {
		if r.Err != ErrConnClosed {
			t.Errorf("err = %v, want ErrConnClosed", r.Err)
		}
	}
	waitFor(t, "reconnected", func() bool { return p.Conns() == 2 })
	mustSetGet(t, p, "after", "close")
	if got := log.errCount(KindIO); got < 2 {
		t.Errorf("io errors = %d, want >= 2 (one per lost connection)", got)
	}
}

func TestQueueFull(t *testing.T) {
	f := startFakeKV(t, fakeConfig{})
	log := newStateLog()
	p := NewPool(f.addr, log.options(Options{PoolSize: 1, QueueSize: 4, OperationTimeout: time.Minute}))
	waitState(t, p, StateUp)
	f.closeGate("*")
	done := newOnceDone(t, 8)
	sendN(t, p, done, 4, time.Time{})
	r := &Request{Packet: getPacket(9, "k"), Done: done}
	if err := p.Send(r); err != ErrQueueFull {
		t.Fatalf("fifth Send = %v, want ErrQueueFull", err)
	}
	if got := log.errCount(KindQueueFull); got != 1 {
		t.Errorf("queue_full errors = %d, want 1", got)
	}
	f.openGate()
	for _, r := range done.wait(t, 4) {
		if r.Err != nil {
			t.Errorf("err = %v, want a response", r.Err)
		}
	}
	if err := p.Send(r); err != nil {
		t.Errorf("Send after the queue drained = %v, want nil", err)
	}
	done.wait(t, 1)
	p.Close()
	select {
	case r := <-done.ch:
		t.Errorf("unexpected extra completion: %v", r.Err)
	default:
	}
}

// A response that arrives after its request timed out is discarded: the
// request completes once, with ErrTimeout, and the connection carries on.
func TestLateResponseDiscarded(t *testing.T) {
	f := startFakeKV(t, fakeConfig{})
	// A long operation timeout (the connection is not taken for hung) and a
	// short check interval: the slow request fails by its own deadline while
	// the server holds its answer, which is released afterwards.
	p := NewPool(f.addr, Options{PoolSize: 1, OperationTimeout: time.Minute, checkInterval: 5 * time.Millisecond})
	t.Cleanup(func() { p.Close() })
	waitState(t, p, StateUp)
	mustSetGet(t, p, "fast", "fast-value")
	f.closeGate("slow")

	done := newOnceDone(t, 8)
	slow := &Request{Packet: getPacket(1, "slow"), Done: done, Deadline: time.Now().Add(50 * time.Millisecond)}
	fast := &Request{Packet: getPacket(2, "fast"), Done: done}
	for _, r := range []*Request{slow, fast} {
		if err := p.Send(r); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	got := done.wait(t, 1)
	if got[0] != slow || slow.Err != ErrTimeout {
		t.Fatalf("first completion: slow=%v err %v, want the slow request with ErrTimeout", got[0] == slow, got[0].Err)
	}
	f.openGate()
	got = append(got, done.wait(t, 1)...)
	// The server answers in order: the late reply to slow came before fast's.
	if got[1] != fast || fast.Err != nil || string(respValue(fast)) != "fast-value" || fast.Resp.Opaque != 2 {
		t.Fatalf("second completion: fast=%v err %v, want fast-value with opaque 2", got[1] == fast, got[1].Err)
	}
	mustSetGet(t, p, "fast", "again")
	if p.State() != StateUp {
		t.Errorf("State = %s, want up", p.State())
	}
}

// An expired request still in the queue is failed, not sent.
func TestExpiredBeforeWrite(t *testing.T) {
	f := startFakeKV(t, fakeConfig{})
	p := NewPool(f.addr, Options{PoolSize: 1})
	t.Cleanup(func() { p.Close() })
	waitState(t, p, StateUp)
	done := newOnceDone(t, 2)
	r := &Request{Packet: setPacket(3, "never", "x"), Done: done, Deadline: time.Now().Add(-time.Second)}
	if err := p.Send(r); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got := done.wait(t, 1)[0]; got.Err != ErrTimeout {
		t.Errorf("err = %v, want ErrTimeout", got.Err)
	}
	if g := roundTrip(t, p, getPacket(4, "never")); g.Err != nil || g.Resp.Status != memcached.StatusKeyENOENT {
		t.Errorf("GET never: err %v status %s, want KEY_ENOENT (the expired SET must not be sent)", g.Err, g.Resp.Status)
	}
}

func TestNodeDownFailsFast(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	log := newStateLog()
	p := NewPool(addr, log.options(Options{MinBackoff: 5 * time.Millisecond, MaxBackoff: 10 * time.Millisecond}))
	t.Cleanup(func() { p.Close() })
	if err := p.Send(&Request{Packet: getPacket(1, "k"), Done: make(chanDone, 1)}); err != ErrNodeDown {
		t.Errorf("Send while connecting = %v, want ErrNodeDown", err)
	}
	waitState(t, p, StateDown)
	before := log.errCount(KindDown)
	if err := p.Send(&Request{Packet: getPacket(1, "k"), Done: make(chanDone, 1)}); err != ErrNodeDown {
		t.Errorf("Send while down = %v, want ErrNodeDown", err)
	}
	if got := log.errCount(KindDown) - before; got != 1 {
		t.Errorf("down errors counted by a Send while down = %d, want 1", got)
	}
	waitFor(t, "retries", func() bool { return log.errCount(KindIO) >= 4 })
	if p.LastError() == nil {
		t.Error("LastError = nil, want the dial error")
	}
}

func TestSendBadRequest(t *testing.T) {
	f := startFakeKV(t, fakeConfig{})
	p := NewPool(f.addr, Options{PoolSize: 1})
	t.Cleanup(func() { p.Close() })
	waitState(t, p, StateUp)
	good := getPacket(1, "key")
	mutate := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	tests := []struct {
		name string
		r    Request
	}{
		{"no completer", Request{Packet: good}},
		{"short packet", Request{Packet: good[:20], Done: make(chanDone, 1)}},
		{"response magic", Request{Packet: mutate(func(b []byte) []byte { b[0] = memcached.MagicResponse; return b }), Done: make(chanDone, 1)}},
		{"body length too long", Request{Packet: mutate(func(b []byte) []byte { b[11]++; return b }), Done: make(chanDone, 1)}},
		{"trailing bytes", Request{Packet: append(append([]byte(nil), good...), 0), Done: make(chanDone, 1)}},
		{"key longer than body", Request{Packet: mutate(func(b []byte) []byte { b[3] = 200; return b }), Done: make(chanDone, 1)}},
		{"quiet opcode", Request{Packet: mutate(func(b []byte) []byte { b[1] = byte(memcached.OpGetQ); return b }), Done: make(chanDone, 1)}},
	}
	for _, tt := range tests {
		if err := p.Send(&tt.r); err != ErrBadRequest {
			t.Errorf("%s: Send = %v, want ErrBadRequest", tt.name, err)
		}
	}
	mustSetGet(t, p, "still", "works")
}

// Close lets requests already sent finish, then fails nothing that was
// answered.
func TestCloseDrains(t *testing.T) {
	f := startFakeKV(t, fakeConfig{Delay: map[string]time.Duration{"slowish": 100 * time.Millisecond}})
	check := checkGoroutines(t)
	log := newStateLog()
	p := NewPool(f.addr, log.options(Options{PoolSize: 1, OperationTimeout: 10 * time.Second}))
	waitState(t, p, StateUp)
	done := newOnceDone(t, 16)
	for i := range 5 {
		r := &Request{Packet: getPacket(uint32(i), "slowish"), Done: done}
		if err := p.Send(r); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	p.Close()
	for _, r := range done.wait(t, 5) {
		if r.Err != nil || r.Resp.Status != memcached.StatusKeyENOENT {
			t.Errorf("drained request: err %v status %s, want KEY_ENOENT", r.Err, r.Resp.Status)
		}
	}
	if h := log.history(); h[len(h)-1] != StateDown {
		t.Errorf("states = %v, want down last", h)
	}
	f.close()
	check()
}

// Close of a pool whose server never answers fails the requests once the
// operation timeout has passed, and returns.
func TestCloseUnanswered(t *testing.T) {
	f := startFakeKV(t, fakeConfig{})
	check := checkGoroutines(t)
	p := NewPool(f.addr, Options{PoolSize: 2, OperationTimeout: 200 * time.Millisecond})
	waitState(t, p, StateUp)
	f.setDropData(true)
	done := newOnceDone(t, 16)
	sendN(t, p, done, 10, time.Now().Add(time.Hour))
	p.Close()
	for _, r := range done.wait(t, 10) {
		if r.Err != ErrConnClosed && r.Err != ErrTimeout {
			t.Errorf("err = %v, want ErrConnClosed or ErrTimeout", r.Err)
		}
	}
	f.close()
	check()
}

// Close while the pool cannot connect returns promptly and leaks nothing.
func TestCloseWhileConnecting(t *testing.T) {
	f := startFakeKV(t, fakeConfig{})
	f.setHang(true) // bootstrap never answered
	check := checkGoroutines(t)
	p := NewPool(f.addr, Options{ConnectTimeout: time.Minute})
	p.Close()
	if err := p.Send(&Request{Packet: getPacket(1, "k"), Done: make(chanDone, 1)}); err != ErrClosed {
		t.Errorf("Send after Close = %v, want ErrClosed", err)
	}
	p.Close() // twice is harmless
	f.close()
	check()
}
