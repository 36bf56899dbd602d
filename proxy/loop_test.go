package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/internal/mctest"
	"github.com/vbproxy/vbproxy/memcached"
	"github.com/vbproxy/vbproxy/proxy/upstream"
)

// Tests of the event-loop core: a loop serves many clients, so no client may
// hold up the others, connections spread over the loops, and map changes
// and shutdown reach every loop.

// openFDs counts the process's open file descriptors.
func openFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("list fds: %v", err)
	}
	return len(ents)
}

// TestLoopStallSlowClient: a client that pipelines large GETs and never
// reads fills its socket; the other clients of its loop keep their latency,
// and the stalled client is closed after WriteTimeout.
func TestLoopStallSlowClient(t *testing.T) {
	const writeTimeout = 700 * time.Millisecond
	srv, addr, _, _ := memcachedCluster(t, 1, Options{Loops: 1, WriteTimeout: writeTimeout})
	big := make([]byte, 256<<10)
	cl := dial(t, addr)
	cl.write(req(memcached.OpSet, 1, setExtras(0, 0), []byte("big"), big))
	if h, _ := cl.read(); h.Status != memcached.StatusSuccess {
		t.Fatalf("SET big: %v", h.Status)
	}
	slow, err := net.Dial("tcp", addr)
	must(t, err)
	defer slow.Close()
	must(t, slow.(*net.TCPConn).SetReadBuffer(4096))
	var p []byte
	for i := range 32 {
		p = append(p, req(memcached.OpGet, uint32(i), nil, []byte("big"), nil)...)
	}
	go func() { _, _ = slow.Write(p) }() // 8 MiB of replies it never reads
	// Wait until the proxy is blocked writing to it.
	waitFor(t, func() bool {
		blocked := false
		srv.onEveryLoopWait(func(ls *loopState) {
			for s := range ls.sessions {
				blocked = blocked || s.outBlock
			}
		})
		return blocked
	})
	stalledAt := time.Now()
	var worst time.Duration
	for i := 0; time.Since(stalledAt) < writeTimeout/2; i++ {
		start := time.Now()
		cl.set(fmt.Sprintf("k%d", i), "v")
		worst = max(worst, time.Since(start))
	}
	// Generous: a loop round is microseconds; only a stalled loop takes this long.
	if worst > writeTimeout/4 {
		t.Errorf("a request of another client took %v while one client stalled its loop", worst)
	}
	waitFor(t, func() bool { return srv.Stats().ConnsCurrent == 1 })
	if el := time.Since(stalledAt); el < writeTimeout/2 {
		t.Errorf("stalled client closed after %v, before its write timeout %v", el, writeTimeout)
	}
	t.Logf("worst latency of the other client %v; stalled client closed after %v", worst, time.Since(stalledAt))
}

