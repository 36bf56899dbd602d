package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/bench/report"
)

// TestBenchCompareQuick runs scripts/bench-compare.sh in its smoke version
// (BENCH_QUICK=1, about a minute): real memcached, nutcracker, memcaslap and
// vbproxy on loopback (in binary and, like twemproxy, in ASCII), vbproxy's
// TLS listener as target vbproxy-tls, and a second vbproxy as the A/B
// baseline (VBPROXY_BASELINE_BIN). It checks that every run produced numbers without
// errors and that the report has every section; it asserts nothing about
// performance.
func TestBenchCompareQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the one-minute bench-compare smoke test; skipped with -short")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	baseline := filepath.Join(t.TempDir(), "vbproxy-baseline")
	build := exec.Command("go", "build", "-o", baseline, "./cmd/vbproxy")
	build.Dir = root
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the baseline vbproxy: %v\n%s", err, b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "scripts", "bench-compare.sh"))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "BENCH_QUICK=1", "BENCH_OUT="+out, "BENCH_IDLE_CONNS=1000", "BENCH_CONNS=1 16",
		"VBPROXY_BASELINE_BIN="+baseline)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Run(); err != nil {
		t.Fatalf("bench-compare.sh: %v\n%s", err, logs.String())
	}

	f, err := os.Open(filepath.Join(out, "results.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	kinds := map[string]int{}
	targets := map[string]int{}
	text := map[string]int{} // vbproxy driven in ASCII, by kind
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		var r report.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("results line %q: %v", sc.Text(), err)
		}
		kinds[r.Kind]++
		targets[r.Target]++
		if r.Target == report.TargetVbproxy && (r.Protocol == "ascii" || r.Result != nil && r.Result.Protocol == "ascii") {
			text[r.Kind]++
		}
		if r.Error != "" {
			t.Errorf("%s %s failed: %s", r.Kind, r.Target, r.Error)
		}
		if r.Result != nil {
			if r.Result.Ops <= 0 || r.Result.Errors != 0 || r.Result.Hits <= 0 {
				t.Errorf("vbbench %s conns %d pipeline %d: ops %d errors %d (%v) hits %d; want ops>0, no errors, hits>0",
					r.Target, r.Result.Config.Conns, r.Result.Config.Pipeline, r.Result.Ops, r.Result.Errors,
					r.Result.ErrorsByKind, r.Result.Hits)
			}
		}
		if r.Kind == report.KindMemcaslap && r.OpsPerSec <= 0 {
			t.Errorf("memcaslap %s/%s: %v ops/s, want > 0", r.Target, r.Protocol, r.OpsPerSec)
		}
		if r.Kind == report.KindVbbench || r.Kind == report.KindMemcaslap {
			// Every run is CPU-sampled: the machine was busy, memcached
			// worked, and a proxy target's process used CPU (direct has none).
			c := r.CPU
			switch {
			case c == nil:
				t.Errorf("%s %s: no cpu sample", r.Kind, r.Target)
			case c.Seconds <= 0 || c.MachineSec <= 0 || c.MemcachedSec <= 0 || c.MachineSec < c.ProxySec+c.MemcachedSec-0.05:
				t.Errorf("%s %s: implausible cpu sample %+v", r.Kind, r.Target, *c)
			case (r.Target == report.TargetDirect) != (c.ProxySec == 0):
				t.Errorf("%s %s: proxy CPU %v s (want 0 exactly for direct, > 0 for a proxy)", r.Kind, r.Target, c.ProxySec)
			}
		}
	}
	// 6 vbbench runs (5 targets, vbproxy-tls and the baseline included,
	// and vbproxy again in ASCII) x 2 conns x 2 pipelines; 6 memcaslap runs
	// (not vbproxy-tls: memcaslap speaks no TLS; vbproxy in binary and
	// ASCII); 2 proxies x 2 memory variants (not the baseline).
	if kinds[report.KindVbbench] != 24 || kinds[report.KindMemcaslap] != 6 || kinds[report.KindMemory] != 4 {
		t.Errorf("record counts %v, want 24 vbbench, 6 memcaslap, 4 memory", kinds)
	}
	if text[report.KindVbbench] != 4 || text[report.KindMemcaslap] != 1 {
		t.Errorf("vbproxy ASCII records %v, want 4 vbbench and 1 memcaslap", text)
	}
	if targets[report.TargetBaseline] != 5 {
		t.Errorf("%d records for %s, want 5 (4 vbbench, 1 memcaslap)", targets[report.TargetBaseline], report.TargetBaseline)
	}
	if targets[report.TargetTLS] != 4 {
		t.Errorf("%d records for %s, want 4 (vbbench only)", targets[report.TargetTLS], report.TargetTLS)
	}
	md, err := os.ReadFile(filepath.Join(out, "BENCHMARKS.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## Goals", "## Throughput, like for like (memcaslap)", "## Throughput and latency (vbbench)",
		"## Memory per idle client connection", "## Chart", "## CPU per request", "Budget (memcaslap, 16 conns)", report.NotesBegin, "| CPUs (nproc) |",
		"| vbproxy-baseline | binary " + baseline + " |",
		"| vbproxy (text) throughput / twemproxy (memcaslap, 16 conns, both ASCII) |",
		"| vbproxy (text) p99 / twemproxy p99 (vbbench, 16 conns, pipeline 1, both ASCII) |",
		"| 16 | 1 | vbproxy | ascii | "} {
		if !strings.Contains(string(md), want) {
			t.Errorf("BENCHMARKS.md lacks %q", want)
		}
	}
	// The A/B table has a row per point both vbproxies ran: 4 vbbench, 1 memcaslap.
	if _, ab, ok := strings.Cut(string(md), "## vbproxy against its baseline (A/B)\n"); !ok {
		t.Error("BENCHMARKS.md lacks the A/B section")
	} else {
		ab, _, _ = strings.Cut(ab, "\n## ")
		if n, m := strings.Count(ab, "\n| vbbench | "), strings.Count(ab, "\n| memcaslap | "); n != 4 || m != 1 {
			t.Errorf("A/B section has %d vbbench and %d memcaslap rows, want 4 and 1:\n%s", n, m, ab)
		}
	}
	// The TLS table has a row per point: 2 conns x 2 pipelines.
	if _, sec, ok := strings.Cut(string(md), "## Client TLS (vbproxy-tls)\n"); !ok {
		t.Error("BENCHMARKS.md lacks the Client TLS section")
	} else {
		sec, _, _ = strings.Cut(sec, "\n## ")
		if n := strings.Count(sec, " | binary | "); n != 4 {
			t.Errorf("Client TLS section has %d rows, want 4:\n%s", n, sec)
		}
	}
	// A quick run has the 1- and 16-connection points only: every goal at
	// those points is measured; the 64-connection goals are not.
	for line := range strings.Lines(string(md)) {
		if strings.Contains(line, "| not measured |") && !strings.Contains(line, "64 conns") {
			t.Errorf("a goal of the quick run's points was not measured: %s", line)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "bench-compare.svg")); err != nil {
		t.Errorf("chart: %v", err)
	}
}
