package admin

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/vbmap"
)

// t0 is the fixed clock of the console tests.
var t0 = time.Date(2026, 12, 1, 21, 40, 0, 0, time.UTC)

// mapWith builds a map from an explicit vBucket table (and forward table,
// nil for none); rows are [active, replica...] node indexes.
func mapWith(t testing.TB, bucket string, rev int64, nodes []string, table, forward [][]int) *vbmap.Map {
	t.Helper()
	vbsm := map[string]any{"hashAlgorithm": "CRC", "numReplicas": len(table[0]) - 1, "serverList": nodes, "vBucketMap": table}
	if forward != nil {
		vbsm["vBucketMapForward"] = forward
	}
	cfg, err := json.Marshal(map[string]any{"rev": rev, "revEpoch": 1, "name": bucket, "nodeLocator": "vbucket", "vBucketServerMap": vbsm})
	if err != nil {
		t.Fatal(err)
	}
	m, err := vbmap.Parse(cfg, vbmap.ParseOptions{Origin: vbmap.OriginStream})
	if err != nil {
		t.Fatalf("vbmap.Parse: %v", err)
	}
	return m
}

// fakeProxy is what cmd/vbproxy gives the admin server for one bucket: pool
// states, client counters and a prober, all set by the test.
type fakeProxy struct {
	mu      sync.Mutex
	nodes   []NodeStatus
	clients ClientStats
	probe   ProbeResult
	err     error
	probed  [][]byte
}

func (f *fakeProxy) Nodes() []NodeStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]NodeStatus(nil), f.nodes...)
}

func (f *fakeProxy) setNodes(n ...NodeStatus) {
	f.mu.Lock()
	f.nodes = n
	f.mu.Unlock()
}

func (f *fakeProxy) Clients() ClientStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.clients
}

func (f *fakeProxy) Probe(ctx context.Context, key []byte) (ProbeResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.probed = append(f.probed, append([]byte(nil), key...))
	return f.probe, f.err
}

type consoleEnv struct {
	srv     *Server
	url     string
	maps    []*fakeMap
	proxies []*fakeProxy
	metrics *Metrics
	clock   *time.Time
}

// newConsoleEnv starts an admin server over real HTTP with a fixed clock;
// o's Buckets are built from names.
func newConsoleEnv(t *testing.T, o Options, names ...string) *consoleEnv {
	t.Helper()
	env := &consoleEnv{metrics: NewMetrics(MetricsOptions{NoRuntimeCollectors: true})}
	now := t0
	env.clock = &now
	for _, n := range names {
		fm, fp := &fakeMap{}, &fakeProxy{}
		env.maps, env.proxies = append(env.maps, fm), append(env.proxies, fp)
		o.Buckets = append(o.Buckets, Bucket{
			Name: n, Map: fm, Reloader: fm, Metrics: env.metrics.Bucket(n),
			Nodes: fp.Nodes, Clients: fp.Clients, Probe: fp.Probe,
		})
	}
	o.Metrics = env.metrics
	srv, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv.now = func() time.Time { return *env.clock }
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	env.srv, env.url = srv, ts.URL
	return env
}

// tick advances the clock by d and takes a sample.
func (env *consoleEnv) tick(d time.Duration) {
	*env.clock = env.clock.Add(d)
	env.srv.sample()
}

// compactJSON re-encodes want (written readably in the test) the way the
// server writes it.
func compactJSON(t *testing.T, want string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(want), &v); err != nil {
		t.Fatalf("want is not JSON: %v\n%s", err, want)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// sameJSON compares a body to the wanted JSON, ignoring layout and key order.
func sameJSON(t *testing.T, what, body, want string) {
	t.Helper()
	if got := compactJSON(t, body); got != compactJSON(t, want) {
		t.Errorf("%s:\n got %s\nwant %s", what, got, compactJSON(t, want))
	}
}

func decode(t *testing.T, body string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("decode: %v\n%s", err, body)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
