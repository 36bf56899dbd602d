package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/bench"
	"github.com/vbproxy/vbproxy/bench/report"
	"github.com/vbproxy/vbproxy/internal/certs"
	"github.com/vbproxy/vbproxy/internal/mctest"
)

func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb strings.Builder
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestRunArgumentErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"zero conns", []string{"-conns", "0"}, "conns: must be in [1, 100000], got 0"},
		{"bad ratio", []string{"-ratio", "2"}, "ratio: must be in [0, 1]"},
		{"bad dist", []string{"-dist", "pareto"}, `dist: "pareto" is not "uniform" or "zipfian"`},
		{"bad protocol", []string{"-protocol", "udp"}, `protocol: "udp"`},
		{"bad addr", []string{"-addr", "nohost"}, `addr: "nohost" is not host:port`},
		{"both ops and duration", []string{"-ops", "10", "-duration", "1s"}, "set -duration or -ops, not both"},
		{"zero duration", []string{"-duration", "0s"}, "-duration must be positive"},
		{"negative value size", []string{"-value-size", "-1"}, "value-size: must be in"},
		{"zero value size", []string{"-value-size", "0"}, "-value-size must be at least 1"},
		{"zero pipeline", []string{"-pipeline", "0"}, "pipeline: must be in [1, 65536], got 0"},
		{"zero keys", []string{"-keys", "0"}, "keys: must be in"},
		{"empty prefix", []string{"-prefix", ""}, "-prefix must not be empty"},
		{"zero timeout", []string{"-timeout", "0s"}, "-timeout must be positive"},
		{"server name without CA", []string{"-tls-server-name", "x.test"}, `tls-server-name: "x.test" needs tls-ca`},
		{"unknown flag", []string{"-bogus"}, "flag provided but not defined: -bogus"},
		{"stray argument", []string{"extra"}, `unexpected arguments ["extra"]`},
		{"idle zero hold", []string{"idle", "-hold", "0s"}, "-hold must be positive"},
		{"report without results", []string{"report"}, "-results is required"},
		{"report bad set", []string{"report", "-results", "x", "-set", "novalue"}, "want key=value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCmd(t, tc.args...)
			if code != exitUsage {
				t.Errorf("exit code = %d, want %d (usage)", code, exitUsage)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr = %q, want it to contain %q", stderr, tc.want)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	code, stdout, _ := runCmd(t, "help")
	if code != exitOK || !strings.Contains(stdout, "vbbench report") {
		t.Errorf("help: code %d, stdout %q", code, stdout)
	}
}

func TestRunJSONAgainstMemcached(t *testing.T) {
	addr := mctest.Start(t)
	code, stdout, stderr := runCmd(t, "run", "-addr", addr, "-duration", "500ms", "-warmup", "100ms", "-conns", "2",
		"-pipeline", "4", "-keys", "500", "-json")
	if code != exitOK {
		t.Fatalf("exit code %d, stderr %s", code, stderr)
	}
	var res bench.Result
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("output is not a JSON result: %v\n%s", err, stdout)
	}
	if res.Ops <= 0 || res.Errors != 0 || res.Hits <= 0 || res.Config.Conns != 2 || res.Config.Pipeline != 4 {
		t.Errorf("result ops %d errors %d hits %d conns %d pipeline %d; want ops>0, 0 errors, hits>0, 2, 4",
			res.Ops, res.Errors, res.Hits, res.Config.Conns, res.Config.Pipeline)
	}
	// Text output, op-count mode.
	code, stdout, stderr = runCmd(t, "-addr", addr, "-ops", "100", "-warmup", "0s", "-conns", "1", "-keys", "10")
	if code != exitOK || !strings.Contains(stdout, "throughput") || !strings.Contains(stdout, "(100 ops)") {
		t.Errorf("text run: code %d stdout %q stderr %q", code, stdout, stderr)
	}
}

func TestRunUnreachable(t *testing.T) {
	code, _, stderr := runCmd(t, "-addr", "127.0.0.1:1", "-duration", "1s", "-timeout", "1s")
	if code != exitFail || !strings.Contains(stderr, "127.0.0.1:1") {
		t.Errorf("code %d stderr %q, want %d and the address named", code, stderr, exitFail)
	}
}

