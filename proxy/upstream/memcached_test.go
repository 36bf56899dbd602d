package upstream

import (
	"bytes"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/internal/mctest"
	"github.com/vbproxy/vbproxy/memcached"
)

// Tests against a real memcached: no credentials, HELLO answered
// UNKNOWN_COMMAND, no SELECT_BUCKET.

func TestMemcachedRoundTrip(t *testing.T) {
	addr := mctest.Start(t, "-t", "2")
	log := newStateLog()
	h := newHarness(t)
	// A bucket is configured but the node is plain memcached: HELLO answers
	// UNKNOWN_COMMAND, so SELECT_BUCKET is skipped.
	n := h.node(addr, log.options(Options{Bucket: "default"}))
	l := h.loop()
	c, c2 := h.conn(l, n), h.conn(l, n)
	c.waitUp(t)
	c2.waitUp(t)
	if got := n.Conns(); got != 2 {
		t.Errorf("Conns = %d, want 2", got)
	}

	set := setPacket(0xdeadbeef, "k1", "hello")
	orig := bytes.Clone(set)
	r := roundTrip(t, c, set)
	if r.err != nil {
		t.Fatalf("SET: %v", r.err)
	}
	if r.resp.Status != memcached.StatusSuccess || r.resp.Opcode != memcached.OpSet {
		t.Errorf("SET response = %s %s, want SET SUCCESS", r.resp.Opcode, r.resp.Status)
	}
	if r.resp.Opaque != 0xdeadbeef || wireOpaque(r.pkt) != 0xdeadbeef {
		t.Errorf("response opaque = %#x (header) %#x (buffer), want 0xdeadbeef", r.resp.Opaque, wireOpaque(r.pkt))
	}
	if !bytes.Equal(set, orig) {
		t.Errorf("request packet modified:\n got %x\nwant %x", set, orig)
	}
	if r.node != addr {
		t.Errorf("Node = %q, want %q", r.node, addr)
	}

	r = roundTrip(t, c2, getPacket(42, "k1"))
	if r.err != nil || r.resp.Status != memcached.StatusSuccess {
		t.Fatalf("GET: err %v status %s", r.err, r.resp.Status)
	}
	if got := string(r.value()); got != "hello" {
		t.Errorf("GET value = %q, want %q", got, "hello")
	}
	if r.resp.Opaque != 42 {
		t.Errorf("GET opaque = %d, want 42", r.resp.Opaque)
	}

	r = roundTrip(t, c, getPacket(43, "missing"))
	if r.err != nil || r.resp.Status != memcached.StatusKeyENOENT {
		t.Errorf("GET missing: err %v status %s, want KEY_ENOENT", r.err, r.resp.Status)
	}
	if got, want := log.history(), []State{StateConnecting, StateUp}; !slices.Equal(got, want) {
		t.Errorf("states = %v, want %v", got, want)
	}
}

// Workers on two loops pipeline thousands of requests over two connections
// per loop, each batch sent in one round; every one completes exactly once
// with its own response, found by the restored opaque.
func TestMemcachedPipelined(t *testing.T) {
	addr := mctest.Start(t, "-t", "2")
	h := newHarness(t)
	n := h.node(addr, Options{QueueSize: 8192, OperationTimeout: time.Minute}) // slow CI machines
	loops := []*testLoop{h.loop(), h.loop()}
	var conns []*testConn
	for _, l := range loops {
		conns = append(conns, h.conn(l, n), h.conn(l, n))
	}
	for _, c := range conns {
		c.waitUp(t)
	}

	const workers, perWorker = 8, 400
	var wg sync.WaitGroup
	for w := range workers {
		c := conns[w%len(conns)]
		wg.Go(func() {
			key := func(i int) string { return fmt.Sprintf("pipe-%d-%d", w, i) }
			val := func(i int) string { return fmt.Sprintf("value-%d-%d-%s", w, i, bytes.Repeat([]byte{'x'}, i%200)) }
			for phase, build := range []func(i int) []byte{
				func(i int) []byte { return setPacket(uint32(w<<16|i), key(i), val(i)) },
				func(i int) []byte { return getPacket(uint32(w<<16|i), key(i)) },
			} {
				done := newRecorder(t, perWorker)
				reqs := make([]*Request, perWorker)
				for i := range reqs {
					reqs[i] = &Request{Packet: build(i), Done: done}
				}
				var err error
				if !c.l.try(func() {
					for _, r := range reqs {
						if err = c.Send(r); err != nil {
							return
						}
					}
				}) || err != nil {
					t.Errorf("worker %d phase %d: Send: %v", w, phase, err)
					return
				}
				timeout := time.After(waitBound)
				for range perWorker {
					var r result
					select {
					case r = <-done.ch:
					case <-timeout:
						t.Errorf("worker %d phase %d: completions missing", w, phase)
						return
					}
					i := int(r.resp.Opaque & 0xffff)
					if r.err != nil || r.resp.Opaque>>16 != uint32(w) || i >= perWorker || r.req != reqs[i] {
						t.Errorf("worker %d phase %d: err %v opaque %#x for request %p", w, phase, r.err, r.resp.Opaque, r.req)
						return
					}
					if r.resp.Status != memcached.StatusSuccess {
						t.Errorf("worker %d phase %d request %d: status %s", w, phase, i, r.resp.Status)
						return
					}
					if phase == 1 && string(r.value()) != val(i) {
						t.Errorf("GET %s = %q, want %q", key(i), r.value(), val(i))
						return
					}
				}
			}
		})
	}
	wg.Wait()
}

