package bench

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLatencyOf(t *testing.T) {
	h := newHistogram()
	// 1..10000 µs, one sample each: pXX is XX% of 10 ms.
	for v := int64(1); v <= 10000; v++ {
		if err := h.RecordValue(v * 1000); err != nil {
			t.Fatal(err)
		}
	}
	l := LatencyOf(h)
	for _, tc := range []struct {
		name      string
		got, want float64
	}{
		{"p50", l.P50, 5000}, {"p90", l.P90, 9000}, {"p99", l.P99, 9900}, {"p99.9", l.P999, 9990},
		{"max", l.Max, 10000}, {"mean", l.Mean, 5000.5},
	} {
		if math.Abs(tc.got-tc.want)/tc.want > 0.001 { // 3 significant digits
			t.Errorf("%s = %v µs, want %v ±0.1%%", tc.name, tc.got, tc.want)
		}
	}
	if got := LatencyOf(newHistogram()); got != (Latency{}) {
		t.Errorf("empty histogram: %+v, want zeros", got)
	}
}

func TestHistogramEncoding(t *testing.T) {
	h := newHistogram()
	for _, v := range []int64{150, 20_000, 3_000_000, int64(time.Second)} {
		_ = h.RecordValue(v)
	}
	s, err := EncodeHistogram(h)
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeHistogram(s)
	if err != nil {
		t.Fatal(err)
	}
	if back.TotalCount() != 4 || back.Max() != h.Max() || LatencyOf(back) != LatencyOf(h) {
		t.Errorf("round trip: count %d max %d, want 4 and %d", back.TotalCount(), back.Max(), h.Max())
	}
	for _, bad := range []string{"!!", "AAAA"} {
		if _, err := DecodeHistogram(bad); err == nil || !strings.HasPrefix(err.Error(), "bench: decode histogram") {
			t.Errorf("DecodeHistogram(%q) err = %v, want a bench: decode histogram error", bad, err)
		}
	}
}

func sampleResult() *Result {
	c := Config{Addr: "127.0.0.1:11211", Conns: 4, Pipeline: 8}.WithDefaults()
	r := &Result{Target: c.Addr, Protocol: c.Protocol, Config: summarize(&c),
		Populate: &PopulateResult{Keys: 10, Stored: 10}}
	st := stats{gets: 90, sets: 10, hits: 89, misses: 1, stored: 9}
	st.addError("EINVAL", 1)
	h := newHistogram()
	_ = h.RecordValue(42_000)
	r.fill(&st, 2*time.Second, h)
	return r
}

// TestResultJSONShape pins the JSON field names that scripts and
// bench/report read.
func TestResultJSONShape(t *testing.T) {
	b, err := json.Marshal(sampleResult())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	want := []string{"config", "elapsed_seconds", "errors", "errors_by_kind", "gets", "histogram", "hits",
		"latency_us", "misses", "ops", "ops_per_sec", "populate", "protocol", "sets", "stored", "target"}
	got := slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	})
	if !slices.Equal(got, want) {
		t.Errorf("top-level keys = %v, want %v", got, want)
	}
	lat := m["latency_us"].(map[string]any)
	for _, k := range []string{"p50", "p90", "p99", "p999", "max", "mean"} {
		if _, ok := lat[k]; !ok {
			t.Errorf("latency_us has no %q: %v", k, lat)
		}
	}
	cfg := m["config"].(map[string]any)
	for _, k := range []string{"conns", "pipeline", "ratio", "keys", "dist", "value_size", "prefix", "duration_seconds", "warmup_seconds"} {
		if _, ok := cfg[k]; !ok {
			t.Errorf("config has no %q: %v", k, cfg)
		}
	}
	if got := m["ops_per_sec"].(float64); got != 50 {
		t.Errorf("ops_per_sec = %v, want 50 (100 ops in 2 s)", got)
	}
	if got := m["errors_by_kind"].(map[string]any)["EINVAL"]; got != float64(1) {
		t.Errorf("errors_by_kind.EINVAL = %v, want 1", got)
	}
	var back Result
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Ops != 100 || math.Abs(back.Latency.P50-42) > 0.05 {
		t.Errorf("decoded ops %d p50 %v, want 100 and 42", back.Ops, back.Latency.P50)
	}
}

func TestResultErrorsByKindNeverNull(t *testing.T) {
	r := &Result{}
	r.fill(&stats{}, time.Second, newHistogram())
	b, _ := json.Marshal(r)
	if !strings.Contains(string(b), `"errors_by_kind":{}`) {
		t.Errorf("JSON %s: want errors_by_kind as {} when there are none", b)
	}
}

func TestWriteText(t *testing.T) {
	var sb strings.Builder
	if err := sampleResult().WriteText(&sb); err != nil {
		t.Fatal(err)
	}
	out := sb.String()
	for _, want := range []string{
		"target      127.0.0.1:11211 (binary)",
		"conns=4 pipeline=8 gets=90%",
		"throughput  50 ops/s (100 ops)",
		"gets        90 (hits 89, misses 1)",
		"errors      1 (EINVAL 1)",
		"p50 42.0",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text output lacks %q:\n%s", want, out)
		}
	}
}
