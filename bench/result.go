package bench

import (
	"encoding/base64"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Result is what one Run measured. Its JSON form is what `vbbench -json`
// prints and what package bench/report reads.
type Result struct {
	Target   string        `json:"target"`
	Protocol string        `json:"protocol"`
	Config   ConfigSummary `json:"config"`
	// Seconds is the measured phase's length: Duration, or in op-count mode
	// the time until the last reply.
	Seconds   float64 `json:"elapsed_seconds"`
	Ops       int64   `json:"ops"` // replies received in the measured phase, errors included
	OpsPerSec float64 `json:"ops_per_sec"`
	Gets      int64   `json:"gets"`
	Sets      int64   `json:"sets"`
	Hits      int64   `json:"hits"`
	Misses    int64   `json:"misses"`
	Stored    int64   `json:"stored"`
	Errors    int64   `json:"errors"`
	// ErrorsByKind counts errors by status name (binary), reply word (ASCII)
	// or transport failure (io, timeout, protocol, connect). Always present.
	ErrorsByKind map[string]int64 `json:"errors_by_kind"`
	Latency      Latency          `json:"latency_us"`
	// Histogram is the latency histogram (nanoseconds) in HdrHistogram's V2
	// compressed encoding, base64: DecodeHistogram reads it.
	Histogram string          `json:"histogram"`
	Populate  *PopulateResult `json:"populate,omitempty"`
	// Aborted lists connections that gave up reconnecting during the run.
	Aborted []string `json:"aborted,omitempty"`
}

// ConfigSummary is the workload, as recorded in a Result.
type ConfigSummary struct {
	Conns           int     `json:"conns"`
	Pipeline        int     `json:"pipeline"`
	Ratio           float64 `json:"ratio"`
	Keys            int     `json:"keys"`
	Dist            string  `json:"dist"`
	ValueSize       int     `json:"value_size"`
	Prefix          string  `json:"prefix"`
	DurationSeconds float64 `json:"duration_seconds,omitempty"`
	Ops             int64   `json:"ops,omitempty"`
	WarmupSeconds   float64 `json:"warmup_seconds"`
	// TLS is true when the connections were TLS (Config.TLSCAFile).
	TLS bool `json:"tls,omitempty"`
}

// Latency holds percentiles in microseconds.
type Latency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// PopulateResult is the warm-up that stored every key before the run.
type PopulateResult struct {
	Keys         int              `json:"keys"`
	Stored       int64            `json:"stored"`
	Errors       int64            `json:"errors"`
	ErrorsByKind map[string]int64 `json:"errors_by_kind,omitempty"`
	Seconds      float64          `json:"seconds"`
}

func summarize(c *Config) ConfigSummary {
	s := ConfigSummary{
		Conns: c.Conns, Pipeline: c.Pipeline, Ratio: c.Ratio, Keys: c.Keys, Dist: c.Dist,
		ValueSize: c.ValueSize, Prefix: c.Prefix, WarmupSeconds: c.Warmup.Seconds(),
		TLS: c.TLSCAFile != "",
	}
	if c.Ops > 0 {
		s.Ops = c.Ops
	} else {
		s.DurationSeconds = c.Duration.Seconds()
	}
	return s
}

// LatencyOf returns h's percentiles in microseconds (h in nanoseconds).
func LatencyOf(h *hdrhistogram.Histogram) Latency {
	if h.TotalCount() == 0 {
		return Latency{}
	}
	us := func(ns int64) float64 { return float64(ns) / 1e3 }
	return Latency{
		P50: us(h.ValueAtQuantile(50)), P90: us(h.ValueAtQuantile(90)),
		P99: us(h.ValueAtQuantile(99)), P999: us(h.ValueAtQuantile(99.9)),
		Max: us(h.Max()), Mean: h.Mean() / 1e3,
	}
}

// EncodeHistogram encodes h for Result.Histogram.
func EncodeHistogram(h *hdrhistogram.Histogram) (string, error) {
	b, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		return "", fmt.Errorf("bench: encode histogram: %w", err)
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// DecodeHistogram decodes Result.Histogram.
func DecodeHistogram(s string) (*hdrhistogram.Histogram, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("bench: decode histogram: %w", err)
	}
	h, err := hdrhistogram.Decode(b)
	if err != nil {
		return nil, fmt.Errorf("bench: decode histogram: %w", err)
	}
	return h, nil
}

func (r *Result) fill(t *stats, elapsed time.Duration, h *hdrhistogram.Histogram) {
	r.Seconds = elapsed.Seconds()
	r.Gets, r.Sets = t.gets, t.sets
	r.Ops = t.gets + t.sets
	r.Hits, r.Misses, r.Stored = t.hits, t.misses, t.stored
	r.Errors = t.errors
	r.ErrorsByKind = t.errorsByKind
	if r.ErrorsByKind == nil {
		r.ErrorsByKind = map[string]int64{}
	}
	if r.Seconds > 0 {
		r.OpsPerSec = float64(r.Ops) / r.Seconds
	}
	r.Latency = LatencyOf(h)
	if enc, err := EncodeHistogram(h); err == nil {
		r.Histogram = enc
	}
}

// WriteText writes r as a human-readable table.
func (r *Result) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	c := r.Config
	transport := ""
	if c.TLS {
		transport = " over TLS"
	}
	fmt.Fprintf(tw, "target\t%s (%s%s)\n", r.Target, r.Protocol, transport)
	fmt.Fprintf(tw, "workload\tconns=%d pipeline=%d gets=%.0f%% keys=%d dist=%s value=%dB\n",
		c.Conns, c.Pipeline, c.Ratio*100, c.Keys, c.Dist, c.ValueSize)
	if p := r.Populate; p != nil {
		fmt.Fprintf(tw, "populate\t%d keys stored in %.2fs, %d errors%s\n", p.Stored, p.Seconds, p.Errors, kinds(p.ErrorsByKind))
	}
	fmt.Fprintf(tw, "elapsed\t%.2fs (warm-up %.2fs before)\n", r.Seconds, c.WarmupSeconds)
	fmt.Fprintf(tw, "throughput\t%.0f ops/s (%d ops)\n", r.OpsPerSec, r.Ops)
	fmt.Fprintf(tw, "gets\t%d (hits %d, misses %d)\n", r.Gets, r.Hits, r.Misses)
	fmt.Fprintf(tw, "sets\t%d (stored %d)\n", r.Sets, r.Stored)
	fmt.Fprintf(tw, "errors\t%d%s\n", r.Errors, kinds(r.ErrorsByKind))
	for _, a := range r.Aborted {
		fmt.Fprintf(tw, "aborted\t%s\n", a)
	}
	l := r.Latency
	fmt.Fprintf(tw, "latency µs\tp50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  mean %.1f\n",
		l.P50, l.P90, l.P99, l.P999, l.Max, l.Mean)
	return tw.Flush()
}

func kinds(m map[string]int64) string {
	if len(m) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString(" (")
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %d", k, m[k])
	}
	b.WriteString(")")
	return b.String()
}