// A Request is reused for a second send after it completes, to another
// connection (another node), as the session does on NOT_MY_VBUCKET: from
// the test goroutine, and from within Complete.
func TestMemcachedResendSameRequest(t *testing.T) {
	a, b := mctest.Start(t, "-t", "2"), mctest.Start(t, "-t", "2")
	h := newHarness(t)
	l := h.loop()
	ca, cb := h.conn(l, h.node(a, Options{})), h.conn(l, h.node(b, Options{}))
	ca.waitUp(t)
	cb.waitUp(t)
	mustSetGet(t, cb, "resend", "on-b")

	done := newRecorder(t, 1)
	r := &Request{Packet: getPacket(99, "resend"), Done: done}
	for i, c := range []*testConn{ca, cb, ca, cb} {
		if err := c.send(r); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		got := done.wait(t, 1)[0]
		done.forget(r)
		want := memcached.StatusKeyENOENT
		if c == cb {
			want = memcached.StatusSuccess
		}
		if got.err != nil || got.resp.Status != want || got.resp.Opaque != 99 || got.node != c.Node().Addr() {
			t.Fatalf("send %d to %s: err %v status %s opaque %d node %s, want %s opaque 99",
				i, c.Node().Addr(), got.err, got.resp.Status, got.resp.Opaque, got.node, want)
		}
	}

	// From within Complete: the miss on a is sent on to b at once.
	results := make(chan result, 2)
	var resent bool
	r.Done = CompleterFunc(func(r *Request) {
		checkRespBuf(t, r)
		results <- result{req: r, err: r.Err, resp: r.Resp, pkt: bytes.Clone(r.RespBuf), node: r.Node}
		if !resent {
			resent = true
			if err := cb.Send(r); err != nil {
				t.Errorf("Send from Complete: %v", err)
			}
		}
	})
	if err := ca.send(r); err != nil {
		t.Fatalf("send: %v", err)
	}
	for i, want := range []struct {
		node   string
		status memcached.Status
		value  string
	}{{a, memcached.StatusKeyENOENT, "Not found"}, {b, memcached.StatusSuccess, "on-b"}} {
		var got result
		select {
		case got = <-results:
		case <-time.After(waitBound):
			t.Fatalf("completion %d missing", i)
		}
		if got.err != nil || got.node != want.node || got.resp.Status != want.status || string(got.value()) != want.value {
			t.Errorf("completion %d: node %s err %v status %s value %q, want %s %s %q",
				i, got.node, got.err, got.resp.Status, got.value(), want.node, want.status, want.value)
		}
	}
}

// Many round trips, then Close: every goroutine the node and its
// connections started (dials, bootstraps) and the loops end, and every
// descriptor is closed.
func TestMemcachedCloseLeaksNothing(t *testing.T) {
	addr := mctest.Start(t, "-t", "2")
	check, checkFD := checkGoroutines(t), checkFDs(t)
	log := newStateLog()
	h := newHarness(t)
	n := h.node(addr, log.options(Options{}))
	l := h.loop()
	conns := []*testConn{h.conn(l, n), h.conn(l, n), h.conn(l, n)}
	for _, c := range conns {
		c.waitUp(t)
	}
	for i := range 50 {
		mustSetGet(t, conns[i%len(conns)], fmt.Sprintf("leak-%d", i), "v")
	}
	for _, c := range conns {
		c.close()
		c.waitClosed(t)
		if err := c.send(&Request{Packet: getPacket(1, "x"), Done: newRecorder(t, 1)}); err != ErrClosed {
			t.Errorf("Send after Close = %v, want ErrClosed", err)
		}
	}
	if got := n.Conns(); got != 0 {
		t.Errorf("Conns after Close = %d, want 0", got)
	}
	h.teardown()
	if got := n.State(); got != StateDown {
		t.Errorf("State after Close = %s, want down", got)
	}
	if got, want := log.history(), []State{StateConnecting, StateUp, StateDown}; !slices.Equal(got, want) {
		t.Errorf("states = %v, want %v", got, want)
	}
	check()
	checkFD()
}