func TestIdleCommand(t *testing.T) {
	addr := mctest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan int, 1)
	var errb strings.Builder
	go func() {
		done <- run(ctx, []string{"idle", "-addr", addr, "-conns", "20", "-touch", "-hold", "1m"}, pw, &errb)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("read ready line: %v (stderr %s)", err, errb.String())
	}
	if line != "ready 20\n" {
		t.Errorf("got %q, want %q", line, "ready 20\n")
	}
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("idle exit code %d, want 0", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("idle did not stop after cancel")
	}
	pr.Close()
}

func TestReportCommand(t *testing.T) {
	dir := t.TempDir()
	results := filepath.Join(dir, "results.jsonl")
	recs := `{"kind":"memcaslap","target":"vbproxy","protocol":"binary","round":1,"conns":16,"ops":10,"ops_per_sec":130000,"seconds":3}
{"kind":"memcaslap","target":"twemproxy","protocol":"ascii","round":1,"conns":16,"ops":10,"ops_per_sec":100000,"seconds":3}
{"kind":"memory","target":"vbproxy","variant":"connected","conns":100,"rss_before_kib":1000,"rss_after_kib":2000}
`
	if err := os.WriteFile(results, []byte(recs), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "BENCHMARKS.md")
	// A previous report whose notes must survive.
	prev := "# old\n" + report.NotesBegin + "\nProfile says: syscalls.\n" + report.NotesEnd + "\n"
	if err := os.WriteFile(out, []byte(prev), 0o644); err != nil {
		t.Fatal(err)
	}
	svg := filepath.Join(dir, "bench", "results", "chart.svg")
	code, stdout, stderr := runCmd(t, "report", "-results", results, "-out", out, "-svg", svg, "-set", "nproc=2", "-set", "cpu=Test CPU")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "wrote "+out) {
		t.Errorf("stdout %q", stdout)
	}
	md, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| CPU model | Test CPU |", "| 1.30x | ≥ 1.25x | met |", "Profile says: syscalls.",
		"10.0 KiB"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	if _, err := os.Stat(svg); err != nil {
		t.Errorf("chart not written: %v", err)
	}

	bad := filepath.Join(dir, "bad.jsonl")
	_ = os.WriteFile(bad, []byte("{\"kind\":\"nope\"}\n"), 0o644)
	code, _, stderr = runCmd(t, "report", "-results", bad, "-out", filepath.Join(dir, "x.md"))
	if code != exitFail || !strings.Contains(stderr, "line 1") {
		t.Errorf("bad results: code %d stderr %q, want %d and the line named", code, stderr, exitFail)
	}
}

// TestRunTLSFlags drives a TLS-only memcached through -tls-ca and
// -tls-server-name; without -tls-server-name the certificate (issued for
// memcached.test only) is refused at 127.0.0.1.
func TestRunTLSFlags(t *testing.T) {
	ca, err := certs.NewCA("vbbench test CA")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.Server("memcached.test")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil { // memcached runs as nobody under root
		t.Fatal(err)
	}
	certFile, keyFile, err := srv.WriteFiles(dir, "memcached")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(keyFile, 0o644); err != nil {
		t.Fatal(err)
	}
	caFile, _, err := ca.WriteFiles(dir, "ca")
	if err != nil {
		t.Fatal(err)
	}
	addr := mctest.Start(t, "-Z", "-o", "ssl_chain_cert="+certFile+",ssl_key="+keyFile)
	args := []string{"-addr", addr, "-duration", "300ms", "-warmup", "0s", "-conns", "2", "-keys", "100", "-json", "-tls-ca", caFile}
	code, stdout, stderr := runCmd(t, append(args, "-tls-server-name", "memcached.test")...)
	if code != exitOK {
		t.Fatalf("exit code %d, stderr %s", code, stderr)
	}
	var res bench.Result
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("output is not a JSON result: %v\n%s", err, stdout)
	}
	if !res.Config.TLS || res.Ops <= 0 || res.Errors != 0 {
		t.Errorf("result tls %v ops %d errors %d (%v), want TLS, ops > 0, no errors", res.Config.TLS, res.Ops, res.Errors, res.ErrorsByKind)
	}
	code, _, stderr = runCmd(t, args...)
	if code != exitFail || !strings.Contains(stderr, "cannot validate certificate for 127.0.0.1") {
		t.Errorf("without -tls-server-name: code %d stderr %q, want %d and the name mismatch", code, stderr, exitFail)
	}
}
