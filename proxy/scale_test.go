package proxy

import (
	"context"
	"errors"
	"net"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
	"github.com/vbproxy/vbproxy/sim"
	"github.com/vbproxy/vbproxy/vbmap"
)

// raiseFileLimit lifts the soft open-files limit to at least n (up to the
// hard limit).
func raiseFileLimit(t *testing.T, n uint64) {
	t.Helper()
	var lim syscall.Rlimit
	must(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim))
	if lim.Cur >= n {
		return
	}
	if lim.Max < n {
		t.Fatalf("open files hard limit %d < %d needed", lim.Max, n)
	}
	lim.Cur = n
	must(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim))
}

// TestManyClientsNoLeaks serves 2000 concurrent clients, half of which
// vanish mid-pipeline, then shuts down: every goroutine the server started
// is gone and the counters add up.
func TestManyClientsNoLeaks(t *testing.T) {
	const clients = 2000
	raiseFileLimit(t, 3*clients+1000)
	var nodes []string
	for range 3 {
		nodes = append(nodes, startMemcached(t))
	}
	src := newTestSource(staticMap(t, 1, nodes, 1024))
	before := runtime.NumGoroutine()

	srv, err := New(Options{Map: src})
	must(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	waitUp(t, srv)
	addr := ln.Addr().String()

	conns := make([]net.Conn, clients)
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		wg.Go(func() {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				errs <- err
				return
			}
			conns[i] = c
			key := []byte("many-" + string(rune('a'+i%26)))
			p := req(memcached.OpSet, 1, setExtras(0, 0), key, []byte("v"))
			p = append(p, req(memcached.OpGet, 2, nil, key, nil)...)
			_ = c.SetDeadline(time.Now().Add(30 * time.Second))
			if _, err := c.Write(p); err != nil {
				errs <- err
				return
			}
			r := memcached.NewReader(c, memcached.ReaderOptions{BufSize: 512})
			var pkt memcached.Packet
			for want := uint32(1); want <= 2; want++ {
				if err := r.ReadResponse(&pkt); err != nil {
					errs <- err
					return
				}
				if pkt.Opaque != want || pkt.Status != memcached.StatusSuccess {
					errs <- errors.New("bad reply " + pkt.Status.String())
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("client: %v", err)
	}
	if got := srv.Stats().ConnsCurrent; got != clients {
		t.Fatalf("ConnsCurrent = %d, want %d", got, clients)
	}
	// Half the clients vanish mid-pipeline: 100 requests written, none read,
	// the last one cut in half.
	for i, c := range conns {
		if i%2 == 0 {
			var p []byte
			for j := range 100 {
				p = append(p, req(memcached.OpGet, uint32(j), nil, []byte("vanish"), nil)...)
			}
			p = append(p, req(memcached.OpSet, 0, setExtras(0, 0), []byte("cut"), []byte("value"))[:30]...)
			_, _ = c.Write(p)
		}
		_ = c.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	must(t, srv.Shutdown(ctx))
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve = %v, want ErrServerClosed", err)
	}
	st := srv.Stats()
	if st.ConnsCurrent != 0 || st.ConnsTotal != clients {
		t.Errorf("after Shutdown: ConnsCurrent %d ConnsTotal %d, want 0 and %d", st.ConnsCurrent, st.ConnsTotal, clients)
	}
	checkGoroutines(t, before)
}

// TestShutdownDeadline checks that Shutdown returns ctx's error when a
// request cannot finish in time (its node is paused), closes the client, and
// leaves no goroutine behind.
func TestShutdownDeadline(t *testing.T) {
	c, src := simSourceWith(t, sim.Options{}, vbmap.ConfigSourceHTTP)
	before := runtime.NumGoroutine()
	srv, err := New(simOptions(Options{OperationTimeout: 30 * time.Second}, src))
	must(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	go func() { _ = srv.Serve(ln) }()
	waitUp(t, srv)
	key := []byte("deadline-key")
	owner := c.VBucketOwner("default", int(vbmap.VBucket(key, c.NumVBuckets())))
	c.Pause(owner)
	defer c.Resume(owner)
	cl := dial(t, ln.Addr().String())
	cl.write(req(memcached.OpGet, 1, nil, key, nil))
	waitIssued(t, srv, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want context.DeadlineExceeded", err)
	}
	cl.expectClosed()
	c.Resume(owner) // the request in flight ends, and the background drain with it
	checkGoroutines(t, before)
}
