package bench

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/internal/mctest"
)

func TestRunAgainstMemcached(t *testing.T) {
	addr := mctest.Start(t)
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"binary uniform", Config{Protocol: ProtocolBinary, Conns: 4, Pipeline: 4, Dist: DistUniform}},
		{"binary zipfian pipeline 1", Config{Protocol: ProtocolBinary, Conns: 2, Pipeline: 1, Dist: DistZipfian}},
		{"ascii", Config{Protocol: ProtocolASCII, Conns: 4, Pipeline: 8, Prefix: "ascii:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.cfg
			c.Addr = addr
			c.Duration = time.Second
			c.Warmup = 100 * time.Millisecond
			c.Keys = 2000
			res, err := Run(context.Background(), c)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if res.Ops <= 0 {
				t.Errorf("ops = %d, want > 0", res.Ops)
			}
			if res.Errors != 0 {
				t.Errorf("errors = %d (%v), want 0", res.Errors, res.ErrorsByKind)
			}
			if res.Hits <= 0 {
				t.Errorf("hits = %d, want > 0", res.Hits)
			}
			if res.Misses != 0 {
				t.Errorf("misses = %d, want 0 after populating every key", res.Misses)
			}
			if res.Populate == nil || res.Populate.Stored != 2000 || res.Populate.Errors != 0 {
				t.Errorf("populate = %+v, want 2000 stored, 0 errors", res.Populate)
			}
			if got := res.Gets + res.Sets; got != res.Ops {
				t.Errorf("gets+sets = %d, want ops %d", got, res.Ops)
			}
			if got := res.Hits + res.Misses; got != res.Gets {
				t.Errorf("hits+misses = %d, want gets %d", got, res.Gets)
			}
			if res.Stored != res.Sets {
				t.Errorf("stored = %d, want sets %d", res.Stored, res.Sets)
			}
			if res.Seconds != 1 {
				t.Errorf("elapsed = %v s, want exactly the 1 s duration", res.Seconds)
			}
			if !(res.Latency.P50 > 0 && res.Latency.P50 <= res.Latency.P99 && res.Latency.P99 <= res.Latency.Max) {
				t.Errorf("latency %+v not ordered p50 <= p99 <= max with p50 > 0", res.Latency)
			}
			h, err := DecodeHistogram(res.Histogram)
			if err != nil {
				t.Fatalf("DecodeHistogram: %v", err)
			}
			if h.TotalCount() != res.Ops {
				t.Errorf("histogram count = %d, want ops %d", h.TotalCount(), res.Ops)
			}
		})
	}
}

func TestRunOpCount(t *testing.T) {
	addr := mctest.Start(t)
	res, err := Run(context.Background(), Config{Addr: addr, Ops: 5003, Conns: 3, Pipeline: 5, Keys: 100,
		Ratio: 0, RatioSet: true, Warmup: 50 * time.Millisecond})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.Ops != 5003 || res.Sets != 5003 || res.Gets != 0 {
		t.Errorf("ops, sets, gets = %d, %d, %d; want 5003, 5003, 0 (ratio 0 is all sets)", res.Ops, res.Sets, res.Gets)
	}
	if res.Errors != 0 {
		t.Errorf("errors = %d (%v), want 0", res.Errors, res.ErrorsByKind)
	}
	if res.Seconds <= 0 || res.OpsPerSec <= 0 {
		t.Errorf("elapsed %v s, %v ops/s; want both > 0", res.Seconds, res.OpsPerSec)
	}
}

func TestRunNoPopulateMisses(t *testing.T) {
	addr := mctest.Start(t)
	res, err := Run(context.Background(), Config{Addr: addr, Ops: 500, Conns: 2, Keys: 1000, Ratio: 1,
		NoPopulate: true, Prefix: "never-set:"})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.Populate != nil {
		t.Errorf("populate = %+v, want nil with NoPopulate", res.Populate)
	}
	if res.Misses != 500 || res.Hits != 0 || res.Errors != 0 {
		t.Errorf("misses, hits, errors = %d, %d, %d; want 500, 0, 0", res.Misses, res.Hits, res.Errors)
	}
}

func TestRunDialError(t *testing.T) {
	addr := closedAddr(t)
	_, err := Run(context.Background(), Config{Addr: addr, Duration: time.Second, Timeout: time.Second})
	if err == nil {
		t.Fatal("Run against a closed port: got nil error")
	}
	if want := addr; !contains(err.Error(), want) {
		t.Errorf("error %q does not name the target %s", err, want)
	}
}

func TestRunCancelled(t *testing.T) {
	addr := mctest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		time.Sleep(300 * time.Millisecond)
		cancel()
	}()
	_, err := Run(ctx, Config{Addr: addr, Duration: time.Hour, Keys: 100, Conns: 2})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Run after cancel: err = %v, want context.Canceled", err)
	}
}

func TestRunInvalidConfig(t *testing.T) {
	_, err := Run(context.Background(), Config{Addr: "127.0.0.1:1", Conns: -1})
	if !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("err = %v, want ErrInvalidConfig", err)
	}
}

func TestHoldIdle(t *testing.T) {
	addr := mctest.Start(t)
	for _, proto := range []string{ProtocolBinary, ProtocolASCII} {
		ic, err := HoldIdle(context.Background(), IdleOptions{Addr: addr, Conns: 50, Touch: true, Protocol: proto})
		if err != nil {
			t.Fatalf("HoldIdle(%s): %v", proto, err)
		}
		if ic.Len() != 50 {
			t.Errorf("Len = %d, want 50", ic.Len())
		}
		if err := ic.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
	if _, err := HoldIdle(context.Background(), IdleOptions{Addr: closedAddr(t), Conns: 5}); err == nil {
		t.Error("HoldIdle against a closed port: got nil error")
	}
	if _, err := HoldIdle(context.Background(), IdleOptions{}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("HoldIdle without addr: err = %v, want ErrInvalidConfig", err)
	}
}
