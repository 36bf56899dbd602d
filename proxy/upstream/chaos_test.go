package upstream

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Regression guard for the exactly-once rule under churn: many senders with
// mixed deadlines while the server drops its connections and hangs at
// random. Every Send that returned nil completes exactly once; every other
// one never does.
func TestChaosExactlyOnce(t *testing.T) {
	f := startFakeKV(t, fakeConfig{Delay: map[string]time.Duration{"slow": 30 * time.Millisecond}})
	check := checkGoroutines(t)
	p := NewPool(f.addr, Options{
		PoolSize: 3, QueueSize: 64, OperationTimeout: 100 * time.Millisecond, ConnectTimeout: 100 * time.Millisecond,
		MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond,
	})
	waitState(t, p, StateUp)

	var accepted, completed, refused atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			done := newOnceDone(t, 32)
			reqs := make([]*Request, 16)
			keys := []string{"a", "b", "slow"}
			for i := range reqs {
				reqs[i] = &Request{Packet: getPacket(uint32(w<<8|i), keys[i%len(keys)]), Done: done}
			}
			free := append([]*Request(nil), reqs...)
			for {
				select {
				case <-stop:
					for range len(reqs) - len(free) {
						<-done.ch
						completed.Add(1)
					}
					return
				default:
				}
				if len(free) > 0 {
					r := free[len(free)-1]
					r.Deadline = time.Time{}
					if rand.IntN(3) == 0 {
						r.Deadline = time.Now().Add(time.Duration(rand.IntN(20)) * time.Millisecond)
					}
					if err := p.Send(r); err == nil {
						accepted.Add(1)
						free = free[:len(free)-1]
						continue
					}
					refused.Add(1)
				}
				select {
				case r := <-done.ch:
					completed.Add(1)
					done.mu.Lock()
					delete(done.count, r) // the request may be sent again
					done.mu.Unlock()
					free = append(free, r)
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
	p.Close()
	if n := p.Pending(); n != 0 {
		t.Errorf("Pending after Close = %d, want 0", n)
	}
	f.close()
	check()
}
