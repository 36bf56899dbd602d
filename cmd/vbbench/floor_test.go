package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestLatencyFloorQuick runs scripts/latency-floor.sh for one short round:
// it builds bench/relay/relay.c with cc and drives a real memcached directly,
// through the relay (blocking and polling), through vbproxy and through
// nutcracker. It checks that every target answered without errors and that
// each proxy's CPU was sampled; it asserts nothing about performance.
func TestLatencyFloorQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the latency-floor smoke test (about 20 s); skipped with -short")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	rows := filepath.Join(t.TempDir(), "rows")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "scripts", "latency-floor.sh"))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "ROUNDS=1", "DURATION=1", "RESULTS="+rows)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("latency-floor.sh: %v\n%s", err, out.String())
	}
	b, err := os.ReadFile(rows)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for line := range strings.Lines(string(b)) {
		// round, target, ops/s, p50 µs, errors, proxy CPU µs per request
		f := strings.Fields(line)
		if len(f) != 6 {
			t.Fatalf("row %q: want 6 fields", line)
		}
		target := f[1]
		seen[target] = true
		num := func(i int) float64 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				t.Fatalf("row %q field %d: %v", line, i, err)
			}
			return v
		}
		if ops, p50, errs := num(2), num(3), num(4); ops <= 0 || p50 <= 0 || errs != 0 {
			t.Errorf("%s: %v ops/s, p50 %v µs, %v errors; want ops and p50 > 0, no errors", target, ops, p50, errs)
		}
		if cpu := num(5); target == "direct" && cpu != 0 || target != "direct" && cpu <= 0 {
			t.Errorf("%s: proxy CPU %v µs per request (want 0 exactly for direct, > 0 for a proxy)", target, cpu)
		}
	}
	for _, want := range []string{"direct", "relay", "relay-spin", "vbproxy", "twemproxy"} {
		if !seen[want] {
			t.Errorf("no row for %s in\n%s", want, b)
		}
		if !strings.Contains(out.String(), "\n| "+want+" | ") {
			t.Errorf("the table has no row for %s:\n%s", want, out.String())
		}
	}
}
