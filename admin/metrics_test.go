package admin

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
	"github.com/vbproxy/vbproxy/memcached"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// exposition renders the registry in the text format, with the Go version
// replaced so the golden file does not depend on the toolchain.
func exposition(t *testing.T, m *Metrics) string {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	var buf bytes.Buffer
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&buf, mf); err != nil {
			t.Fatalf("MetricFamilyToText: %v", err)
		}
	}
	return strings.ReplaceAll(buf.String(), runtime.Version(), "GOVERSION")
}

// TestMetricsGolden pins every metric name, help text, type and label set.
func TestMetricsGolden(t *testing.T) {
	m := NewMetrics(MetricsOptions{Version: "1.2.3", NoRuntimeCollectors: true})
	b := m.Bucket("default")
	b.Request(memcached.OpGet, memcached.StatusSuccess, 300*time.Microsecond)
	b.Request(memcached.OpGet, memcached.StatusKeyENOENT, 2*time.Millisecond)
	b.Request(0x60, 0x7f, time.Second)
	b.RequestProtocol(ProtocolText, memcached.OpGet, memcached.StatusSuccess, 400*time.Microsecond)
	b.RequestProtocol(ProtocolMeta, memcached.OpSet, memcached.StatusSuccess, 400*time.Microsecond)
	b.ReplicaRead("127.0.0.1:11210")
	b.ClientConn(ConnAccepted)
	b.ClientConn(ConnAccepted)
	b.ClientConn(ConnClosed)
	b.ClientConn(ConnRefused)
	b.UpstreamConn("127.0.0.1:11210", UpstreamConnecting)
	b.UpstreamConn("127.0.0.1:11210", UpstreamUp)
	b.UpstreamError("127.0.0.1:11210", "timeout")
	b.UpstreamRequest("127.0.0.1:11210", memcached.StatusSuccess, 200*time.Microsecond)
	b.UpstreamRequest("127.0.0.1:11210", memcached.StatusNotMyVBucket, 3*time.Millisecond)
	b.NMVBRetry()
	b.Bytes(100, 250)
	b.FetchError("http://127.0.0.1:8091/pools/default/bs/default", os.ErrDeadlineExceeded)
	b.reload(true)
	m.AddNodeSource("default", func() []NodeStatus {
		return []NodeStatus{{Addr: "127.0.0.1:11210", State: "up", Conns: 2}}
	})
	m.AddListenerSource("default", "127.0.0.1:11207", func() ListenerStats {
		return ListenerStats{Admitting: 2, Handshaking: 1, Admitted: 10, WithHeader: 4,
			Refused: []ReasonCount{{"untrusted_source", 3}, {"tls_handshake_failed", 1}},
			TLS:     true, CertNotAfter: time.Unix(1893456000, 0), CertReloads: 2, CertReloadErrors: 1, CertReloadFailing: true}
	})
	m.AddListenerSource("default", "127.0.0.1:11211", func() ListenerStats {
		return ListenerStats{Admitted: 5, WithHeader: 5, Refused: []ReasonCount{{"no_proxy_header", 2}}}
	})

	got := exposition(t, m)
	path := filepath.Join("testdata", "metrics.golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./admin -run Golden -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("exposition differs from %s (rerun with -update after checking):\n got:\n%s", path, got)
	}
}

