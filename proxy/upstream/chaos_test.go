package upstream

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Regression guard for the exactly-once rule under churn: workers on two
// loops (two connections each, one Node) send with mixed deadlines while
// the server drops its connections and hangs at random. Every Send that
// returned nil completes exactly once; every other one never does.
func TestChaosExactlyOnce(t *testing.T) {
	f := startFakeKV(t, fakeConfig{Delay: map[string]time.Duration{"slow": 30 * time.Millisecond}})
	check := checkGoroutines(t)
	h := newHarness(t)
	n := h.node(f.addr, Options{
		QueueSize: 64, OperationTimeout: 100 * time.Millisecond, ConnectTimeout: 100 * time.Millisecond,
		MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond,
	})
	loops := []*testLoop{h.loop(), h.loop()}
	conns := make([][]*testConn, len(loops))
	for i, l := range loops {
		conns[i] = []*testConn{h.conn(l, n), h.conn(l, n)}
		for _, c := range conns[i] {
			c.waitUp(t)
		}
	}

	var accepted, completed, refused atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 8 {
		l, cs := loops[w%len(loops)], conns[w%len(loops)]
		wg.Go(func() {
			const perWorker = 16
			done := newRecorder(t, 2*perWorker)
			keys := []string{"a", "b", "slow"}
			free := make([]*Request, perWorker)
			for i := range free {
				free[i] = &Request{Packet: getPacket(uint32(w<<8|i), keys[i%len(keys)]), Done: done}
			}
			inFlight := map[*Request]bool{}
			receive := func(r result) {
				if !inFlight[r.req] {
					t.Errorf("worker %d: completion of a request that is not in flight (opaque %#x)", w, wireOpaque(r.req.Packet))
					return
				}
				delete(inFlight, r.req)
				completed.Add(1)
				done.forget(r.req) // it may be sent again
				free = append(free, r.req)
			}
			for {
				select {
				case <-stop:
					timeout := time.After(waitBound)
					for len(inFlight) > 0 {
						select {
						case r := <-done.ch:
							receive(r)
						case <-timeout:
							t.Errorf("worker %d: %d requests never completed", w, len(inFlight))
							return
						}
					}
					return
				default:
				}
				if len(free) > 0 {
					var sent []*Request
					ok := l.try(func() {
						for len(free) > 0 {
							r := free[len(free)-1]
							r.Deadline = 0
							if rand.IntN(3) == 0 {
								r.Deadline = l.lp.Now() + int64(rand.IntN(20))*int64(time.Millisecond)
							}
							if err := cs[rand.IntN(len(cs))].Send(r); err != nil {
								refused.Add(1)
								break
							}
							accepted.Add(1)
							free = free[:len(free)-1]
							sent = append(sent, r)
						}
					})
					if !ok {
						t.Errorf("worker %d: loop did not run the send task", w)
						return
					}
					for _, r := range sent {
						inFlight[r] = true
					}
				}
				select {
				case r := <-done.ch:
					receive(r)
				case <-time.After(time.Millisecond):
				}
			}
		})
	}
	end := time.Now().Add(time.Second)
	for time.Now().Before(end) {
		time.Sleep(time.Duration(20+rand.IntN(60)) * time.Millisecond)
		switch rand.IntN(3) {
		case 0:
			f.closeConns()
		case 1:
			f.setHang(true)
			time.Sleep(time.Duration(rand.IntN(150)) * time.Millisecond)
			f.setHang(false)
		}
	}
	close(stop)
	wg.Wait()
	if a, c := accepted.Load(), completed.Load(); a != c || a == 0 {
		t.Errorf("accepted %d, completed %d: want equal and non-zero", a, c)
	}
	t.Logf("accepted %d, refused %d", accepted.Load(), refused.Load())
	for i, cs := range conns {
		for j, c := range cs {
			if _, pending := c.up(); pending != 0 {
				t.Errorf("loop %d connection %d: Pending = %d after every completion, want 0", i, j, pending)
			}
		}
	}
	h.teardown()
	f.close()
	check()
}
