package fault

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
)

// Figures of TestSlowloris.
const (
	slowClients = 5000
	slowIdle    = 2 * time.Second // vbproxy's limits.idle_timeout in the test
	// slowCloseBound is how long after connecting a client that sends a
	// byte a second may stay open: it never completes a request, so the
	// idle (or header) timeout must close it.
	slowCloseBound = 3 * slowIdle
	slowRun        = 10 * time.Second
	slowP99Factor  = 3
	slowP99Floor   = 5 * time.Millisecond
)

// TestSlowloris: 5,000 clients each send a request header one byte a
// second. Normal clients keep their latency (p99 within a factor of the
// run without them), and the proxy closes the slow ones through its idle or
// header timeout.
func TestSlowloris(t *testing.T) {
	e := NewEnv(t, EnvOptions{Nodes: 3})
	p := startProxy(t, e, func(o *ProxyOptions) { o.IdleTimeout = slowIdle })
	const normal = 16
	conns := make([]*Client, normal)
	for i := range conns {
		conns[i] = dial(t, e, p)
	}
	rec := newRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wait := runClients(ctx, normal, func(ctx context.Context, i int) {
		c := conns[i]
		k := fmt.Sprintf("slow-%d", i)
		for ctx.Err() == nil {
			_, _ = rec.timed(i, func() (Response, error) { return c.Set(k, []byte(k), 0) })
			_, _ = rec.timed(i, func() (Response, error) { return c.Get(k) })
			// Stay under the idle timeout; the pause keeps the load light.
			time.Sleep(2 * time.Millisecond)
		}
	})
	time.Sleep(3 * time.Second)
	baseEnd := rec.now()

	// The slow clients: a GET header, one byte a second.
	header := memcached.AppendRequest(nil, memcached.OpGet, 0, 1, 0, nil, []byte("slowloris-key"), nil)
	type slow struct {
		c        net.Conn
		opened   time.Time
		closedAt atomic.Int64 // unix nanos when the proxy closed it
	}
	var mu sync.Mutex
	var slows []*slow
	var wg sync.WaitGroup
	var dialErrs atomic.Int64
	for range 50 {
		wg.Go(func() {
			for range slowClients / 50 {
				c, err := e.Clients.DialTimeout("tcp", p.Addr, 5*time.Second)
				if err != nil {
					dialErrs.Add(1)
					continue
				}
				s := &slow{c: c, opened: time.Now()}
				go func() {
					var b [64]byte
					for {
						if _, err := c.Read(b[:]); err != nil {
							s.closedAt.Store(time.Now().UnixNano())
							return
						}
					}
				}()
				mu.Lock()
				slows = append(slows, s)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slowStart := rec.now()
	t.Cleanup(func() {
		for _, s := range slows {
			_ = s.c.Close()
		}
	})
	// One byte a second on every slow connection, for slowRun.
	for sec := 0; sec < int(slowRun/time.Second); sec++ {
		tick := time.Now()
		for _, s := range slows {
			if s.closedAt.Load() != 0 {
				continue
			}
			_ = s.c.SetWriteDeadline(time.Now().Add(10 * time.Millisecond))
			_, _ = s.c.Write(header[sec%len(header) : sec%len(header)+1])
		}
		time.Sleep(time.Second - time.Since(tick))
	}
	slowEnd := rec.now()
	cancel()
	wait()

	closed, open := 0, 0
	var worstOpen time.Duration
	for _, s := range slows {
		at := s.closedAt.Load()
		if at == 0 {
			open++
			continue
		}
		closed++
		worstOpen = max(worstOpen, time.Unix(0, at).Sub(s.opened))
	}
	if dialErrs.Load() > 0 {
		t.Errorf("%d of %d slow clients could not connect", dialErrs.Load(), slowClients)
	}
	if open > 0 || worstOpen > slowCloseBound {
		t.Errorf("slow clients: %d still open after %s of a byte a second, the longest closed one stayed %s; want each closed within %s (idle timeout %s)",
			open, slowRun, worstOpen, slowCloseBound, slowIdle)
	}
	base := rec.between(0, baseEnd, nil)
	during := rec.between(slowStart, slowEnd, nil)
	bad := 0
	for _, o := range append(append([]op(nil), base...), during...) {
		if o.err != nil || o.status != memcached.StatusSuccess {
			bad++
			if bad <= 3 {
				t.Errorf("normal client %d at %s: %v %v, want SUCCESS", o.client, o.at, o.status, o.err)
			}
		}
	}
	p99Base, p99During := latencies(base).Quantile(0.99), latencies(during).Quantile(0.99)
	if bound := slowP99Factor*p99Base + slowP99Floor; p99During > bound {
		t.Errorf("normal clients' p99 %s with the slow clients, %s without; want at most %d x + %s = %s", p99During, p99Base, slowP99Factor, slowP99Floor, bound)
	}
	report.Record(t, "5,000 clients at a byte a second", "%d connected; %d closed by the proxy (longest open %s, bound %s with idle_timeout %s), %d still open after %s; normal clients p99 %s (%s without, bound %d x + %s), %d errors",
		len(slows), closed, MS(worstOpen), MS(slowCloseBound), slowIdle, open, slowRun, MS(p99During), MS(p99Base), slowP99Factor, MS(slowP99Floor), bad)
}
