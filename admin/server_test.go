package admin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
	"github.com/vbproxy/vbproxy/vbmap"
)

type testEnv struct {
	srv   *Server
	url   string
	maps  []*fakeMap
	ready []*atomic.Bool
}

// newEnv starts an admin server over real HTTP for the named buckets.
func newEnv(t *testing.T, pprof bool, names ...string) *testEnv {
	t.Helper()
	env := &testEnv{}
	metrics := NewMetrics(MetricsOptions{NoRuntimeCollectors: true})
	var buckets []Bucket
	for _, n := range names {
		fm := &fakeMap{}
		ready := &atomic.Bool{}
		ready.Store(true)
		env.maps = append(env.maps, fm)
		env.ready = append(env.ready, ready)
		buckets = append(buckets, Bucket{
			Name: n, Map: fm, Reloader: fm, Ready: ready.Load, Metrics: metrics.Bucket(n),
			Nodes: func() []NodeStatus {
				return []NodeStatus{{Addr: "127.0.0.1:11210", State: "up", Conns: 2}}
			},
		})
	}
	srv, err := New(Options{Buckets: buckets, Metrics: metrics, Pprof: pprof})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	env.srv, env.url = srv, ts.URL
	return env
}

func do(t *testing.T, method, url string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(body)
}

func TestNewRejects(t *testing.T) {
	fm := &fakeMap{}
	tests := []struct {
		name    string
		buckets []Bucket
		want    error
	}{
		{"none", nil, ErrNoBuckets},
		{"no name", []Bucket{{Map: fm}}, ErrBucketName},
		{"duplicate", []Bucket{{Name: "a", Map: fm}, {Name: "a", Map: fm}}, ErrDuplicate},
		{"no map", []Bucket{{Name: "a"}}, ErrNoMapProvider},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(Options{Buckets: tt.buckets}); !errors.Is(err, tt.want) {
				t.Errorf("New: got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestHealthAndReadiness(t *testing.T) {
	env := newEnv(t, false, "default", "sessions")
	if code, _, body := do(t, "GET", env.url+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("healthz: got %d %q, want 200 ok", code, body)
	}
	steps := []struct {
		name     string
		setup    func()
		wantCode int
		wantBody string
	}{
		{"no maps", func() {}, 503,
			`bucket "default": no vBucket map loaded yet; bucket "sessions": no vBucket map loaded yet`},
		{"one map", func() { env.maps[0].cur.Store(parseMap(t, "default", 1, nodeAddrs(1), 4)) }, 503,
			`bucket "sessions": no vBucket map loaded yet`},
		{"both maps", func() { env.maps[1].cur.Store(parseMap(t, "sessions", 1, nodeAddrs(1), 4)) }, 200, "ok"},
		{"listener down", func() { env.ready[1].Store(false) }, 503, `bucket "sessions": listener not serving`},
		{"listener up", func() { env.ready[1].Store(true) }, 200, "ok"},
		{"draining", env.srv.SetDraining, 503, "shutting down"},
	}
	for _, st := range steps {
		st.setup()
		code, _, body := do(t, "GET", env.url+"/readyz")
		if code != st.wantCode || body != st.wantBody+"\n" {
			t.Errorf("%s: readyz got %d %q, want %d %q", st.name, code, body, st.wantCode, st.wantBody)
		}
		if got := env.srv.Ready(); got != (st.wantCode == 200) {
			t.Errorf("%s: Ready() = %v, want %v", st.name, got, st.wantCode == 200)
		}
	}
	if code, _, _ := do(t, "GET", env.url+"/healthz"); code != 200 {
		t.Errorf("healthz while draining: got %d, want 200", code)
	}
}

func TestVBMap(t *testing.T) {
	env := newEnv(t, false, "default", "sessions")
	if code, _, body := do(t, "GET", env.url+"/vbmap"); code != 503 || !strings.Contains(body, "no vBucket map loaded yet") {
		t.Errorf("vbmap without map: got %d %s, want 503 no map", code, body)
	}
	env.maps[0].cur.Store(parseMap(t, "default", 7, nodeAddrs(3), 16))
	env.maps[1].cur.Store(parseMap(t, "sessions", 9, nodeAddrs(2), 8))

	var info MapInfo
	code, hdr, body := do(t, "GET", env.url+"/vbmap")
	if code != 200 {
		t.Fatalf("vbmap: got %d %s", code, body)
	}
	if ct := hdr.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type: got %q, want application/json", ct)
	}
	if err := json.Unmarshal([]byte(body), &info); err != nil {
		t.Fatalf("decode: %v\n%s", err, body)
	}
	if info.Bucket != "default" || info.Revision != "1/7" || info.Rev != 7 || info.Epoch != 1 || info.NumVBuckets != 16 || info.Source != "stream" {
		t.Errorf("vbmap: got %+v, want bucket default rev 1/7, 16 vBuckets, source stream", info)
	}
	if len(info.Nodes) != 3 {
		t.Fatalf("nodes: got %d, want 3", len(info.Nodes))
	}
	wantActive := []int{6, 5, 5} // 16 vBuckets round robin over 3 nodes
	for i, n := range info.Nodes {
		if n.ActiveVBuckets != wantActive[i] {
			t.Errorf("nodes[%d].active_vbuckets: got %d, want %d", i, n.ActiveVBuckets, wantActive[i])
		}
	}
	if info.Nodes[0].State != "up" || info.Nodes[0].Conns != 2 || info.Nodes[1].State != "unknown" {
		t.Errorf("node states: got %v, want first up with 2 connections, second unknown", info.Nodes)
	}
	if info.VBuckets != nil {
		t.Errorf("vbucket_map without full=1: got %d rows, want none", len(info.VBuckets))
	}

	code, _, body = do(t, "GET", env.url+"/vbmap?bucket=sessions&full=1")
	info = MapInfo{}
	if err := json.Unmarshal([]byte(body), &info); code != 200 || err != nil {
		t.Fatalf("vbmap?bucket=sessions&full=1: got %d %v", code, err)
	}
	if info.Bucket != "sessions" || len(info.VBuckets) != 8 {
		t.Fatalf("full sessions map: got bucket %q with %d rows, want sessions with 8", info.Bucket, len(info.VBuckets))
	}
	if r := info.VBuckets[3]; r.VBucket != 3 || r.Active != 1 || len(r.Replicas) != 1 || r.Replicas[0] != 0 || r.Forward != -1 {
		t.Errorf("vbucket_map[3]: got %+v, want active 1, replicas [0], forward -1", r)
	}

	if code, _, body := do(t, "GET", env.url+"/vbmap?bucket=nope"); code != 404 || !strings.Contains(body, `unknown bucket \"nope\"`) {
		t.Errorf("unknown bucket: got %d %s, want 404", code, body)
	}

	var all struct{ Buckets []MapInfo }
	code, _, body = do(t, "GET", env.url+"/vbmap?all=1")
	if err := json.Unmarshal([]byte(body), &all); code != 200 || err != nil || len(all.Buckets) != 2 {
		t.Fatalf("vbmap?all=1: got %d %v %s", code, err, body)
	}
	if all.Buckets[0].Revision != "1/7" || all.Buckets[1].Revision != "1/9" {
		t.Errorf("all: got revisions %q %q, want 1/7 1/9", all.Buckets[0].Revision, all.Buckets[1].Revision)
	}
}

func TestReload(t *testing.T) {
	env := newEnv(t, false, "default", "sessions")
	env.maps[0].cur.Store(parseMap(t, "default", 7, nodeAddrs(3), 16))
	env.maps[0].next.Store(parseMap(t, "default", 8, nodeAddrs(2), 16))
	env.maps[1].cur.Store(parseMap(t, "sessions", 3, nodeAddrs(1), 16))
	env.maps[1].reloadErr = errors.New("vbmap: fetch http://127.0.0.1:1/pools/default/b/sessions: connection refused")

	for _, method := range []string{"GET", "PUT", "DELETE"} {
		code, hdr, _ := do(t, method, env.url+"/reload")
		if code != http.StatusMethodNotAllowed || hdr.Get("Allow") != "POST" {
			t.Errorf("%s /reload: got %d Allow %q, want 405 Allow POST", method, code, hdr.Get("Allow"))
		}
	}
	if env.maps[0].cur.Load().Revision().Rev != 7 {
		t.Fatal("GET /reload changed the map")
	}

	var res ReloadResult
	code, _, body := do(t, "POST", env.url+"/reload")
	if err := json.Unmarshal([]byte(body), &res); code != 200 || err != nil {
		t.Fatalf("POST /reload: got %d %v %s", code, err, body)
	}
	want := ReloadResult{Bucket: "default", OldRevision: "1/7", NewRevision: "1/8", Changed: true}
	if res != want {
		t.Errorf("POST /reload: got %+v, want %+v", res, want)
	}

	res = ReloadResult{}
	code, _, body = do(t, "POST", env.url+"/reload?bucket=sessions")
	if err := json.Unmarshal([]byte(body), &res); code != http.StatusBadGateway || err != nil || !strings.Contains(res.Error, "connection refused") {
		t.Errorf("failing reload: got %d %+v, want 502 with the fetch error", code, res)
	}

	var all struct{ Buckets []ReloadResult }
	code, _, body = do(t, "POST", env.url+"/reload?all=1")
	if err := json.Unmarshal([]byte(body), &all); code != http.StatusBadGateway || err != nil || len(all.Buckets) != 2 {
		t.Fatalf("reload all: got %d %v %s, want 502 with 2 results", code, err, body)
	}
	if all.Buckets[0].Changed || all.Buckets[0].NewRevision != "1/8" || all.Buckets[1].Error == "" {
		t.Errorf("reload all: got %+v, want default unchanged at 1/8 and sessions failed", all.Buckets)
	}

	if code, _, _ := do(t, "POST", env.url+"/reload?bucket=nope"); code != 404 {
		t.Errorf("reload unknown bucket: got %d, want 404", code)
	}

	_, _, text := do(t, "GET", env.url+"/metrics")
	for _, tt := range []struct{ labels, want string }{
		{`bucket="default",result="ok"`, "2"},
		{`bucket="sessions",result="error"`, "2"},
	} {
		if got, _ := metricValue(t, text, "vbproxy_map_reloads_total", tt.labels); got != tt.want {
			t.Errorf("map_reloads_total{%s}: got %q, want %q", tt.labels, got, tt.want)
		}
	}
}

// TestReloadStaticSource drives a real vbmap.Source over a map file that
// changes on disk.
func TestReloadStaticSource(t *testing.T) {
	path := filepath.Join(t.TempDir(), "map.json")
	if err := os.WriteFile(path, configJSON(t, "cache", 1, nodeAddrs(2), 16), 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := vbmap.NewSource(vbmap.SourceOptions{MapFile: path})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-src.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("static source: no map after 10s")
	}
	srv, err := New(Options{Buckets: []Bucket{{Name: "cache", Map: src, Reloader: src}}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)

	if err := os.WriteFile(path, configJSON(t, "cache", 5, nodeAddrs(3), 16), 0o644); err != nil {
		t.Fatal(err)
	}
	var res ReloadResult
	code, _, body := do(t, "POST", ts.URL+"/reload")
	if err := json.Unmarshal([]byte(body), &res); code != 200 || err != nil {
		t.Fatalf("POST /reload: got %d %v %s", code, err, body)
	}
	if res.OldRevision != "1/1" || res.NewRevision != "1/5" || !res.Changed {
		t.Errorf("reload: got %+v, want 1/1 -> 1/5", res)
	}
	if err := os.WriteFile(path, []byte(`{"rev": 6, "vBucketServerMap": {}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	res = ReloadResult{}
	code, _, body = do(t, "POST", ts.URL+"/reload")
	if err := json.Unmarshal([]byte(body), &res); code != http.StatusBadGateway || err != nil || res.Error == "" {
		t.Errorf("reload of a broken file: got %d %s, want 502 with the parse error", code, body)
	}
	if got := src.Current().Revision().Rev; got != 5 {
		t.Errorf("after a failed reload: current rev %d, want 5 kept", got)
	}
}

func TestReloadNotSupported(t *testing.T) {
	fm := &fakeMap{}
	srv, err := New(Options{Buckets: []Bucket{{Name: "b", Map: fm}}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	if code, _, _ := do(t, "POST", ts.URL+"/reload"); code != http.StatusNotImplemented {
		t.Errorf("reload without a Reloader: got %d, want 501", code)
	}
	if code, _, _ := do(t, "GET", ts.URL+"/metrics"); code != 404 {
		t.Errorf("/metrics without Metrics: got %d, want 404", code)
	}
}

func TestPprofOnlyWhenEnabled(t *testing.T) {
	off := newEnv(t, false, "default")
	if code, _, _ := do(t, "GET", off.url+"/debug/pprof/"); code != 404 {
		t.Errorf("pprof disabled: got %d, want 404", code)
	}
	on := newEnv(t, true, "default")
	if code, _, body := do(t, "GET", on.url+"/debug/pprof/"); code != 200 || !strings.Contains(body, "goroutine") {
		t.Errorf("pprof enabled: got %d, want 200 with the profile index", code)
	}
	if code, _, _ := do(t, "GET", on.url+"/debug/pprof/goroutine?debug=1"); code != 200 {
		t.Errorf("pprof goroutine: got %d, want 200", code)
	}
}

func TestMetricsEndpoint(t *testing.T) {
	env := newEnv(t, false, "default")
	b := env.srv.buckets[0].Metrics
	b.Request(memcached.OpSet, memcached.StatusSuccess, time.Millisecond)
	code, hdr, text := do(t, "GET", env.url+"/metrics")
	if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics: got %d %q", code, hdr.Get("Content-Type"))
	}
	if got, _ := metricValue(t, text, "vbproxy_requests_total", `bucket="default",opcode="SET",protocol="binary",status="SUCCESS"`); got != "1" {
		t.Errorf("requests_total SET SUCCESS: got %q, want 1", got)
	}
	if code, hdr, _ := do(t, "POST", env.url+"/metrics"); code != 405 || !strings.Contains(hdr.Get("Allow"), "GET") {
		t.Errorf("POST /metrics: got %d Allow %q, want 405", code, hdr.Get("Allow"))
	}
}

func TestServeShutdown(t *testing.T) {
	fm := &fakeMap{}
	fm.cur.Store(parseMap(t, "b", 1, nodeAddrs(1), 4))
	srv, err := New(Options{Buckets: []Bucket{{Name: "b", Map: fm}}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	if code, _, _ := do(t, "GET", "http://"+ln.Addr().String()+"/readyz"); code != 200 {
		t.Errorf("readyz: got %d, want 200", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-done; err != nil {
		t.Errorf("Serve after Shutdown: got %v, want nil", err)
	}
}
