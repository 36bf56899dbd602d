package upstream

import (
	"bytes"
	"fmt"
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
	// A bucket is configured but the node is plain memcached: HELLO answers
	// UNKNOWN_COMMAND, so SELECT_BUCKET is skipped.
	p := NewPool(addr, log.options(Options{Bucket: "default"}))
	t.Cleanup(func() { p.Close() })
	waitState(t, p, StateUp)
	waitFor(t, "two connections up", func() bool { return p.Conns() == 2 })

	set := setPacket(0xdeadbeef, "k1", "hello")
	orig := bytes.Clone(set)
	r := roundTrip(t, p, set)
	if r.Err != nil {
		t.Fatalf("SET: %v", r.Err)
	}
	if r.Resp.Status != memcached.StatusSuccess || r.Resp.Opcode != memcached.OpSet {
		t.Errorf("SET response = %s %s, want SET SUCCESS", r.Resp.Opcode, r.Resp.Status)
	}
	if r.Resp.Opaque != 0xdeadbeef || wireOpaque(r.RespBuf) != 0xdeadbeef {
		t.Errorf("response opaque = %#x (header) %#x (buffer), want 0xdeadbeef", r.Resp.Opaque, wireOpaque(r.RespBuf))
	}
	if !bytes.Equal(r.Packet, orig) {
		t.Errorf("request packet modified:\n got %x\nwant %x", r.Packet, orig)
	}
	if r.Node != addr {
		t.Errorf("Node = %q, want %q", r.Node, addr)
	}

	r = roundTrip(t, p, getPacket(42, "k1"))
	if r.Err != nil || r.Resp.Status != memcached.StatusSuccess {
		t.Fatalf("GET: err %v status %s", r.Err, r.Resp.Status)
	}
	if got := string(respValue(r)); got != "hello" {
		t.Errorf("GET value = %q, want %q", got, "hello")
	}
	if r.Resp.Opaque != 42 {
		t.Errorf("GET opaque = %d, want 42", r.Resp.Opaque)
	}

	r = roundTrip(t, p, getPacket(43, "missing"))
	if r.Err != nil || r.Resp.Status != memcached.StatusKeyENOENT {
		t.Errorf("GET missing: err %v status %s, want KEY_ENOENT", r.Err, r.Resp.Status)
	}
	if got := log.history(); len(got) < 2 || got[0] != StateConnecting || got[1] != StateUp {
		t.Errorf("states = %v, want [connecting up]", got)
	}
}

// Many goroutines pipeline thousands of requests over the two shared
// connections; every one completes exactly once with its own response, found
// by the restored opaque.
func TestMemcachedPipelinedManyGoroutines(t *testing.T) {
	addr := mctest.Start(t, "-t", "2")
	p := NewPool(addr, Options{QueueSize: 8192, OperationTimeout: time.Minute}) // slow CI machines
	t.Cleanup(func() { p.Close() })
	waitState(t, p, StateUp)

	const workers, perWorker = 16, 400
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			key := func(i int) string { return fmt.Sprintf("pipe-%d-%d", w, i) }
			val := func(i int) string { return fmt.Sprintf("value-%d-%d-%s", w, i, bytes.Repeat([]byte{'x'}, i%200)) }
			for phase, build := range []func(i int) []byte{
				func(i int) []byte { return setPacket(uint32(w<<16|i), key(i), val(i)) },
				func(i int) []byte { return getPacket(uint32(w<<16|i), key(i)) },
			} {
				done := newOnceDone(t, perWorker)
				reqs := make([]*Request, perWorker)
				for i := range reqs {
					reqs[i] = &Request{Packet: build(i), Done: done}
					if err := p.Send(reqs[i]); err != nil {
						t.Errorf("worker %d phase %d Send %d: %v", w, phase, i, err)
						return
					}
				}
				for _, r := range done.wait(t, perWorker) {
					i := int(r.Resp.Opaque & 0xffff)
					if r.Err != nil || r.Resp.Opaque>>16 != uint32(w) || i >= perWorker || r != reqs[i] {
						t.Errorf("worker %d phase %d: err %v opaque %#x for request %p", w, phase, r.Err, r.Resp.Opaque, r)
						return
					}
					if r.Resp.Status != memcached.StatusSuccess {
						t.Errorf("worker %d phase %d request %d: status %s", w, phase, i, r.Resp.Status)
						return
					}
					if phase == 1 && string(respValue(r)) != val(i) {
						t.Errorf("GET %s = %q, want %q", key(i), respValue(r), val(i))
						return
					}
				}
			}
		})
	}
	wg.Wait()
}

// A Request is reused for a second send after it completes, to the same or
// another pool, as the session does on NOT_MY_VBUCKET.
func TestMemcachedResendSameRequest(t *testing.T) {
	a, b := mctest.Start(t, "-t", "2"), mctest.Start(t, "-t", "2")
	pa, pb := NewPool(a, Options{}), NewPool(b, Options{PoolSize: 1})
	t.Cleanup(func() { pa.Close(); pb.Close() })
	waitState(t, pa, StateUp)
	waitState(t, pb, StateUp)
	mustSetGet(t, pb, "resend", "on-b")

	done := make(chanDone, 1)
	r := &Request{Packet: getPacket(99, "resend"), Done: done}
	for i, p := range []*Pool{pa, pb, pa, pb} {
		if err := p.Send(r); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		<-done
		want := memcached.StatusKeyENOENT
		if p == pb {
			want = memcached.StatusSuccess
		}
		if r.Err != nil || r.Resp.Status != want || r.Resp.Opaque != 99 || r.Node != p.Addr() {
			t.Fatalf("send %d to %s: err %v status %s opaque %d node %s, want %s opaque 99",
				i, p.Addr(), r.Err, r.Resp.Status, r.Resp.Opaque, r.Node, want)
		}
	}
}

func TestMemcachedCloseLeaksNoGoroutines(t *testing.T) {
	addr := mctest.Start(t, "-t", "2")
	check := checkGoroutines(t)
	ps := NewPools(Options{PoolSize: 3})
	ps.Update([]string{addr})
	p := ps.Get(addr)
	waitState(t, p, StateUp)
	for i := range 50 {
		mustSetGet(t, p, fmt.Sprintf("leak-%d", i), "v")
	}
	ps.Close()
	if got := p.Send(&Request{Packet: getPacket(1, "x"), Done: make(chanDone, 1)}); got != ErrClosed {
		t.Errorf("Send after Close = %v, want ErrClosed", got)
	}
	if got := p.State(); got != StateDown {
		t.Errorf("State after Close = %s, want down", got)
	}
	check()
}
