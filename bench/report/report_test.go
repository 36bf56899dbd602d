package report

import (
	"encoding/xml"
	"errors"
	"io"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/bench"
)

// vbRecord builds a vbbench record whose histogram holds n samples of latUS
// microseconds.
func vbRecord(t *testing.T, target, proto string, round, conns, pipeline int, opsPerSec float64, latUS int64, n int) Record {
	t.Helper()
	h := bench.NewHistogram()
	for range n {
		if err := h.RecordValue(latUS * 1000); err != nil {
			t.Fatal(err)
		}
	}
	enc, err := bench.EncodeHistogram(h)
	if err != nil {
		t.Fatal(err)
	}
	return Record{Kind: KindVbbench, Target: target, Round: round, Result: &bench.Result{
		Target: "127.0.0.1:1", Protocol: proto,
		Config: bench.ConfigSummary{Conns: conns, Pipeline: pipeline},
		Ops:    int64(n), OpsPerSec: opsPerSec, Gets: int64(n), Hits: int64(n),
		ErrorsByKind: map[string]int64{}, Latency: bench.LatencyOf(h), Histogram: enc,
	}}
}

func TestReadErrors(t *testing.T) {
	for _, tc := range []struct {
		name, input, want string
	}{
		{"not json", "{\"kind\":\"meta\",\"key\":\"a\"}\nnope\n", "line 2:"},
		{"unknown kind", `{"kind":"bogus"}`, `unknown kind "bogus"`},
		{"meta without key", `{"kind":"meta","value":"x"}`, "meta record without key"},
		{"vbbench without result", `{"kind":"vbbench","target":"direct"}`, "needs a result"},
		{"vbbench without target", `{"kind":"vbbench","result":{}}`, "without target"},
		{"vbbench zero conns", `{"kind":"vbbench","target":"d","result":{"config":{"conns":0,"pipeline":1}}}`, "conns 0"},
		{"vbbench bad histogram", `{"kind":"vbbench","target":"d","result":{"config":{"conns":1,"pipeline":1},"histogram":"!!"}}`, "decode histogram"},
		{"memcaslap bad protocol", `{"kind":"memcaslap","target":"d","conns":1,"protocol":"udp"}`, `protocol "udp"`},
		{"memcaslap no conns", `{"kind":"memcaslap","target":"d","protocol":"ascii"}`, "conns >= 1"},
		{"memory no rss", `{"kind":"memory","target":"vbproxy","conns":10}`, "rss_before_kib"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(strings.NewReader(tc.input))
			if !errors.Is(err, ErrBadRecord) {
				t.Fatalf("err = %v, want ErrBadRecord", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestReadValid(t *testing.T) {
	in := "\n" + `{"kind":"meta","key":"nproc","value":"2"}` + "\n  \n" +
		`{"kind":"vbbench","target":"vbproxy","protocol":"binary","round":1,"conns":4,"pipeline":2,"error":"boom"}` + "\n" +
		`{"kind":"memory","target":"vbproxy","conns":10,"error":"refused"}` + "\n"
	recs, err := Read(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 || recs[0].Value != "2" || recs[1].Error != "boom" {
		t.Errorf("records = %+v", recs)
	}
}

func sampleSummary(t *testing.T) *Summary {
	t.Helper()
	recs := []Record{
		{Kind: KindMeta, Key: "nproc", Value: "2"},
		{Kind: KindMeta, Key: "setup.backends", Value: "3 memcached"},
		// Main point (16 conns, pipeline 1): medians 100k, 140k, 100k.
		vbRecord(t, TargetDirect, "binary", 1, 16, 1, 90_000, 100, 100),
		vbRecord(t, TargetDirect, "binary", 2, 16, 1, 110_000, 100, 100),
		vbRecord(t, TargetDirect, "binary", 3, 16, 1, 100_000, 300, 100),
		vbRecord(t, TargetVbproxy, "binary", 1, 16, 1, 140_000, 200, 100),
		vbRecord(t, TargetTwemproxy, "ascii", 1, 16, 1, 100_000, 400, 100),
		// Pipelined point: vbproxy at 0.5 of direct.
		vbRecord(t, TargetDirect, "binary", 1, 16, 16, 800_000, 500, 10),
		vbRecord(t, TargetVbproxy, "binary", 1, 16, 16, 400_000, 900, 10),
		{Kind: KindVbbench, Target: TargetVbproxy, Protocol: "binary", Round: 2, Conns: 16, Pipeline: 16, Error: "vbbench failed: x"},
		{Kind: KindMemcaslap, Target: TargetVbproxy, Protocol: "binary", Round: 1, Conns: 16, OpsPerSec: 130_000, Ops: 1},
		{Kind: KindMemcaslap, Target: TargetTwemproxy, Protocol: "ascii", Round: 1, Conns: 16, OpsPerSec: 100_000, Ops: 1},
		{Kind: KindMemcaslap, Target: TargetDirect, Protocol: "ascii", Round: 1, Conns: 16, OpsPerSec: 200_000, Ops: 1},
		{Kind: KindMemcaslap, Target: TargetDirect, Protocol: "ascii", Round: 2, Conns: 16, Error: "memcaslap failed: y"},
		{Kind: KindMemory, Target: TargetVbproxy, Variant: "connected", Conns: 1000, RSSBeforeKiB: 10_000, RSSAfterKiB: 18_000},
		{Kind: KindMemory, Target: TargetTwemproxy, Variant: "connected", Conns: 1000, RSSBeforeKiB: 2_000, RSSAfterKiB: 2_500},
	}
	s, err := Aggregate(recs)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAggregate(t *testing.T) {
	s := sampleSummary(t)
	if got, want := strings.Join(s.Targets, ","), "direct,vbproxy,twemproxy"; got != want {
		t.Errorf("targets = %s, want %s", got, want)
	}
	if len(s.Points) != 2 || s.Points[0] != (Point{16, 1}) || s.Points[1] != (Point{16, 16}) {
		t.Errorf("points = %v, want [{16 1} {16 16}]", s.Points)
	}
	d := s.Vb(TargetDirect, "binary", Point{16, 1})
	if d == nil {
		t.Fatal("no direct stat at 16/1")
	}
	if d.Rounds != 3 || d.OpsPerSec != 100_000 || d.MinOps != 90_000 || d.MaxOps != 110_000 {
		t.Errorf("direct rounds %d median %v range %v-%v, want 3, 100000, 90000-110000", d.Rounds, d.OpsPerSec, d.MinOps, d.MaxOps)
	}
	// Merged histogram: 200 samples at 100 µs, 100 at 300 µs.
	if d.Ops != 300 || math.Abs(d.Latency.P50-100) > 0.2 || math.Abs(d.Latency.P99-300) > 0.5 {
		t.Errorf("direct ops %d p50 %v p99 %v, want 300, 100, 300 (merged rounds)", d.Ops, d.Latency.P50, d.Latency.P99)
	}
	v := s.Vb(TargetVbproxy, "binary", Point{16, 16})
	if v.Rounds != 2 || len(v.Failed) != 1 || v.OpsPerSec != 400_000 {
		t.Errorf("vbproxy pipelined rounds %d failed %v ops %v, want 2, 1 failure, 400000", v.Rounds, v.Failed, v.OpsPerSec)
	}
	mc := s.Mc(TargetDirect, "ascii", 16)
	if mc.Rounds != 2 || len(mc.Failed) != 1 || mc.OpsPerSec != 200_000 {
		t.Errorf("memcaslap direct rounds %d failed %v ops %v, want 2, 1, 200000", mc.Rounds, mc.Failed, mc.OpsPerSec)
	}
	if got := s.Memory[0].PerConnBytes; got != 8_000*1024/1000.0 {
		t.Errorf("vbproxy bytes per conn = %v, want %v", got, 8_000*1024/1000.0)
	}
}

func TestMedianRange(t *testing.T) {
	for _, tc := range []struct {
		in          []float64
		med, lo, hi float64
	}{
		{nil, 0, 0, 0}, {[]float64{5}, 5, 5, 5}, {[]float64{3, 1, 2}, 2, 1, 3}, {[]float64{4, 1, 2, 3}, 2.5, 1, 4},
	} {
		med, lo, hi := medianRange(tc.in)
		if med != tc.med || lo != tc.lo || hi != tc.hi {
			t.Errorf("medianRange(%v) = %v, %v, %v; want %v, %v, %v", tc.in, med, lo, hi, tc.med, tc.lo, tc.hi)
		}
	}
}

func TestMarkdown(t *testing.T) {
	md := markdownOf(t, sampleSummary(t), Options{ChartPath: "bench/results/c.svg", Notes: "Kept notes.",
		Generated: time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)})
	wantAll(t, md,
		"Generated 2026-01-02 03:04 UTC",
		"| CPUs (nproc) | 2 |",
		"| CPU model | unknown |",
		// memcaslap 130k / 100k.
		"| vbproxy throughput / twemproxy (memcaslap, 16 conns) | 1.30x | ≥ 1.25x | met |",
		// vbbench 140k / 100k.
		"| vbproxy throughput / twemproxy (vbbench, 16 conns, pipeline 1) | 1.40x | ≥ 1.20x | met |",
		"| vbproxy p99 / twemproxy p99 (vbbench, 16 conns, pipeline 1) | 0.50x (200 vs 400 µs) | ≤ 1.00x | met |",
		"| vbproxy / direct throughput, pipelined (vbbench, 16 conns, pipeline 16) | 0.50 | ≥ 0.70 | **not met** |",
		"| vbproxy memory per idle client connection (1000 connections, connected) | 8.0 KiB | ≤ 4.0 KiB | **not met** |",
		// Points the sample did not run are reported, not dropped.
		"| vbproxy throughput / twemproxy (memcaslap, 64 conns) | not measured | ≥ 1.40x | unknown |",
		"| vbproxy throughput / twemproxy (vbbench, 1 conn, pipeline 1) | not measured | ≥ 1.00x | unknown |",
		"| vbproxy p50 / direct p50 (vbbench, 1 conn, pipeline 1) | not measured | ≤ 1.10x | unknown |",
		"| vbproxy / direct throughput, pipelined (vbbench, 64 conns, pipeline 16) | not measured | ≥ 0.70 | unknown |",
		"| twemproxy | ascii | 16 | 100,000 | 1 (100,000–100,000) | 0.50 | 0 | 0 |",
		"| direct | ascii | 16 | 200,000 | 1 (200,000–200,000) | 1.00 | 0 | 1: memcaslap failed: y |",
		"| 16 | 1 | twemproxy | ascii | 100,000 | 1 (100,000–100,000) | 1.00† |",
		"| 16 | 16 | vbproxy | binary | 400,000 | 1 (400,000–400,000) | 0.50 |",
		"| 900 | 0 | 0; 1 rounds failed: vbbench failed: x |",
		"![Throughput and p99 latency against connections, per target and pipeline depth](bench/results/c.svg)",
		"| vbproxy | 1000 | connected | 9.8 MiB | 17.6 MiB | 8.0 KiB |",
		"- **backends**: 3 memcached",
		NotesBegin+"\nKept notes.\n"+NotesEnd,
	)
	if got := ExtractNotes([]byte(md)); got != "Kept notes." {
		t.Errorf("ExtractNotes(report) = %q, want the notes back", got)
	}
}

func TestMarkdownNotMeasured(t *testing.T) {
	s, err := Aggregate(nil)
	if err != nil {
		t.Fatal(err)
	}
	md := markdownOf(t, s, Options{})
	if n := strings.Count(md, "| not measured |"); n != 14 {
		t.Errorf("%d goals 'not measured', want 14 with no records:\n%s", n, md)
	}
	if !strings.Contains(md, DefaultNotes) {
		t.Errorf("report lacks the default notes")
	}
	if strings.Contains(md, "## Chart") {
		t.Errorf("report has a chart section without results or chart path")
	}
}

func TestExtractNotes(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"no markers", ""},
		{NotesBegin + "\n  hello\n\nworld \n" + NotesEnd, "hello\n\nworld"},
		{"x " + NotesBegin + " unterminated", ""},
	} {
		if got := ExtractNotes([]byte(tc.in)); got != tc.want {
			t.Errorf("ExtractNotes(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestSVG(t *testing.T) {
	var b strings.Builder
	if err := SVG(&b, sampleSummary(t)); err != nil {
		t.Fatal(err)
	}
	svg := b.String()
	d := xml.NewDecoder(strings.NewReader(svg))
	polylines, texts := 0, []string{}
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v\n%s", err, svg)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "polyline" {
			polylines++
		}
		if cd, ok := tok.(xml.CharData); ok {
			texts = append(texts, string(cd))
		}
	}
	// One point per series here, so no polylines; legend entries name them.
	if polylines != 0 {
		t.Errorf("%d polylines, want 0 (each series has one point)", polylines)
	}
	all := strings.Join(texts, "|")
	for _, want := range []string{"direct (binary), pipeline 1", "vbproxy (binary), pipeline 16",
		"twemproxy (ascii), pipeline 1", "Throughput (ops/s, log scale) vs connections", "100k"} {
		if !strings.Contains(all, want) {
			t.Errorf("SVG text lacks %q: %s", want, all)
		}
	}
}

func TestSVGLines(t *testing.T) {
	var recs []Record
	for _, c := range []int{1, 16, 64} {
		recs = append(recs, vbRecord(t, TargetVbproxy, "binary", 1, c, 1, float64(1000*c), int64(50*c), 5))
	}
	s, err := Aggregate(recs)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := SVG(&b, s); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(b.String(), "<polyline"); n != 2 {
		t.Errorf("%d polylines, want 2 (throughput and p99 of one series)", n)
	}
	var empty strings.Builder
	s0, _ := Aggregate(nil)
	if err := SVG(&empty, s0); err != nil || !strings.Contains(empty.String(), "no vbbench results") {
		t.Errorf("empty SVG = %q, %v", empty.String(), err)
	}
}

func TestFormatting(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{ops(0), "0"}, {ops(999.6), "1,000"}, {ops(1234567), "1,234,567"}, {ops(-1234), "-1,234"},
		{ops(math.NaN()), "–"}, {us(12.34), "12.3"}, {us(1234.5), "1,235"},
		{short(1500), "1.5k"}, {short(2e6), "2M"}, {short(20), "20"}, {short(0.5), "0.5"},
		{cell("a|b\nc"), "a\\|b c"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

// FuzzRead: the results parser must not panic on any input.
func FuzzRead(f *testing.F) {
	f.Add([]byte(`{"kind":"meta","key":"a","value":"b"}`))
	f.Add([]byte(`{"kind":"vbbench","target":"d","result":{"config":{"conns":1,"pipeline":1},"histogram":"HISTFAAAABx4nJNpmSzMwMDAwsAAAAbEAQM="}}`))
	f.Add([]byte(`{"kind":"memory","target":"v","conns":1,"rss_before_kib":1,"rss_after_kib":2}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := Read(strings.NewReader(string(data)))
		if err != nil {
			return
		}
		s, err := Aggregate(recs)
		if err != nil {
			return
		}
		_ = Markdown(io.Discard, s, Options{ChartPath: "c.svg"})
		_ = SVG(io.Discard, s)
	})
}

func TestCPUPerRequest(t *testing.T) {
	withCPU := func(r Record, c CPUSample) Record { r.CPU = &c; return r }
	recs := []Record{
		// memcaslap: CPU over all of the run's requests. Three vbproxy
		// rounds of 300,000 requests; medians 20, 10, 12 (rest), 42 µs.
		withCPU(Record{Kind: KindMemcaslap, Target: TargetVbproxy, Protocol: "binary", Round: 1, Conns: 16, OpsPerSec: 100_000, Ops: 300_000},
			CPUSample{Seconds: 3, ProxySec: 6, MemcachedSec: 3, MachineSec: 12.6}),
		withCPU(Record{Kind: KindMemcaslap, Target: TargetVbproxy, Protocol: "binary", Round: 2, Conns: 16, OpsPerSec: 100_000, Ops: 300_000},
			CPUSample{Seconds: 3, ProxySec: 9, MemcachedSec: 2.4, MachineSec: 15}),
		withCPU(Record{Kind: KindMemcaslap, Target: TargetVbproxy, Protocol: "binary", Round: 3, Conns: 16, OpsPerSec: 100_000, Ops: 300_000},
			CPUSample{Seconds: 3, ProxySec: 3, MemcachedSec: 6, MachineSec: 9}),
		// twemproxy: 40 µs per request on the machine, 16 in the proxy.
		withCPU(Record{Kind: KindMemcaslap, Target: TargetTwemproxy, Protocol: "ascii", Round: 1, Conns: 16, OpsPerSec: 50_000, Ops: 100_000},
			CPUSample{Seconds: 3, ProxySec: 1.6, MemcachedSec: 1, MachineSec: 4}),
		// A round without a sample counts for throughput only.
		{Kind: KindMemcaslap, Target: TargetDirect, Protocol: "binary", Round: 1, Conns: 16, OpsPerSec: 200_000, Ops: 600_000},
		// vbbench: requests in the window are the measured rate times its
		// length: 100,000/s over 2 s.
		withCPU(vbRecord(t, TargetVbproxy, "binary", 1, 16, 16, 100_000, 100, 10),
			CPUSample{Seconds: 2, ProxySec: 0.5, MemcachedSec: 0.2, MachineSec: 1}),
		// 1x1: vbproxy 6,000/s at 30 µs of proxy CPU (0.3 s in 10 s), p50 150
		// µs; twemproxy 5,000/s at 40 µs, p50 160; direct p50 100.
		withCPU(vbRecord(t, TargetVbproxy, "binary", 1, 1, 1, 6_000, 150, 10),
			CPUSample{Seconds: 10, ProxySec: 1.8, MemcachedSec: 0.1, MachineSec: 3}),
		withCPU(vbRecord(t, TargetTwemproxy, "ascii", 1, 1, 1, 5_000, 160, 10),
			CPUSample{Seconds: 10, ProxySec: 2, MemcachedSec: 0.1, MachineSec: 3}),
		vbRecord(t, TargetDirect, "binary", 1, 1, 1, 9_000, 100, 10),
	}
	s, err := Aggregate(recs)
	if err != nil {
		t.Fatal(err)
	}
	v := s.Mc(TargetVbproxy, "binary", 16).CPU
	if v == nil || v.Rounds != 3 || !near(v.Proxy, 20) || !near(v.Memcached, 10) || !near(v.Rest, 12) || !near(v.Machine, 42) {
		t.Errorf("vbproxy memcaslap CPU = %+v, want 3 rounds, proxy 20, memcached 10, rest 12, machine 42", v)
	}
	if d := s.Mc(TargetDirect, "binary", 16); d.CPU != nil {
		t.Errorf("direct CPU = %+v, want nil (not sampled)", d.CPU)
	}
	p := s.Vb(TargetVbproxy, "binary", Point{16, 16}).CPU
	if p == nil || !near(p.Proxy, 2.5) || !near(p.Memcached, 1) || !near(p.Rest, 1.5) || !near(p.Machine, 5) {
		t.Errorf("vbproxy vbbench CPU = %+v, want proxy 2.5, memcached 1, rest 1.5, machine 5", p)
	}

	md := markdownOf(t, s, Options{})
	wantAll(t, md,
		"## CPU per request",
		"| memcaslap | 16 | 1 | vbproxy | binary | 100,000 | 20.0 | 10.0 | 12.0 | 42.0 | 3 |",
		"| memcaslap | 16 | 1 | twemproxy | ascii | 50,000 | 16.0 | 10.0 | 14.0 | 40.0 | 1 |",
		"| vbbench | 16 | 16 | vbproxy | binary | 100,000 | 2.5 | 1.0 | 1.5 | 5.0 | 1 |",
		// 40 / 1.25 = 32 µs in all; 42 - 20 = 22 of vbproxy's run is not the proxy: 10 µs left.
		"needs at most 32.0 µs per request through vbproxy; with the rest of vbproxy's run at 22.0 µs, that leaves vbproxy 10.0 µs per request (measured: 20.0 µs; twemproxy: 16.0 µs)",
		"| vbproxy throughput / twemproxy (vbbench, 1 conn, pipeline 1) | 1.20x | ≥ 1.00x | met |",
		"| vbproxy p50 / direct p50 (vbbench, 1 conn, pipeline 1) | 1.50x (150 vs 100 µs) | ≤ 1.10x | **not met** |",
		"| vbproxy / twemproxy proxy CPU per request (vbbench, 1 conn, pipeline 1) | 0.75x (30.0 vs 40.0 µs) | ≤ 0.90x | met |",
		"| vbproxy / twemproxy proxy CPU per request (vbbench, 16 conns, pipeline 1) | not measured | ≤ 0.80x | unknown |",
	)
	if strings.Contains(md, "| memcaslap | 16 | 1 | direct |") {
		t.Error("report has a CPU row for a run that was not sampled")
	}

	if _, err := Read(strings.NewReader(`{"kind":"memcaslap","target":"d","conns":1,"protocol":"ascii","cpu":{"seconds":0,"proxy_s":1}}`)); err == nil ||
		!strings.Contains(err.Error(), "seconds > 0") {
		t.Errorf("Read(zero-length cpu window) err = %v, want a seconds > 0 complaint", err)
	}
}

func near(got, want float64) bool { return math.Abs(got-want) < 1e-9*math.Max(1, math.Abs(want)) }

// markdownOf renders s with options o.
func markdownOf(t *testing.T, s *Summary, o Options) string {
	t.Helper()
	var b strings.Builder
	if err := Markdown(&b, s, o); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// wantAll fails the test for each of wants that md lacks.
func wantAll(t *testing.T, md string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q\n%s", want, md)
		}
	}
}

func TestBaselineSection(t *testing.T) {
	withCPU := func(r Record, c CPUSample) Record { r.CPU = &c; return r }
	recs := []Record{
		{Kind: KindMeta, Key: "baseline", Value: "v0.9 (3741b3b)"},
		// vbbench 16x1: vbproxy 110,000 ops/s, p99 200 µs, 2.0 µs of proxy
		// CPU per request (0.44 s over 2 s at 110,000/s); the baseline
		// 100,000, 250 µs, 2.5 µs.
		withCPU(vbRecord(t, TargetVbproxy, "binary", 1, 16, 1, 110_000, 200, 10),
			CPUSample{Seconds: 2, ProxySec: 0.44, MemcachedSec: 0.2, MachineSec: 1}),
		withCPU(vbRecord(t, TargetBaseline, "binary", 1, 16, 1, 100_000, 250, 10),
			CPUSample{Seconds: 2, ProxySec: 0.5, MemcachedSec: 0.2, MachineSec: 1}),
		// A point only vbproxy ran has no row.
		vbRecord(t, TargetVbproxy, "binary", 1, 64, 1, 90_000, 300, 10),
		// memcaslap: 50,000 against 40,000 ops/s, neither CPU-sampled.
		{Kind: KindMemcaslap, Target: TargetVbproxy, Protocol: "binary", Round: 1, Conns: 16, OpsPerSec: 50_000, Ops: 150_000},
		{Kind: KindMemcaslap, Target: TargetBaseline, Protocol: "binary", Round: 1, Conns: 16, OpsPerSec: 40_000, Ops: 120_000},
		{Kind: KindMemcaslap, Target: TargetTwemproxy, Protocol: "ascii", Round: 1, Conns: 16, OpsPerSec: 30_000, Ops: 90_000},
	}
	s, err := Aggregate(recs)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{TargetVbproxy, TargetBaseline, TargetTwemproxy}; !slices.Equal(s.Targets, want) {
		t.Errorf("targets %v, want %v (the baseline right after vbproxy)", s.Targets, want)
	}
	md := markdownOf(t, s, Options{})
	wantAll(t, md,
		"| vbproxy-baseline | v0.9 (3741b3b) |",
		"## vbproxy against its baseline (A/B)",
		"vbproxy-baseline is vbproxy built from v0.9 (3741b3b)",
		"| memcaslap | 16 | 1 | 50,000 | 40,000 | 1.25 | – | – | – | – | – | – |",
		"| vbbench | 16 | 1 | 110,000 | 100,000 | 1.10 | 200 | 250 | 0.80 | 2.0 | 2.5 | 0.80 |",
	)
	if strings.Contains(md, "| vbbench | 64 | 1 |") {
		t.Error("the A/B table has a row for a point the baseline did not run")
	}

	// Without a baseline target there is no A/B section and no machine row.
	s, err = Aggregate(recs[3:4])
	if err != nil {
		t.Fatal(err)
	}
	if md := markdownOf(t, s, Options{}); strings.Contains(md, "baseline") {
		t.Errorf("a report without a baseline mentions one:\n%s", md)
	}
}

func TestTLSSection(t *testing.T) {
	withCPU := func(r Record, c CPUSample) Record { r.CPU = &c; return r }
	recs := []Record{
		// vbbench 16x1: plain vbproxy 110,000 ops/s, p99 200 µs, 2.0 µs of
		// proxy CPU per request (0.44 s over 2 s at 110,000/s); through TLS
		// 88,000, 250 µs, 3.0 µs (0.528 s over 2 s at 88,000/s).
		withCPU(vbRecord(t, TargetVbproxy, "binary", 1, 16, 1, 110_000, 200, 10),
			CPUSample{Seconds: 2, ProxySec: 0.44, MemcachedSec: 0.2, MachineSec: 1}),
		withCPU(vbRecord(t, TargetTLS, "binary", 1, 16, 1, 88_000, 250, 10),
			CPUSample{Seconds: 2, ProxySec: 0.528, MemcachedSec: 0.2, MachineSec: 1}),
		// 16x16 without CPU samples, two rounds each: medians 300,000 and
		// 240,000.
		vbRecord(t, TargetVbproxy, "binary", 1, 16, 16, 290_000, 400, 10),
		vbRecord(t, TargetVbproxy, "binary", 2, 16, 16, 310_000, 400, 10),
		vbRecord(t, TargetTLS, "binary", 1, 16, 16, 230_000, 500, 10),
		vbRecord(t, TargetTLS, "binary", 2, 16, 16, 250_000, 500, 10),
		// A point only the TLS target ran, and one in another protocol
		// than plain vbproxy's, have no row.
		vbRecord(t, TargetTLS, "binary", 1, 64, 1, 90_000, 300, 10),
		vbRecord(t, TargetTLS, "ascii", 1, 1, 1, 9_000, 300, 10),
		vbRecord(t, TargetVbproxy, "binary", 1, 1, 1, 10_000, 300, 10),
		vbRecord(t, TargetTwemproxy, "ascii", 1, 16, 1, 80_000, 220, 10),
	}
	s, err := Aggregate(recs)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{TargetVbproxy, TargetTLS, TargetTwemproxy}; !slices.Equal(s.Targets, want) {
		t.Errorf("targets %v, want %v (the TLS target right after vbproxy)", s.Targets, want)
	}
	md := markdownOf(t, s, Options{})
	wantAll(t, md,
		"## Client TLS (vbproxy-tls)",
		"| 16 | 1 | binary | 88,000 | 110,000 | 0.80 | 250 | 200 | 1.25 | 3.0 | 2.0 | 1.50 |",
		"| 16 | 16 | binary | 240,000 | 300,000 | 0.80 | 500 | 400 | 1.25 | – | – | – |",
		// The TLS target also has its rows in the main table.
		"| 16 | 1 | vbproxy-tls | binary | 88,000 |",
	)
	_, sec, _ := strings.Cut(md, "## Client TLS (vbproxy-tls)\n")
	sec, _, _ = strings.Cut(sec, "\n## ")
	if n := strings.Count(sec, "\n| 16 | ") + strings.Count(sec, "\n| 64 | ") + strings.Count(sec, "\n| 1 | "); n != 2 {
		t.Errorf("the TLS section has %d rows, want 2 (only points both targets ran in the same protocol):\n%s", n, sec)
	}
	if strings.Index(md, "## Client TLS") < strings.Index(md, "## CPU per request") {
		t.Error("the TLS section comes before the CPU table, want it after")
	}

	// Without a TLS target there is no TLS section.
	s, err = Aggregate(recs[:1])
	if err != nil {
		t.Fatal(err)
	}
	if md := markdownOf(t, s, Options{}); strings.Contains(md, "TLS") {
		t.Errorf("a report without a TLS target mentions TLS:\n%s", md)
	}
}

// TestTextProtocolRows: vbproxy driven in ASCII next to binary (the text
// front end against twemproxy, like for like) gets rows of its own in
// every table, like-for-like goal rows, and a line of its own colour; the
// binary goals keep comparing vbproxy's binary runs.
func TestTextProtocolRows(t *testing.T) {
	recs := []Record{
		vbRecord(t, TargetVbproxy, "binary", 1, 16, 1, 150_000, 200, 10),
		vbRecord(t, TargetVbproxy, "ascii", 1, 16, 1, 120_000, 300, 10),
		vbRecord(t, TargetTwemproxy, "ascii", 1, 16, 1, 100_000, 400, 10),
		vbRecord(t, TargetVbproxy, "ascii", 1, 64, 1, 130_000, 500, 10),
		{Kind: KindMemcaslap, Target: TargetVbproxy, Protocol: "binary", Round: 1, Conns: 16, OpsPerSec: 140_000, Ops: 1},
		{Kind: KindMemcaslap, Target: TargetVbproxy, Protocol: "ascii", Round: 1, Conns: 16, OpsPerSec: 110_000, Ops: 1},
		{Kind: KindMemcaslap, Target: TargetTwemproxy, Protocol: "ascii", Round: 1, Conns: 16, OpsPerSec: 100_000, Ops: 1},
		{Kind: KindMemcaslap, Target: TargetDirect, Protocol: "ascii", Round: 1, Conns: 16, OpsPerSec: 200_000, Ops: 1},
	}
	s, err := Aggregate(recs)
	if err != nil {
		t.Fatal(err)
	}
	if st := s.Vb(TargetVbproxy, "ascii", Point{16, 1}); st == nil || st.OpsPerSec != 120_000 {
		t.Fatalf("vbproxy ascii at 16x1: %+v, want its own stat at 120,000", st)
	}
	if st := s.Vb(TargetVbproxy, "binary", Point{16, 1}); st == nil || st.OpsPerSec != 150_000 {
		t.Fatalf("vbproxy binary at 16x1: %+v, want its own stat at 150,000", st)
	}
	md := markdownOf(t, s, Options{})
	wantAll(t, md,
		// Binary goals: vbproxy binary over twemproxy.
		"| vbproxy throughput / twemproxy (memcaslap, 16 conns) | 1.40x | ≥ 1.25x | met |",
		"| vbproxy throughput / twemproxy (vbbench, 16 conns, pipeline 1) | 1.50x | ≥ 1.20x | met |",
		// Like for like: both ASCII.
		"| vbproxy (text) throughput / twemproxy (memcaslap, 16 conns, both ASCII) | 1.10x | ≥ 1.25x | **not met** |",
		"| vbproxy (text) throughput / twemproxy (vbbench, 16 conns, pipeline 1, both ASCII) | 1.20x | ≥ 1.20x | met |",
		"| vbproxy (text) p99 / twemproxy p99 (vbbench, 16 conns, pipeline 1, both ASCII) | 0.75x (300 vs 400 µs) | ≤ 1.00x | met |",
		// Table rows per protocol; vs direct in the same protocol.
		"| vbproxy | ascii | 16 | 110,000 | 1 (110,000–110,000) | 0.55 | 0 | 0 |",
		"| vbproxy | binary | 16 | 140,000 | 1 (140,000–140,000) | – | 0 | 0 |",
		"| 16 | 1 | vbproxy | ascii | 120,000 |",
		"| 16 | 1 | vbproxy | binary | 150,000 |",
		"| 64 | 1 | vbproxy | ascii | 130,000 |",
	)
	var b strings.Builder
	if err := SVG(&b, s); err != nil {
		t.Fatal(err)
	}
	svg := b.String()
	for _, want := range []string{"vbproxy (ascii), pipeline 1", "vbproxy (binary), pipeline 1",
		`stroke="` + protocolColors[TargetVbproxy+"/ascii"] + `"`, `stroke="` + targetColors[TargetVbproxy] + `"`} {
		if !strings.Contains(svg, want) {
			t.Errorf("SVG lacks %q", want)
		}
	}

	// Without text runs there are no text goal rows.
	s, err = Aggregate(recs[:1])
	if err != nil {
		t.Fatal(err)
	}
	if md := markdownOf(t, s, Options{}); strings.Contains(md, "(text)") {
		t.Errorf("a report without text runs has text goals:\n%s", md)
	}
}
