package fault

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
)

// Figures of TestFDLimitStorm.
const (
	fdLimit = 256  // vbproxy's RLIMIT_NOFILE
	fdStorm = 1000 // connections opened at once, well past the limit
	// fdCPUBound is how much more CPU (in cores) vbproxy may use while its
	// accept fails with EMFILE than in the same load without the storm: an
	// accept loop that does not back off burns a whole core.
	fdCPUBound = 0.3
	// fdRecovery bounds the time from closing the storm to new clients
	// being served.
	fdRecovery = 3 * time.Second
)

// TestFDLimitStorm: vbproxy runs with 256 file descriptors and 1,000
// connections arrive at once. Accept backs off (CPU stays bounded), the
// clients connected before keep working, and new clients get in once the
// storm's connections close.
func TestFDLimitStorm(t *testing.T) {
	e := NewEnv(t, EnvOptions{Nodes: 3})
	p := startProxy(t, e, func(o *ProxyOptions) { o.NoFile = fdLimit })
	const steady = 16
	conns := make([]*Client, steady)
	for i := range conns {
		conns[i] = dial(t, e, p)
	}
	rec := newRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wait := runClients(ctx, steady, func(ctx context.Context, i int) {
		c := conns[i]
		k := fmt.Sprintf("fd-%d", i)
		for ctx.Err() == nil {
			_, _ = rec.timed(i, func() (Response, error) { return c.Set(k, []byte(k), 0) })
			_, _ = rec.timed(i, func() (Response, error) { return c.Get(k) })
			time.Sleep(5 * time.Millisecond)
		}
	})
	cpu := func() time.Duration {
		d, err := CPUTime(p.PID())
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	time.Sleep(500 * time.Millisecond)
	const window = 3 * time.Second
	c0, t0 := cpu(), time.Now()
	time.Sleep(window)
	baseCPU := float64(cpu()-c0) / float64(time.Since(t0))
	baseEnd := rec.now()

	// The storm: connections that connect and send nothing.
	var mu sync.Mutex
	var storm []net.Conn
	var wg sync.WaitGroup
	for g := range 50 {
		wg.Go(func() {
			for range fdStorm / 50 {
				c, err := e.Clients.DialTimeout("tcp", p.Addr, 2*time.Second)
				if err != nil {
					t.Errorf("storm connection (goroutine %d): %v", g, err)
					return
				}
				mu.Lock()
				storm = append(storm, c)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	stormStart := rec.now()
	time.Sleep(500 * time.Millisecond)
	fds, err := OpenFiles(p.PID())
	if err != nil {
		t.Fatal(err)
	}
	c1, t1 := cpu(), time.Now()
	time.Sleep(window)
	stormCPU := float64(cpu()-c1) / float64(time.Since(t1))
	stormEnd := rec.now()
	for _, c := range storm {
		_ = c.Close()
	}
	closed := time.Now()

	// New clients get in once descriptors are free.
	var recovery time.Duration
	ok := waitUntil(10*time.Second, func() bool {
		c, err := Dial(e.Clients, p.Addr, time.Second)
		if err != nil {
			return false
		}
		defer c.Close()
		c.Timeout = time.Second
		r, err := c.Set("fd-new", []byte("x"), 0)
		if err != nil || r.Status != memcached.StatusSuccess {
			return false
		}
		recovery = time.Since(closed)
		return true
	})
	fresh := 0
	for range steady {
		c, err := Dial(e.Clients, p.Addr, time.Second)
		if err != nil {
			continue
		}
		c.Timeout = 2 * time.Second
		if r, err := c.Get("fd-new"); err == nil && r.Status == memcached.StatusSuccess {
			fresh++
		}
		_ = c.Close()
	}
	cancel()
	wait()

	if fds < fdLimit-8 {
		t.Errorf("vbproxy had %d descriptors open during the storm; the storm should have reached the limit %d", fds, fdLimit)
	}
	if stormCPU > baseCPU+fdCPUBound {
		t.Errorf("CPU during the storm %.2f cores, %.2f without it; want at most %.2f more (accept must back off)", stormCPU, baseCPU, fdCPUBound)
	}
	during := rec.between(stormStart, stormEnd, nil)
	bad := 0
	for _, o := range during {
		if o.err != nil || o.status != memcached.StatusSuccess {
			bad++
			if bad <= 3 {
				t.Errorf("connected client %d during the storm: %v %v, want SUCCESS", o.client, o.status, o.err)
			}
		}
	}
	if !ok || recovery > fdRecovery {
		t.Errorf("a new client was served %s after the storm closed (within 10 s: %v), want at most %s", recovery, ok, fdRecovery)
	}
	if fresh != steady {
		t.Errorf("%d of %d new clients served after the storm", fresh, steady)
	}
	base := latencies(rec.between(0, baseEnd, nil))
	l := latencies(during)
	report.Record(t, "1,000 connections at RLIMIT_NOFILE 256", "%d descriptors open in the storm; CPU %.2f cores (%.2f before, bound +%.2f); connected clients: %d requests, %d errors, p99 %s (%s before); a new client served %s after the storm closed (bound %s), then %d of %d",
		fds, stormCPU, baseCPU, fdCPUBound, len(during), bad, MS(l.Quantile(0.99)), MS(base.Quantile(0.99)), MS(recovery), MS(fdRecovery), fresh, steady)
}
