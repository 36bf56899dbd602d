package upstream

import (
	"fmt"
	"github.com/vbproxy/vbproxy/sim"
	"github.com/vbproxy/vbproxy/vbmap"
	"runtime"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/internal/mctest"
	"github.com/vbproxy/vbproxy/memcached"
)

// Benchmarks of Send → write → read → Complete against a real memcached,
// through a running event loop. Steady state allocates nothing: the
// in-flight table, the buffers, the Requests and the Completers are reused.

// benchConn starts memcached, a loop, a node and one connection, and
// stores the key the benchmarks read.
func benchConn(b testing.TB) *testConn {
	b.Helper()
	addr := mctest.Start(b, "-t", "2")
	h := newHarness(b)
	c := h.conn(h.loop(), h.node(addr, Options{}))
	c.waitUp(b)
	if r := roundTrip(b, c, setPacket(1, "bench", "value-of-the-benchmark-key")); r.err != nil || r.resp.Status != memcached.StatusSuccess {
		b.Fatalf("SET: %v %s", r.err, r.resp.Status)
	}
	return c
}

// chanDone hands completed requests to a goroutine (no copy: the reader
// looks only at Err and Resp, which the loop leaves alone until the next
// Send).
type chanDone chan *Request

func (c chanDone) Complete(r *Request) { c <- r }

func checkResp(b *testing.B, r *Request) {
	if r.Err != nil || r.Resp.Status != memcached.StatusSuccess {
		b.Fatalf("GET: err %v status %s", r.Err, r.Resp.Status)
	}
}

// One request at a time from another goroutine, as a posted task: the
// latency of a round trip through the loop, wake-up included.
func BenchmarkRoundTripPosted(b *testing.B) {
	c := benchConn(b)
	done := make(chanDone, 1)
	errs := make(chan error, 1)
	r := &Request{Packet: getPacket(1, "bench"), Done: done}
	send := func() {
		if err := c.Send(r); err != nil {
			errs <- err
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		c.l.lp.Post(send)
		select {
		case r := <-done:
			checkResp(b, r)
		case err := <-errs:
			b.Fatal(err)
		}
	}
}

// pump keeps window requests in flight entirely on the loop: each
// completion sends its request again until n have been sent, as a busy
// session does.
type pump struct {
	c           *Conn
	left        int // sends still to make
	outstanding int
	err         error
	done        chan struct{}
}

func (p *pump) Complete(r *Request) {
	if p.err == nil && (r.Err != nil || r.Resp.Status != memcached.StatusSuccess) {
		p.err = fmt.Errorf("GET: err %v status %s", r.Err, r.Resp.Status)
	}
	if p.left > 0 && p.err == nil {
		if err := p.c.Send(r); err == nil {
			p.left--
			return
		} else {
			p.err = err
		}
	}
	p.outstanding--
	if p.outstanding == 0 {
		close(p.done)
	}
}

// A window of requests in flight, re-sent from Complete on the loop: the
// data path's own cost per request (batched writes and reads).
func BenchmarkRoundTripOnLoop(b *testing.B) {
	for _, window := range []int{1, 16, 64, 256} {
		b.Run(fmt.Sprintf("inflight=%d", window), func(b *testing.B) {
			c := benchConn(b)
			reqs := make([]*Request, window)
			for i := range reqs {
				reqs[i] = &Request{Packet: getPacket(uint32(i), "bench")}
			}
			b.ReportAllocs()
			b.ResetTimer()
			runPump(b, c, reqs, b.N)
		})
	}
}

// runPump makes n round trips with window requests in flight, on the loop.
func runPump(t testing.TB, c *testConn, reqs []*Request, n int) {
	t.Helper()
	p := &pump{c: c.Conn, done: make(chan struct{})}
	for _, r := range reqs {
		r.Done = p
	}
	c.l.do(func() {
		start := min(len(reqs), n)
		p.left = n - start
		for _, r := range reqs[:start] {
			if err := c.Send(r); err != nil {
				p.err = err
				break
			}
			p.outstanding++
		}
		if p.outstanding == 0 {
			close(p.done)
		}
	})
	select {
	case <-p.done:
	case <-time.After(waitBound):
		t.Fatalf("%d round trips did not finish within %v", n, waitBound)
	}
	var err error
	c.l.do(func() { err = p.err })
	if err != nil {
		t.Fatal(err)
	}
}

// The steady state allocates nothing, anywhere in the process (the loop's
// thread included): thousands of round trips driven on the loop cost only
// the few allocations of starting and waiting for them. (Driven from
// another goroutine through Loop.Post it is 0 allocs/op as well without
// the race detector; with it, the eventfd buffers of Post escape.)
func TestRoundTripAllocs(t *testing.T) {
	c := benchConn(t)
	reqs := make([]*Request, 16)
	for i := range reqs {
		reqs[i] = &Request{Packet: getPacket(uint32(i), "bench")}
	}
	runPump(t, c, reqs, 1000) // warm up: buffers, the timer heap, the task queue
	const n = 5000
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	runPump(t, c, reqs, n)
	runtime.ReadMemStats(&after)
	allocs := after.Mallocs - before.Mallocs
	t.Logf("%d round trips: %d allocations", n, allocs)
	if allocs > n/100 {
		t.Errorf("%d round trips allocated %d times, want none per round trip (at most %d in all)", n, allocs, n/100)
	}
}

// The collection ID on the wire (issue 16): round trips with 16 in flight
// on a connection that negotiated collections with the simulated cluster,
// every key written with a named collection's LEB128 prefix. The prefix is
// written into the output buffer as the packet is copied there: the
// connection allocates nothing. (The simulated cluster serves in this
// process, so allocs/op counts its work too: 1 alloc/op, 8 B, all in
// sim's kvConn.loop by -memprofile; the plain round trip against an
// external memcached is 0.)
func BenchmarkRoundTripCollection(b *testing.B) {
	c, err := sim.Start(sim.Options{Nodes: 1, Host: "127.0.0.1", VBuckets: 16})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	if _, err := c.CreateScope("default", "app"); err != nil {
		b.Fatal(err)
	}
	if _, err := c.CreateCollection("default", "app", "c1"); err != nil {
		b.Fatal(err)
	}
	cid, ok := c.CollectionID("default", "app", "c1")
	if !ok {
		b.Fatal("no collection ID")
	}
	h := newHarness(b)
	tc := h.conn(h.loop(), h.node(c.Nodes()[0].KVAddr(), Options{User: "Administrator", Password: "password", Bucket: "default", Collections: true}))
	tc.waitUp(b)
	key := []byte("bench")
	vb := vbmap.VBucket(key, 16)
	d := newRecorder(b, 1)
	set := &Request{Packet: memcached.AppendRequest(nil, memcached.OpSet, vb, 1, 0, make([]byte, 8), key, []byte("value")), Done: d, Collection: cid}
	if err := tc.send(set); err != nil {
		b.Fatal(err)
	}
	if r := d.wait(b, 1)[0]; r.err != nil || r.resp.Status != memcached.StatusSuccess {
		b.Fatalf("SET in app.c1: %v %s", r.err, r.resp.Status)
	}
	reqs := make([]*Request, 16)
	for i := range reqs {
		reqs[i] = &Request{Packet: memcached.AppendRequest(nil, memcached.OpGet, vb, uint32(i), 0, nil, key, nil), Collection: cid}
	}
	b.ReportAllocs()
	b.ResetTimer()
	runPump(b, tc, reqs, b.N)
}