// TestThousandsOfConnsOverLoops spreads 3000 clients over 4 loops; each
// does a SET and a GET; after they leave and the server shuts down, no
// descriptor or goroutine is left behind.
func TestThousandsOfConnsOverLoops(t *testing.T) {
	const clients, loops = 3000, 4
	raiseFileLimit(t, 3*clients+1000)
	nodes := []string{startMemcached(t), startMemcached(t)}
	src := newTestSource(staticMap(t, 1, nodes, 1024))
	fdsBefore := openFDs(t)
	before := runtime.NumGoroutine()
	srv, err := New(Options{Map: src, Loops: loops})
	must(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	waitUp(t, srv)

	conns := make([]net.Conn, clients)
	var wg sync.WaitGroup
	var failed atomic.Int32
	for i := range clients {
		wg.Go(func() {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				failed.Add(1)
				return
			}
			conns[i] = c
			key := []byte(fmt.Sprintf("spread-%d", i))
			p := append(req(memcached.OpSet, 1, setExtras(0, 0), key, key), req(memcached.OpGet, 2, nil, key, nil)...)
			_ = c.SetDeadline(time.Now().Add(30 * time.Second))
			if _, err := c.Write(p); err != nil {
				failed.Add(1)
				return
			}
			r := memcached.NewReader(c, memcached.ReaderOptions{BufSize: 512})
			var pkt memcached.Packet
			for want := uint32(1); want <= 2; want++ {
				if err := r.ReadResponse(&pkt); err != nil || pkt.Opaque != want || pkt.Status != memcached.StatusSuccess {
					failed.Add(1)
					return
				}
			}
			if string(pkt.Value) != string(key) {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d clients failed", n)
	}
	var perLoop [loops]int
	srv.onEveryLoopWait(func(ls *loopState) { perLoop[ls.id] = len(ls.sessions) })
	for i, n := range perLoop {
		if n < clients/loops/2 {
			t.Errorf("loop %d serves %d clients of %d: not spread (%v)", i, n, clients, perLoop)
		}
	}
	for _, c := range conns {
		_ = c.Close()
	}
	waitFor(t, func() bool { return srv.Stats().ConnsCurrent == 0 })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	must(t, srv.Shutdown(ctx))
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve = %v", err)
	}
	checkGoroutines(t, before)
	waitFor(t, func() bool { return openFDs(t) <= fdsBefore })
}

// TestMapChangeInFlightOnEveryLoop: clients on every loop have requests in
// flight to a node (held by a paused relay) when the map drops the node.
// The requests in flight are answered (the leaving node's connections
// drain), later requests go to the new owners, and nobody sees an error.
func TestMapChangeInFlightOnEveryLoop(t *testing.T) {
	mcA, mcB := startMemcached(t), startMemcached(t)
	relay := startRelay(t, mcA)
	servers := []string{relay.addr, mcB}
	src := newTestSource(staticMap(t, 1, servers, 1024))
	srv, addr := startProxy(t, Options{Map: src, Loops: 2, OperationTimeout: 10 * time.Second})
	m := src.Current()
	var keys []string // keys on the leaving node
	for i := 0; len(keys) < 8; i++ {
		if k := fmt.Sprintf("move-%d", i); m.Active(m.VBucket([]byte(k))) == 0 {
			keys = append(keys, k)
		}
	}
	const clients = 8 // round-robin over the 2 loops
	cls := make([]*client, clients)
	for i := range cls {
		cls[i] = dial(t, addr)
		cls[i].set("warm", "1")
	}
	relay.pause()
	for i, cl := range cls {
		cl.write(req(memcached.OpSet, uint32(100+i), setExtras(0, 0), []byte(keys[i]), []byte("v1")))
	}
	waitIssuedAll(t, srv, clients, 2)
	var perLoop [2]int
	srv.onEveryLoopWait(func(ls *loopState) { perLoop[ls.id] = len(ls.sessions) })
	if perLoop[0] == 0 || perLoop[1] == 0 {
		t.Fatalf("clients per loop %v: want some on each", perLoop)
	}
	src.Set(staticMap(t, 2, []string{mcB}, 1024)) // the relayed node leaves the map
	time.Sleep(50 * time.Millisecond)
	relay.resume()
	for i, cl := range cls {
		h, b := cl.read()
		if h.Opaque != uint32(100+i) || h.Status != memcached.StatusSuccess {
			t.Errorf("client %d: in-flight SET answered opaque %d %v %q", i, h.Opaque, h.Status, b[memcached.HeaderLen:])
		}
	}
	a := dial(t, mcA)
	for i, cl := range cls {
		if v, _ := a.get(keys[i]); v != "v1" {
			t.Errorf("%s on the node that left = %q, want v1 (the drained write)", keys[i], v)
		}
		cl.set(keys[i], "v2")
		if v, _ := cl.get(keys[i]); v != "v2" {
			t.Errorf("client %d: %s = %q after the move, want v2", i, keys[i], v)
		}
	}
	if got := srv.Nodes(); len(got) != 1 || got[0].Addr != mcB {
		t.Errorf("Nodes() = %+v, want only %s", got, mcB)
	}
	waitFor(t, func() bool { return relay.open() == 0 }) // the drained connections closed
}

// relay forwards TCP connections to a target and can hold all traffic.
type relay struct {
	addr   string
	mu     sync.Mutex
	cond   *sync.Cond
	paused bool
	conns  atomic.Int32
}

func startRelay(t testing.TB, target string) *relay {
	t.Helper()
	ln := listen(t)
	r := &relay{addr: ln.Addr().String()}
	r.cond = sync.NewCond(&r.mu)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			r.conns.Add(1)
			var once sync.Once
			done := func() { once.Do(func() { r.conns.Add(-1); _ = c.Close(); _ = u.Close() }) }
			go r.pipe(u, c, done)
			go r.pipe(c, u, done)
		}
	}()
	t.Cleanup(func() { r.resume() })
	return r
}

