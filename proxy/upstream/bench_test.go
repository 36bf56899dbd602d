package upstream

import (
	"fmt"
	"testing"

	"github.com/vbproxy/vbproxy/internal/mctest"
	"github.com/vbproxy/vbproxy/memcached"
)

// Benchmarks of Send → write → read → Complete against a real memcached.
// Steady state allocates nothing: the queue, the in-flight table, the
// response buffers and the Completer are all reused.

func benchPool(b *testing.B, o Options) *Pool {
	b.Helper()
	addr := mctest.Start(b, "-t", "2")
	p := NewPool(addr, o)
	b.Cleanup(func() { p.Close() })
	waitState(b, p, StateUp)
	waitFor(b, "all connections up", func() bool {
		return p.Conns() == max(o.PoolSize, 1) || (o.PoolSize == 0 && p.Conns() == DefaultPoolSize)
	})
	r := roundTrip(b, p, setPacket(1, "bench", "value-of-the-benchmark-key"))
	if r.Err != nil || r.Resp.Status != memcached.StatusSuccess {
		b.Fatalf("SET: %v %s", r.Err, r.Resp.Status)
	}
	return p
}

func checkResp(b *testing.B, r *Request) {
	if r.Err != nil || r.Resp.Status != memcached.StatusSuccess {
		b.Fatalf("GET: err %v status %s", r.Err, r.Resp.Status)
	}
}

// One request at a time: latency of a round trip through the pool.
func BenchmarkRoundTripSerial(b *testing.B) {
	p := benchPool(b, Options{})
	done := make(chanDone, 1)
	r := &Request{Packet: getPacket(1, "bench"), Done: done}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := p.Send(r); err != nil {
			b.Fatal(err)
		}
		checkResp(b, <-done)
	}
}

// A window of requests in flight from one goroutine: the writer batches
// them.
func BenchmarkRoundTripWindow(b *testing.B) {
	for _, window := range []int{16, 64, 256} {
		b.Run(fmt.Sprintf("inflight=%d", window), func(b *testing.B) {
			p := benchPool(b, Options{})
			done := make(chanDone, window)
			reqs := make([]*Request, window)
			for i := range reqs {
				reqs[i] = &Request{Packet: getPacket(uint32(i), "bench"), Done: done}
			}
			b.ReportAllocs()
			b.ResetTimer()
			sent := 0
			for _, r := range reqs[:min(window, b.N)] {
				if err := p.Send(r); err != nil {
					b.Fatal(err)
				}
				sent++
			}
			for i := 0; i < b.N; i++ {
				r := <-done
				checkResp(b, r)
				if sent < b.N {
					if err := p.Send(r); err != nil {
						b.Fatal(err)
					}
					sent++
				}
			}
		})
	}
}

// Many goroutines, each with one request in flight, share the pool as
// sessions do.
func BenchmarkRoundTripParallel(b *testing.B) {
	p := benchPool(b, Options{})
	b.ReportAllocs()
	b.SetParallelism(16) // 16 × GOMAXPROCS sessions
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		done := make(chanDone, 1)
		r := &Request{Packet: getPacket(1, "bench"), Done: done}
		for pb.Next() {
			if err := p.Send(r); err != nil {
				b.Error(err)
				return
			}
			if r := <-done; r.Err != nil || r.Resp.Status != memcached.StatusSuccess {
				b.Errorf("GET: err %v status %s", r.Err, r.Resp.Status)
				return
			}
		}
	})
}
