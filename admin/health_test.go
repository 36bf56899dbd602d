package admin

import (
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// TestReadyzDetails: nodes that are not up, with their reason, and the
// warnings follow the first line; they never change the status code, and
// a draining server answers "shutting down" alone.
func TestReadyzDetails(t *testing.T) {
	fm := &fakeMap{}
	var nodes atomic.Pointer[[]NodeStatus]
	nodes.Store(&[]NodeStatus{{Addr: "127.0.0.1:11210", State: "up", Conns: 2}})
	var warn atomic.Pointer[[]string]
	warn.Store(&[]string{})
	srv, err := New(Options{
		Buckets:  []Bucket{{Name: "default", Map: fm, Nodes: func() []NodeStatus { return *nodes.Load() }}},
		Warnings: func() []string { return *warn.Load() },
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)

	steps := []struct {
		name     string
		setup    func()
		wantCode int
		wantBody string
	}{
		{"no map, nodes up", func() {}, 503, "bucket \"default\": no vBucket map loaded yet\n"},
		{"ready", func() { fm.cur.Store(parseMap(t, "default", 1, nodeAddrs(2), 4)) }, 200, "ok\n"},
		{"a node down over TLS", func() {
			nodes.Store(&[]NodeStatus{
				{Addr: "127.0.0.1:11210", State: "up", Conns: 2},
				{Addr: "127.0.0.1:11211", State: "down", Reason: "TLS: certificate expired at 2020-01-01T00:00:00Z"},
				{Addr: "127.0.0.1:11212", State: "connecting"}, // no reason yet: not listed
			})
		}, 200, "ok\nbucket \"default\": node 127.0.0.1:11211 down: TLS: certificate expired at 2020-01-01T00:00:00Z\n"},
		{"and a warning", func() {
			warn.Store(&[]string{"cluster.tls.insecure_skip_verify is set: the nodes' certificates are not verified"})
		}, 200, "ok\nbucket \"default\": node 127.0.0.1:11211 down: TLS: certificate expired at 2020-01-01T00:00:00Z\n" +
			"warning: cluster.tls.insecure_skip_verify is set: the nodes' certificates are not verified\n"},
		{"draining", srv.SetDraining, 503, "shutting down\n"},
	}
	for _, st := range steps {
		st.setup()
		code, _, body := do(t, "GET", ts.URL+"/readyz")
		if code != st.wantCode || body != st.wantBody {
			t.Errorf("%s: readyz got %d %q, want %d %q", st.name, code, body, st.wantCode, st.wantBody)
		}
	}
}