// TestMetricsLint runs promlint (what promtool check metrics runs) over the
// full registry, runtime collectors included.
func TestMetricsLint(t *testing.T) {
	m := NewMetrics(MetricsOptions{})
	b := m.Bucket("default")
	b.Request(memcached.OpSet, memcached.StatusSuccess, time.Millisecond)
	b.UpstreamConn("127.0.0.1:11210", UpstreamUp)
	b.UpstreamError("127.0.0.1:11210", "io")
	b.UpstreamRequest("127.0.0.1:11210", memcached.StatusSuccess, time.Millisecond)
	m.AddNodeSource("default", func() []NodeStatus { return []NodeStatus{{Addr: "127.0.0.1:11210", State: "up", Conns: 1}} })
	b.RequestProtocol(ProtocolText, memcached.OpGet, memcached.StatusSuccess, time.Millisecond)
	b.ReplicaRead("127.0.0.1:11210")
	m.AddListenerSource("default", "127.0.0.1:11207", func() ListenerStats {
		return ListenerStats{Refused: []ReasonCount{{"untrusted_source", 1}}, TLS: true, CertNotAfter: time.Now()}
	})
	problems, err := testutil.GatherAndLint(m.Registry())
	if err != nil {
		t.Fatalf("GatherAndLint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func TestMetricsMove(t *testing.T) {
	m := NewMetrics(MetricsOptions{NoRuntimeCollectors: true})
	b := m.Bucket("default")
	if m.Bucket("default") != b {
		t.Fatal("Bucket(default) twice: got two BucketMetrics, want one shared")
	}
	for range 3 {
		b.Request(memcached.OpGetKQ, memcached.StatusSuccess, time.Millisecond)
	}
	b.Request(memcached.OpGetKQ, memcached.StatusNotMyVBucket, time.Millisecond)
	b.MapApplied(parseMap(t, "default", 42, nodeAddrs(3), 64))

	text := exposition(t, m)
	tests := []struct{ name, labels, want string }{
		{"vbproxy_requests_total", `bucket="default",opcode="GETKQ",protocol="binary",status="SUCCESS"`, "3"},
		{"vbproxy_requests_total", `bucket="default",opcode="GETKQ",protocol="binary",status="NOT_MY_VBUCKET"`, "1"},
		{"vbproxy_request_duration_seconds_count", `bucket="default",opcode="GETKQ",protocol="binary"`, "4"},
		{"vbproxy_map_revision", `bucket="default"`, "42"},
		{"vbproxy_map_epoch", `bucket="default"`, "1"},
		{"vbproxy_map_vbuckets", `bucket="default"`, "64"},
		{"vbproxy_map_nodes", `bucket="default"`, "3"},
		{"vbproxy_map_updates_total", `bucket="default",origin="stream"`, "1"},
		{"vbproxy_map_updates_total", `bucket="default",origin="poll"`, "0"},
	}
	for _, tt := range tests {
		got, ok := metricValue(t, text, tt.name, tt.labels)
		if !ok || got != tt.want {
			t.Errorf("%s{%s}: got %q (found %v), want %q", tt.name, tt.labels, got, ok, tt.want)
		}
	}
	if ts, _ := metricValue(t, text, "vbproxy_map_last_update_timestamp_seconds", `bucket="default"`); ts == "0" || ts == "" {
		t.Errorf("map_last_update_timestamp_seconds: got %q, want the apply time", ts)
	}
}

// TestNodeSourcesSummed: two listeners of one bucket report the same node.
func TestNodeSourcesSummed(t *testing.T) {
	m := NewMetrics(MetricsOptions{NoRuntimeCollectors: true})
	m.AddNodeSource("b", func() []NodeStatus { return []NodeStatus{{Addr: "n1:11210", State: "up", Conns: 2}} })
	m.AddNodeSource("b", func() []NodeStatus {
		return []NodeStatus{{Addr: "n1:11210", State: "down"}, {Addr: "n2:11210", State: "bogus"}}
	})
	text := exposition(t, m)
	tests := []struct{ name, labels, want string }{
		{"vbproxy_upstream_connections", `bucket="b",node="n1:11210"`, "2"},
		{"vbproxy_upstream_node_state", `bucket="b",node="n1:11210",state="up"`, "1"},
		{"vbproxy_upstream_node_state", `bucket="b",node="n1:11210",state="down"`, "1"},
		{"vbproxy_upstream_node_state", `bucket="b",node="n1:11210",state="connecting"`, "0"},
		{"vbproxy_upstream_node_state", `bucket="b",node="n2:11210",state="other"`, "1"},
	}
	for _, tt := range tests {
		got, ok := metricValue(t, text, tt.name, tt.labels)
		if !ok || got != tt.want {
			t.Errorf("%s{%s}: got %q (found %v), want %q", tt.name, tt.labels, got, ok, tt.want)
		}
	}
	if _, ok := metricValue(t, text, "vbproxy_upstream_node_state", `bucket="b",node="n1:11210",state="other"`); ok {
		t.Error("state=\"other\" exported with value 0; want it only when a pool reports an unknown state")
	}
}

// TestObserverNoAlloc: the proxy calls these on every request.
func TestObserverNoAlloc(t *testing.T) {
	m := NewMetrics(MetricsOptions{NoRuntimeCollectors: true})
	b := m.Bucket("default")
	b.Request(memcached.OpGet, memcached.StatusSuccess, time.Millisecond) // resolve the children once
	b.RequestProtocol(ProtocolMeta, memcached.OpGet, memcached.StatusSuccess, time.Millisecond)
	b.UpstreamError("n1", "timeout")
	b.UpstreamConn("n1", UpstreamUp)
	tests := []struct {
		name string
		fn   func()
	}{
		{"Request", func() { b.Request(memcached.OpGet, memcached.StatusSuccess, time.Millisecond) }},
		{"RequestProtocol", func() { b.RequestProtocol(ProtocolMeta, memcached.OpGet, memcached.StatusSuccess, time.Millisecond) }},
		{"ReplicaRead", func() { b.ReplicaRead("n1") }},
		{"Bytes", func() { b.Bytes(24, 48) }},
		{"ClientConn", func() { b.ClientConn(ConnAccepted); b.ClientConn(ConnClosed) }},
		{"NMVBRetry", b.NMVBRetry},
		{"UpstreamError", func() { b.UpstreamError("n1", "timeout") }},
		{"UpstreamConn", func() { b.UpstreamConn("n1", UpstreamDown) }},
		{"UpstreamRequest", func() { b.UpstreamRequest("n1", memcached.StatusSuccess, 300*time.Microsecond) }},
	}
	for _, tt := range tests {
		if got := testing.AllocsPerRun(100, tt.fn); got != 0 {
			t.Errorf("%s: got %v allocs per call, want 0", tt.name, got)
		}
	}
}

func BenchmarkObserverRequest(b *testing.B) {
	m := NewMetrics(MetricsOptions{NoRuntimeCollectors: true})
	bm := m.Bucket("default")
	ops := []memcached.Opcode{memcached.OpGet, memcached.OpSet, memcached.OpGetKQ, memcached.OpDelete}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			bm.Request(ops[i&3], memcached.StatusSuccess, 250*time.Microsecond)
			i++
		}
	})
}

func BenchmarkObserverUpstreamError(b *testing.B) {
	m := NewMetrics(MetricsOptions{NoRuntimeCollectors: true})
	bm := m.Bucket("default")
	nodes := nodeAddrs(3)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		bm.UpstreamError(nodes[i%3], "timeout")
	}
}