func (r *relay) pipe(dst, src net.Conn, done func()) {
	defer done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		r.mu.Lock()
		for r.paused {
			r.cond.Wait()
		}
		r.mu.Unlock()
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (r *relay) pause() { r.mu.Lock(); r.paused = true; r.mu.Unlock() }

func (r *relay) resume() {
	r.mu.Lock()
	r.paused = false
	r.cond.Broadcast()
	r.mu.Unlock()
}

func (r *relay) open() int { return int(r.conns.Load()) }

// waitIssuedAll waits until n sessions have issued at least k requests.
func waitIssuedAll(t *testing.T, srv *Server, n int, k uint64) {
	t.Helper()
	waitFor(t, func() bool {
		var got atomic.Int32
		srv.onEveryLoopWait(func(ls *loopState) {
			for s := range ls.sessions {
				if s.head >= k {
					got.Add(1)
				}
			}
		})
		return int(got.Load()) >= n
	})
}

// TestShutdownWhileLoopsBusy shuts down while 32 clients on 2 loops pipeline
// requests: every reply a client got is whole and in order, each
// connection then ends cleanly, Shutdown succeeds, nothing is left running.
func TestShutdownWhileLoopsBusy(t *testing.T) {
	nodes := []string{startMemcached(t), startMemcached(t)}
	src := newTestSource(staticMap(t, 1, nodes, 1024))
	before := runtime.NumGoroutine()
	// The clients pipeline without limit, so requests wait for a slot; on
	// a loaded CI machine under -race that wait outlasted the default
	// 2.5 s operation timeout (ETMPFAIL), which is not what this tests.
	srv, err := New(Options{Map: src, Loops: 2, OperationTimeout: 30 * time.Second})
	must(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	go func() { _ = srv.Serve(ln) }()
	waitUp(t, srv)
	const clients = 32
	var wg sync.WaitGroup
	var replies atomic.Int64
	errs := make(chan error, clients)
	started := make(chan struct{}, clients)
	for i := range clients {
		wg.Go(func() {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(30 * time.Second))
			go func() { // the writer: batches of 16 until the connection ends
				for j := uint32(0); ; j += 16 {
					var p []byte
					for k := range uint32(16) {
						p = append(p, req(memcached.OpSet, j+k, setExtras(0, 0), []byte(fmt.Sprintf("busy-%d-%d", i, k)), []byte("v"))...)
					}
					if _, err := c.Write(p); err != nil {
						return
					}
				}
			}()
			r := memcached.NewReader(c, memcached.ReaderOptions{})
			var pkt memcached.Packet
			for want := uint32(0); ; want++ {
				err := r.ReadResponse(&pkt)
				if err != nil {
					if !errors.Is(err, io.EOF) && !isConnReset(err) {
						errs <- fmt.Errorf("client %d after %d replies: %v", i, want, err)
					}
					return
				}
				if want == 100 {
					started <- struct{}{}
				}
				if pkt.Opaque != want || pkt.Status != memcached.StatusSuccess {
					errs <- fmt.Errorf("client %d: reply %d has opaque %d status %v", i, want, pkt.Opaque, pkt.Status)
					return
				}
				replies.Add(1)
			}
		})
	}
	for range clients {
		<-started
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	must(t, srv.Shutdown(ctx))
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	checkGoroutines(t, before)
	t.Logf("%d replies before shutdown completed", replies.Load())
}

// TestLargeValuesBackpressure: 6 clients pipeline 8 SETs of 1 MiB each to a
// node that stops reading, over one node connection. Its unwritten output
// stays bounded (upstream.MaxOutput and one packet) although the clients'
// requests in flight are several times more; the requests wait rather than
// fail, and once the node reads again every SET is answered, in order.
func TestLargeValuesBackpressure(t *testing.T) {
	mc := mctest.Start(t, "-I", "2m", "-m", "256")
	relay := startRelay(t, mc)
	src := newTestSource(staticMap(t, 1, []string{relay.addr}, 1024))
	srv, addr := startProxy(t, Options{Map: src, OperationTimeout: 30 * time.Second, PoolSize: 1})
	const clients, sets = 6, 8
	value := make([]byte, 1<<20)
	cls := make([]*client, clients)
	relay.pause()
	for c := range cls {
		cls[c] = dial(t, addr)
		var p []byte
		for i := range sets {
			p = append(p, req(memcached.OpSet, uint32(i), setExtras(0, 0), []byte(fmt.Sprintf("big-%d-%d", c, i)), value)...)
		}
		go func() { _, _ = cls[c].conn.Write(p) }()
	}
	var worst int
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		srv.onEveryLoopWait(func(ls *loopState) {
			for _, cs := range ls.sets {
				for _, c := range cs.byAddr {
					worst = max(worst, c.Buffered())
				}
			}
		})
		time.Sleep(10 * time.Millisecond)
	}
	if limit := upstream.MaxOutput + len(value) + 1024; worst > limit || worst < upstream.MaxOutput {
		t.Errorf("node connection buffered %d bytes at most, want between %d (the clients send more) and %d", worst, upstream.MaxOutput, limit)
	}
	relay.resume()
	for c, cl := range cls {
		for i := range sets {
			if h, _ := cl.read(); h.Opaque != uint32(i) || h.Status != memcached.StatusSuccess {
				t.Fatalf("client %d reply %d: opaque %d %v", c, i, h.Opaque, h.Status)
			}
		}
	}
	t.Logf("the node connection buffered %d bytes at most", worst)
}

// TestIdleTimeoutTrickle: a client that sends a request a byte at a time
// (slowloris) is idle for IdleTimeout: bytes that complete no request do
// not keep it open, while a client that sends whole requests stays.
func TestIdleTimeoutTrickle(t *testing.T) {
	const idle = 300 * time.Millisecond
	_, addr, _, _ := memcachedCluster(t, 1, Options{IdleTimeout: idle})
	slow, err := net.Dial("tcp", addr)
	must(t, err)
	defer slow.Close()
	busy := dial(t, addr)
	p := req(memcached.OpSet, 1, setExtras(0, 0), []byte("trickle"), []byte("value"))
	start := time.Now()
	closed := make(chan time.Duration, 1)
	go func() {
		for i := 0; ; i++ {
			if _, err := slow.Write(p[i%len(p) : i%len(p)+1]); err != nil {
				closed <- time.Since(start)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	for time.Since(start) < 3*idle {
		busy.set("busy", "1") // whole requests keep this one open
		time.Sleep(idle / 3)
	}
	select {
	case d := <-closed:
		if d > 3*idle {
			t.Errorf("the trickling client was closed after %v, want within about %v", d, idle)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the trickling client was never closed")
	}
	busy.set("busy", "2")
}

// TestReadyWaitsForFirstConnections: at start the server is not ready
// until every node's first connection attempt has ended; once it was
// ready, a node joining later does not make it unready.
func TestReadyWaitsForFirstConnections(t *testing.T) {
	mcA, mcB := startMemcached(t), startMemcached(t)
	relay := startRelay(t, mcA)
	relay.pause() // the handshake with A hangs
	src := newTestSource(staticMap(t, 1, []string{relay.addr, mcB}, 1024))
	srv, err := New(Options{Map: src})
	must(t, err)
	ln := listen(t)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	waitFor(t, func() bool {
		for _, n := range srv.Nodes() {
			if n.Addr == mcB && n.State == "up" {
				return true
			}
		}
		return false
	})
	if srv.Ready() {
		t.Fatalf("ready while %s is still connecting: %+v", relay.addr, srv.Nodes())
	}
	relay.resume()
	waitFor(t, srv.Ready)
	relay2 := startRelay(t, startMemcached(t))
	relay2.pause()
	src.Set(staticMap(t, 2, []string{relay.addr, mcB, relay2.addr}, 1024))
	if !srv.Ready() {
		t.Errorf("a node joining made a warm server unready: %+v", srv.Nodes())
	}
}

// TestRequestsWaitForTheFirstMap: requests that come before the first map
// (a proxy just started) wait for it, in order, within their operation
// timeout; with no map in time they fail with ETMPFAIL.
func TestRequestsWaitForTheFirstMap(t *testing.T) {
	mc := startMemcached(t)
	src := newTestSource(nil)
	_, addr := startProxyNoWait(t, Options{Map: src, OperationTimeout: 2 * time.Second})
	cl := dial(t, addr)
	var p []byte
	for i := range 5 {
		p = append(p, req(memcached.OpSet, uint32(i), setExtras(0, 0), []byte(fmt.Sprintf("early-%d", i)), []byte("v"))...)
	}
	cl.write(p)
	time.Sleep(100 * time.Millisecond)
	src.Set(staticMap(t, 1, []string{mc}, 1024))
	for i := range 5 {
		if h, _ := cl.read(); h.Opaque != uint32(i) || h.Status != memcached.StatusSuccess {
			t.Fatalf("request %d sent before the map: opaque %d %v", i, h.Opaque, h.Status)
		}
	}

	late := newTestSource(nil)
	_, addr2 := startProxyNoWait(t, Options{Map: late, OperationTimeout: 200 * time.Millisecond})
	c2 := dial(t, addr2)
	start := time.Now()
	c2.write(req(memcached.OpGet, 7, nil, []byte("k"), nil))
	h, b := c2.read()
	if h.Status != memcached.StatusETMPFAIL || !bytes.Contains(b, []byte("no vBucket map")) || time.Since(start) < 150*time.Millisecond {
		t.Errorf("with no map in time: %v %q after %v, want ETMPFAIL naming the missing map after the timeout", h.Status, b[memcached.HeaderLen:], time.Since(start))
	}
}

// startProxyNoWait is startProxy without waiting for upstream connections
// (there may be no map yet).
func startProxyNoWait(t testing.TB, o Options) (*Server, string) {
	t.Helper()
	srv, err := New(o)
	must(t, err)
	ln := listen(t)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return srv, ln.Addr().String()
}
