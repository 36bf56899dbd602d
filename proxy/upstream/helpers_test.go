package upstream

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
	"github.com/vbproxy/vbproxy/proxy/eventloop"
)

// The test harness: event loops running on goroutines, Nodes and the Conns
// on those loops, and completers that copy each completion (during
// Complete, while RespBuf is valid) and hand it to the test goroutine.
//
// Conn methods run only on their loop's thread: tests reach them with
// testLoop.do, which posts a function and waits for it.

// waitBound bounds every wait of the tests: generous, for loaded machines.
const waitBound = 20 * time.Second

// testLoop is an eventloop.Loop running on a goroutine of its own.
type testLoop struct {
	t  testing.TB
	lp *eventloop.Loop
}

// do runs fn on the loop's thread and waits for it. Test goroutine only.
func (l *testLoop) do(fn func()) {
	l.t.Helper()
	if !l.try(fn) {
		l.t.Fatalf("loop %s: a posted task did not run within %v", l.lp.Name(), waitBound)
	}
}

// try runs fn on the loop's thread and reports whether it ran within
// waitBound. Any goroutine but the loop's.
func (l *testLoop) try(fn func()) bool {
	done := make(chan struct{})
	l.lp.Post(func() { fn(); close(done) })
	select {
	case <-done:
		return true
	case <-time.After(waitBound):
		return false
	}
}

// deadline returns the loop time d from now (a Request.Deadline).
func (l *testLoop) deadline(d time.Duration) int64 { return l.lp.Clock() + int64(d) }

// testConn is a Conn with its loop and a record of its onClosed calls.
type testConn struct {
	*Conn
	l      *testLoop
	closes atomic.Int32
	closed chan struct{} // closed by the first onClosed
}

// send calls Send on the loop.
func (c *testConn) send(r *Request) error {
	c.l.t.Helper()
	var err error
	c.l.do(func() { err = c.Send(r) })
	return err
}

// sendAll sends every request in one loop round (one task): they leave in
// one write. It fails the test on the first error.
func (c *testConn) sendAll(t testing.TB, reqs []*Request) {
	t.Helper()
	var err error
	var at int
	c.l.do(func() {
		for i, r := range reqs {
			if err = c.Send(r); err != nil {
				at = i
				return
			}
		}
	})
	if err != nil {
		t.Fatalf("Send %d of %d: %v", at, len(reqs), err)
	}
}

// up reports Up and Pending, read on the loop.
func (c *testConn) up() (up bool, pending int) {
	c.l.do(func() { up, pending = c.Up(), c.Pending() })
	return up, pending
}

// waitUp waits until the connection takes requests.
func (c *testConn) waitUp(t testing.TB) {
	t.Helper()
	waitFor(t, "connection to "+c.Node().Addr()+" up", func() bool { ok, _ := c.up(); return ok })
}

// close closes the connection on the loop.
func (c *testConn) close() { c.l.do(c.Close) }

// waitClosed waits for onClosed and checks that it ran exactly once.
func (c *testConn) waitClosed(t testing.TB) {
	t.Helper()
	select {
	case <-c.closed:
	case <-time.After(waitBound):
		t.Fatalf("onClosed of the connection to %s did not run within %v", c.Node().Addr(), waitBound)
	}
	c.l.do(func() {}) // a second onClosed would run on the loop before this
	if n := c.closes.Load(); n != 1 {
		t.Errorf("onClosed ran %d times, want 1", n)
	}
}

// harness owns a test's loops, nodes and connections and tears them down
// in order: connections closed on their loops, nodes closed (which aborts
// dials still in progress), every onClosed seen, loops stopped.
type harness struct {
	t     testing.TB
	loops []*testLoop
	nodes []*Node
	conns []*testConn
	down  bool
}

func newHarness(t testing.TB) *harness {
	h := &harness{t: t}
	t.Cleanup(h.teardown)
	return h
}

// loop starts an event loop.
func (h *harness) loop() *testLoop {
	h.t.Helper()
	lp, err := eventloop.New(eventloop.Options{Name: fmt.Sprintf("test-%d", len(h.loops))})
	if err != nil {
		h.t.Fatalf("eventloop.New: %v", err)
	}
	go func() {
		if err := lp.Run(); err != nil {
			h.t.Errorf("loop Run: %v", err)
		}
	}()
	l := &testLoop{t: h.t, lp: lp}
	h.loops = append(h.loops, l)
	return l
}

