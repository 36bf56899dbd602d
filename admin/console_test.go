package admin

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
)

func TestConsolePage(t *testing.T) {
	env := apiEnv(t, Options{Version: "1.2.3"})
	code, hdr, body := do(t, "GET", env.url+"/")
	if code != 200 || hdr.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET /: %d %q", code, hdr.Get("Content-Type"))
	}
	if csp := hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("Content-Security-Policy %q, want default-src 'self' (nothing from elsewhere)", csp)
	}
	// The cells as rendered: vBucket 1 moves from node 1 to node 0, vBucket 2
	// from node 0 to node 1.
	cells := `<i class="a0 r1"></i><i class="a1 r0 f0 mv"></i><i class="a0 r1 f1 mv"></i><i class="a1 r0"></i>`
	for _, want := range []string{
		`<div class="grid" data-grid data-revision="1/5" style="--cols: 2">` + cells + `</div>`,
		`<li data-colour="0" data-node="127.0.0.1:11210"><i class="sw a0"></i>127.0.0.1:11210 <span class="n">2 active</span></li>`,
		`<tr data-node="127.0.0.1:11211"><td><i class="sw a1"></i>127.0.0.1:11211</td><td class="st st-down">down: dial tcp 127.0.0.1:11211: connection refused</td><td>0</td><td>2 (+1)</td><td>2</td><td>0</td><td>1</td><td>—</td><td>—</td><td>0</td></tr>`,
		`<tr data-node="127.0.0.1:11210"><td><i class="sw a0"></i>127.0.0.1:11210</td><td class="st st-up">up</td><td>2</td><td>2 (+1)</td><td>2</td><td>2</td><td>0</td><td>1.8 ms</td><td>2.5 ms</td><td>1</td></tr>`,
		`clients: <b>3</b> connected · 10 accepted · 1 refused · 2 failed logins · 100 req/s · binary 3`,
		`<span class="kind kind-map">map</span> [default] map 1/5 (stream): 2 nodes, 4 vBuckets, 2 moving`,
		`<span class="muted" id="version">1.2.3</span>`,
		`<script src="/assets/console.js" defer></script>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	// Nothing is loaded from another origin.
	if m := regexp.MustCompile(`(?i)(src|href)="(https?:)?//`).FindString(body); m != "" {
		t.Errorf("page loads %s from elsewhere; it must work air-gapped", m)
	}
	if strings.Contains(body, `id="lookup-token" placeholder="admin token (for the check)" aria-label="admin token">`) {
		t.Error("token box shown without admin.token_file")
	}
}

func TestConsoleEscapes(t *testing.T) {
	env := newConsoleEnv(t, Options{}, "default")
	evil := `<img src=x onerror=alert(1)>:11210`
	env.maps[0].cur.Store(mapWith(t, "default", 1, []string{evil}, [][]int{{0}}, nil))
	env.proxies[0].setNodes(NodeStatus{Addr: evil, State: "down", Reason: "<script>alert(2)</script>"})
	_, _, body := do(t, "GET", env.url+"/")
	if strings.Contains(body, "<img src=x") || strings.Contains(body, "<script>alert") {
		t.Error("a node address or reason reached the page unescaped")
	}
}

func TestConsoleAssets(t *testing.T) {
	env := newConsoleEnv(t, Options{}, "default")
	for _, a := range []struct{ path, ctype, contains string }{
		{"/assets/console.js", "text/javascript; charset=utf-8", `fetch("/api/state"`},
		{"/assets/console.css", "text/css; charset=utf-8", "--c0: #CC6677"},
	} {
		code, hdr, body := do(t, "GET", env.url+a.path)
		if code != 200 || hdr.Get("Content-Type") != a.ctype || !strings.Contains(body, a.contains) {
			t.Errorf("GET %s: %d %q, want 200 %s containing %q", a.path, code, hdr.Get("Content-Type"), a.ctype, a.contains)
		}
	}
	for _, p := range []string{"/assets/index.html", "/assets/../console.go", "/nope"} {
		if code, _, _ := do(t, "GET", env.url+p); code != 404 {
			t.Errorf("GET %s: %d, want 404", p, code)
		}
	}
	if code, _, _ := do(t, "POST", env.url+"/"); code != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %d, want 405", code)
	}
}

// benchEnv is a 1024-vBucket, 8-node bucket under load: every node has
// answered requests and the sampler has run.
func benchEnv(b *testing.B) *Server {
	nodes := make([]string, 8)
	for i := range nodes {
		nodes[i] = fmt.Sprintf("10.0.0.%d:11210", i+1)
	}
	table, forward := make([][]int, 1024), make([][]int, 1024)
	for vb := range table {
		a := vb % 8
		table[vb] = []int{a, (a + 1) % 8}
		forward[vb] = []int{(a + vb/512) % 8, (a + 1) % 8} // half the vBuckets moving
	}
	m := mapWith(b, "default", 100, nodes, table, forward)
	metrics := NewMetrics(MetricsOptions{NoRuntimeCollectors: true})
	bm := metrics.Bucket("default")
	fm := &fakeMap{}
	fm.cur.Store(m)
	var pools []NodeStatus
	for _, n := range nodes {
		pools = append(pools, NodeStatus{Addr: n, State: "up", Conns: 2})
	}
	srv, err := New(Options{Metrics: metrics, Buckets: []Bucket{{
		Name: "default", Map: fm, Metrics: bm,
		Nodes:   func() []NodeStatus { return pools },
		Clients: func() ClientStats { return ClientStats{Connections: 100, Accepted: 1000, Requests: 1e6} },
	}}})
	if err != nil {
		b.Fatal(err)
	}
	srv.MapChanged("default", nil, m)
	for i := range 5 {
		for j := range 1000 {
			bm.UpstreamRequest(nodes[j%8], memcached.StatusSuccess, time.Duration(100+j)*time.Microsecond)
		}
		srv.now = func() time.Time { return t0.Add(time.Duration(i) * time.Second) }
		srv.sample()
	}
	return srv
}

// BenchmarkAPIState is the per-second cost of one watching console.
func BenchmarkAPIState(b *testing.B) {
	srv := benchEnv(b)
	h := srv.Handler()
	req := httptest.NewRequest("GET", "/api/state", nil)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
	}
}

// BenchmarkAPIGrid: the grid of an unchanged map comes from the cache.
func BenchmarkAPIGrid(b *testing.B) {
	srv := benchEnv(b)
	h := srv.Handler()
	req := httptest.NewRequest("GET", "/api/grid", nil)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
	}
}

// BenchmarkGridBuild is the cost of a new map: once per map change.
func BenchmarkGridBuild(b *testing.B) {
	srv := benchEnv(b)
	m := srv.buckets[0].Map.Current()
	colours := srv.states[0].coloursOf(m)
	b.ReportAllocs()
	for b.Loop() {
		buildGrid("default", m, colours)
	}
}

// BenchmarkConsolePage is GET /, once per page load.
func BenchmarkConsolePage(b *testing.B) {
	srv := benchEnv(b)
	h := srv.Handler()
	req := httptest.NewRequest("GET", "/", nil)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
	}
}
