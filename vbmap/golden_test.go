package vbmap

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// dumpMap renders m as stable text: header, nodes, management URLs, then the
// vBucket table with runs of identical rows folded into ranges.
func dumpMap(m *Map) string {
	var b strings.Builder
	fmt.Fprintf(&b, "bucket: %q\n", m.Bucket())
	fmt.Fprintf(&b, "revision: %s versioned=%v\n", m.Revision(), m.Versioned())
	fmt.Fprintf(&b, "origin: %s\nnetwork: %s\n", m.Origin(), m.Network())
	fmt.Fprintf(&b, "vbuckets: %d replicas: %d forward: %v\n", m.NumVBuckets(), m.NumReplicas(), m.HasForward())
	b.WriteString("nodes:\n")
	for i, n := range m.Nodes() {
		fmt.Fprintf(&b, "  %d %s mgmt=%q\n", i, n.Addr, n.MgmtURL)
	}
	b.WriteString("mgmt urls:\n")
	for _, u := range m.MgmtURLs() {
		fmt.Fprintf(&b, "  %s\n", u)
	}
	b.WriteString("vbuckets (first-last: active replicas -> forward):\n")
	row := func(vb int) string {
		return fmt.Sprintf("%d %v -> %d", m.Active(uint16(vb)), m.Replicas(uint16(vb)), m.Forward(uint16(vb)))
	}
	for start := 0; start < m.NumVBuckets(); {
		end := start
		for end+1 < m.NumVBuckets() && row(end+1) == row(start) {
			end++
		}
		fmt.Fprintf(&b, "  %d-%d: %s\n", start, end, row(start))
		start = end + 1
	}
	return b.String()
}

// checkGolden compares got with testdata/<name>, rewriting it under -update.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run go test -run %s -update to create): %v", t.Name(), err)
	}
	if got != string(want) {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := range max(len(gl), len(wl)) {
			g, w := "", ""
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("%s differs at line %d:\n got: %s\nwant: %s", path, i+1, g, w)
			}
		}
	}
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestParseGolden(t *testing.T) {
	tests := []struct {
		config string
		opts   ParseOptions
		golden string
	}{
		{"cluster-3node-full.json", ParseOptions{Host: "10.0.0.1", Origin: OriginFetch}, "cluster-3node-full.golden"},
		{"terse-host.json", ParseOptions{Host: "10.1.0.1:8091", Origin: OriginStream}, "terse-host.golden"},
		{"terse-host.json", ParseOptions{Host: "10.1.0.1", Origin: OriginStream, TLS: true}, "terse-host-tls.golden"},
		{"rebalance-forward.json", ParseOptions{Host: "cb-0.cb.svc", Origin: OriginNMVB}, "rebalance-forward.golden"},
		{"alternate-addresses.json", ParseOptions{Host: "cb-0.cb.default.svc", Network: "default", Origin: OriginPoll}, "alternate-default.golden"},
		{"alternate-addresses.json", ParseOptions{Host: "cb-0.cb.default.svc", Network: "external", Origin: OriginPoll}, "alternate-external.golden"},
		{"alternate-addresses.json", ParseOptions{Host: "203.0.113.10", Network: "auto", Origin: OriginPoll}, "alternate-external.golden"},
		{"alternate-addresses.json", ParseOptions{Host: "cb-1.cb.default.svc", Network: "auto", Origin: OriginPoll}, "alternate-default.golden"},
		// TLS: kvSSL and mgmtSSL, the alternate address's where it has them.
		{"alternate-addresses.json", ParseOptions{Host: "cb-0.cb.default.svc", Network: "default", Origin: OriginPoll, TLS: true}, "alternate-default-tls.golden"},
		{"alternate-addresses.json", ParseOptions{Host: "cb-0.cb.default.svc", Network: "external", Origin: OriginPoll, TLS: true}, "alternate-external-tls.golden"},
		{"tls-shuffled.json", ParseOptions{Host: "127.0.0.1:9000", Origin: OriginStream, TLS: true}, "tls-shuffled.golden"},
		{"tls-shuffled.json", ParseOptions{Host: "127.0.0.1:9000", Origin: OriginStream}, "tls-shuffled-plain.golden"},
		{"memcached-static.json", ParseOptions{Origin: OriginStatic}, "memcached-static.golden"},
		{"ipv6-terse.json", ParseOptions{Host: "[fd00::1]:8091", Origin: OriginFetch}, "ipv6-terse.golden"},
		{"ipv6-terse.json", ParseOptions{Host: "fd00::1", Origin: OriginFetch}, "ipv6-terse.golden"},
		{"legacy-nodes.json", ParseOptions{Host: "192.168.1.10", Origin: OriginFetch}, "legacy-nodes.golden"},
	}
	for _, tt := range tests {
		t.Run(tt.golden+"/"+tt.opts.Network+"/"+tt.opts.Host, func(t *testing.T) {
			m, err := Parse(readTestdata(t, tt.config), tt.opts)
			if err != nil {
				t.Fatalf("Parse(%s): %v", tt.config, err)
			}
			checkGolden(t, tt.golden, dumpMap(m))
			checkInvariants(t, m)
		})
	}
}

// checkInvariants asserts what every accepted Map guarantees.
func checkInvariants(t testing.TB, m *Map) {
	t.Helper()
	n := len(m.Nodes())
	if n == 0 || m.NumVBuckets() == 0 || m.NumVBuckets() > MaxVBuckets {
		t.Fatalf("nodes=%d vbuckets=%d: want both > 0 and vbuckets <= %d", n, m.NumVBuckets(), MaxVBuckets)
	}
	in := func(i int) bool { return i >= -1 && i < n }
	for vb := range m.NumVBuckets() {
		v := uint16(vb)
		if !in(m.Active(v)) || !in(m.Forward(v)) {
			t.Fatalf("vb %d: active %d forward %d outside %d nodes", vb, m.Active(v), m.Forward(v), n)
		}
		if slices.ContainsFunc(m.Replicas(v), func(i int) bool { return i < 0 || i >= n }) {
			t.Fatalf("vb %d: replicas %v outside %d nodes", vb, m.Replicas(v), n)
		}
	}
	for i, node := range m.Nodes() {
		if node.Addr == "" {
			t.Fatalf("node %d: empty Addr", i)
		}
	}
}