// node creates a Node that teardown closes.
func (h *harness) node(addr string, o Options) *Node {
	n := NewNode(addr, o)
	h.nodes = append(h.nodes, n)
	return n
}

// conn creates a Conn to n on l (it starts dialing).
func (h *harness) conn(l *testLoop, n *Node) *testConn {
	h.t.Helper()
	c := &testConn{l: l, closed: make(chan struct{})}
	l.do(func() {
		c.Conn = NewConn(n, l.lp, func() {
			if c.closes.Add(1) == 1 {
				close(c.closed)
			}
		})
	})
	h.conns = append(h.conns, c)
	return c
}

// teardown closes everything; it runs once (tests may call it before
// checking for leaks, Cleanup calls it too).
func (h *harness) teardown() {
	if h.down {
		return
	}
	h.down = true
	for _, c := range h.conns {
		if !c.l.try(c.Close) {
			h.t.Errorf("Close on loop %s did not run", c.l.lp.Name())
		}
	}
	for _, n := range h.nodes {
		n.Close()
	}
	for _, c := range h.conns {
		select {
		case <-c.closed:
		case <-time.After(waitBound):
			h.t.Errorf("onClosed of the connection to %s did not run after Close", c.Node().Addr())
		}
	}
	for _, l := range h.loops {
		l.lp.Stop()
		select {
		case <-l.lp.Done():
		case <-time.After(waitBound):
			h.t.Errorf("loop %s did not stop", l.lp.Name())
		}
	}
}

// Packet builders.
func setPacket(opaque uint32, key, value string) []byte {
	extras := make([]byte, 8) // flags, expiry
	return memcached.AppendRequest(nil, memcached.OpSet, 0, opaque, 0, extras, []byte(key), []byte(value))
}

func getPacket(opaque uint32, key string) []byte {
	return memcached.AppendRequest(nil, memcached.OpGet, 0, opaque, 0, nil, []byte(key), nil)
}

func wireOpaque(pkt []byte) uint32 { return binary.BigEndian.Uint32(pkt[12:16]) }

// result is one completion as a Completer saw it, copied during Complete.
type result struct {
	req  *Request
	err  error
	resp memcached.Header
	pkt  []byte // a copy of RespBuf
	node string
	at   time.Time
}

// value is the response's value.
func (r result) value() []byte {
	return r.pkt[memcached.HeaderLen+int(r.resp.ExtrasLen)+int(r.resp.KeyLen):]
}

// recorder is a Completer that copies each completion to a channel and
// fails the test when one send completes twice or when RespBuf does not
// hold the response Resp describes.
type recorder struct {
	t     testing.TB
	ch    chan result
	mu    sync.Mutex
	count map[*Request]int
}

// newRecorder makes a recorder for up to n completions not yet received
// (the channel must never fill: Complete runs on the loop).
func newRecorder(t testing.TB, n int) *recorder {
	return &recorder{t: t, ch: make(chan result, n), count: map[*Request]int{}}
}

func (d *recorder) Complete(r *Request) {
	d.mu.Lock()
	d.count[r]++
	n := d.count[r]
	d.mu.Unlock()
	if n > 1 {
		d.t.Errorf("request with opaque %d completed %d times", wireOpaque(r.Packet), n)
		return
	}
	checkRespBuf(d.t, r)
	res := result{req: r, err: r.Err, resp: r.Resp, pkt: bytes.Clone(r.RespBuf), node: r.Node, at: time.Now()}
	select {
	case d.ch <- res:
	default:
		d.t.Errorf("recorder channel full (%d): the test sized it wrong", cap(d.ch))
	}
}

// checkRespBuf checks, during Complete, that a response's RespBuf is the
// whole packet Resp was decoded from, opaque restored, and that a failure
// carries neither.
func checkRespBuf(t testing.TB, r *Request) {
	if r.Err != nil {
		if r.RespBuf != nil || r.Resp != (memcached.Header{}) {
			t.Errorf("failed request (%v) has RespBuf %d bytes, Resp %+v; want none", r.Err, len(r.RespBuf), r.Resp)
		}
		return
	}
	b := r.RespBuf
	if len(b) < memcached.HeaderLen {
		t.Errorf("RespBuf is %d bytes, shorter than a header", len(b))
		return
	}
	var h memcached.Header
	h.Decode(b)
	if h != r.Resp || len(b) != memcached.HeaderLen+int(h.BodyLen) || h.Magic != memcached.MagicResponse {
		t.Errorf("RespBuf header %+v (%d bytes) does not match Resp %+v", h, len(b), r.Resp)
	}
	if want := wireOpaque(r.Packet); h.Opaque != want {
		t.Errorf("response opaque %#x, want the request's %#x", h.Opaque, want)
	}
}

// forget allows r to be sent and completed again.
func (d *recorder) forget(r *Request) {
	d.mu.Lock()
	delete(d.count, r)
	d.mu.Unlock()
}

// wait receives n completions, in completion order.
func (d *recorder) wait(t testing.TB, n int) []result {
	t.Helper()
	out := make([]result, 0, n)
	timeout := time.After(waitBound)
	for len(out) < n {
		select {
		case r := <-d.ch:
			out = append(out, r)
		case <-timeout:
			t.Fatalf("got %d completions, want %d", len(out), n)
		}
	}
	return out
}

// none checks that no completion is waiting.
func (d *recorder) none(t testing.TB) {
	t.Helper()
	select {
	case r := <-d.ch:
		t.Errorf("unexpected completion: opaque %d err %v", wireOpaque(r.req.Packet), r.err)
	default:
	}
}

// roundTrip sends one request on c and waits for its completion.
func roundTrip(t testing.TB, c *testConn, pkt []byte) result {
	t.Helper()
	d := newRecorder(t, 1)
	if err := c.send(&Request{Packet: pkt, Done: d}); err != nil {
		t.Fatalf("Send(%s): %v", memcached.Opcode(pkt[1]), err)
	}
	return d.wait(t, 1)[0]
}

// mustSetGet stores key=value through c and reads it back.
func mustSetGet(t testing.TB, c *testConn, key, value string) {
	t.Helper()
	r := roundTrip(t, c, setPacket(7, key, value))
	if r.err != nil || r.resp.Status != memcached.StatusSuccess {
		t.Fatalf("SET %s: err %v status %s, want success", key, r.err, r.resp.Status)
	}
	r = roundTrip(t, c, getPacket(8, key))
	if r.err != nil || r.resp.Status != memcached.StatusSuccess {
		t.Fatalf("GET %s: err %v status %s, want success", key, r.err, r.resp.Status)
	}
	if got := string(r.value()); got != value {
		t.Fatalf("GET %s = %q, want %q", key, got, value)
	}
}

// stateLog records OnState and OnError calls.
type stateLog struct {
	mu     sync.Mutex
	states []State
	errs   map[string]int
}

func newStateLog() *stateLog { return &stateLog{errs: map[string]int{}} }

func (l *stateLog) onState(_ string, s State) {
	l.mu.Lock()
	l.states = append(l.states, s)
	l.mu.Unlock()
}

func (l *stateLog) onError(_ string, kind string) {
	l.mu.Lock()
	l.errs[kind]++
	l.mu.Unlock()
}

func (l *stateLog) errCount(kind string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.errs[kind]
}

func (l *stateLog) history() []State {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]State(nil), l.states...)
}

func (l *stateLog) options(o Options) Options {
	o.OnState = l.onState
	o.OnError = l.onError
	return o
}

// waitState waits until the node reports state s.
func waitState(t testing.TB, n *Node, s State) {
	t.Helper()
	waitFor(t, fmt.Sprintf("node %s state %s", n.Addr(), s), func() bool { return n.State() == s })
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitBound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// checkGoroutines records the goroutine count; the function it returns
// checks that the count settles back to it.
func checkGoroutines(t testing.TB) func() {
	base := runtime.NumGoroutine()
	return func() {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= base {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				t.Fatalf("goroutines: %d after close, want <= %d (leak)\n%s", n, base, buf[:runtime.Stack(buf, true)])
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// openFDs counts the process's open descriptors.
func openFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("read /proc/self/fd: %v", err)
	}
	return len(ents)
}

// checkFDs records the open descriptor count; the function it returns
// checks that the count settles back to it.
func checkFDs(t testing.TB) func() {
	base := openFDs(t)
	return func() {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			n := openFDs(t)
			if n <= base {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("open descriptors: %d after close, want <= %d (leak)", n, base)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}
