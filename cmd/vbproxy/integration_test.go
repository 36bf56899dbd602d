package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/admin"
	"github.com/vbproxy/vbproxy/sim"
)

// startSim starts a simulated cluster on ephemeral loopback ports.
func startSim(t *testing.T, o sim.Options) *sim.Cluster {
	t.Helper()
	o.Host = "127.0.0.1"
	if o.VBuckets == 0 {
		o.VBuckets = 64
	}
	c, err := sim.Start(o)
	if err != nil {
		t.Fatalf("sim.Start: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("sim Close: %v", err)
		}
	})
	return c
}

// testConfig is a validated configuration for one listener in front of c.
func testConfig(t *testing.T, c *sim.Cluster) (*Config, secrets) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Listeners = []ListenerConfig{{Address: "127.0.0.1:0", Bucket: "default"}}
	cfg.Cluster.Seeds = []string{c.SeedURL()}
	cfg.Cluster.User = "Administrator"
	cfg.Cluster.PasswordEnv = "PW"
	cfg.Admin.Address = "127.0.0.1:0"
	cfg.Shutdown.DrainTimeout = Duration(5 * time.Second)
	sec, errs := validate(&cfg, envMap(map[string]string{"PW": "password"}))
	if len(errs) > 0 {
		t.Fatalf("validate: %v", errs)
	}
	return &cfg, sec
}

type running struct {
	app    *app
	cancel context.CancelFunc // starts the shutdown
	admin  string             // http://host:port
	proxy  string             // host:port
	done   chan error
}

// startApp wires and starts the app in-process; Cleanup stops it and
// checks it stopped cleanly. setup runs before it serves (to set the
// fields run sets: the log level, the config loader, SIGHUP).
func startApp(t *testing.T, cfg *Config, sec secrets, setup ...func(*app)) *running {
	t.Helper()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	return startAppLog(t, cfg, sec, log, setup...)
}

// startAppLog is startApp with the app's logger.
func startAppLog(t *testing.T, cfg *Config, sec secrets, log *slog.Logger, setup ...func(*app)) *running {
	t.Helper()
	a, err := newApp(cfg, sec, log)
	if err != nil {
		t.Fatalf("newApp: %v", err)
	}
	for _, fn := range setup {
		fn(a)
	}
	if err := a.listen(); err != nil {
		t.Fatalf("listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	scheme := "http://"
	if a.adminCert.Load() != nil {
		scheme = "https://"
	}
	r := &running{app: a, cancel: cancel, proxy: a.lis[0].ln.Addr().String(), admin: scheme + a.adminLn.Addr().String(), done: make(chan error, 1)}
	go func() { r.done <- a.serve(ctx, func() {}) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("app stopped with %v, want nil", err)
			}
		case <-time.After(30 * time.Second): // a hang guard, not a timing check
			t.Error("app did not stop within 30s of cancel")
		}
	})
	return r
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func httpDo(t *testing.T, method, url string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// waitFor polls cond every 10ms until it holds, failing after a generous
// hang guard.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: gave up after 30s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// scrape returns the value of one sample of /metrics, -1 when absent.
func scrape(t *testing.T, adminURL, name, labels string) float64 {
	t.Helper()
	_, _, text := httpDo(t, "GET", adminURL+"/metrics")
	prefix := name
	if labels != "" {
		prefix += "{" + labels + "}"
	}
	for line := range strings.SplitSeq(text, "\n") {
		if v, ok := strings.CutPrefix(line, prefix+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	return -1
}

func TestAdminAgainstRunningProxy(t *testing.T) {
	c := startSim(t, sim.Options{Nodes: 3})
	// Hold the cluster manager so that the map cannot arrive yet.
	for _, n := range c.Nodes() {
		c.Pause(n)
	}
	cfg, sec := testConfig(t, c)
	r := startApp(t, cfg, sec)

	code, _, body := httpDo(t, "GET", r.admin+"/readyz")
	if code != 503 || body != "bucket \"default\": no vBucket map loaded yet\n" {
		t.Errorf("readyz before the map: got %d %q, want 503 no map", code, body)
	}
	if code, _, _ := httpDo(t, "GET", r.admin+"/healthz"); code != 200 {
		t.Errorf("healthz: got %d, want 200", code)
	}
	for _, n := range c.Nodes() {
		c.Resume(n)
	}
	waitFor(t, "readyz 200", func() bool { code, _, _ := httpDo(t, "GET", r.admin+"/readyz"); return code == 200 })

	// Requests flow and the metrics move.
	before := scrape(t, r.admin, "vbproxy_requests_total", `bucket="default",opcode="SET",protocol="binary",status="SUCCESS"`)
	setGet(t, r.proxy, 20)
	after := scrape(t, r.admin, "vbproxy_requests_total", `bucket="default",opcode="SET",protocol="binary",status="SUCCESS"`)
	if after-max(before, 0) != 20 {
		t.Errorf("requests_total SET SUCCESS: went from %v to %v, want +20", before, after)
	}
	if got := scrape(t, r.admin, "vbproxy_requests_total", `bucket="default",opcode="GET",protocol="binary",status="SUCCESS"`); got != 20 {
		t.Errorf("requests_total GET SUCCESS: got %v, want 20", got)
	}
	if got := scrape(t, r.admin, "vbproxy_request_duration_seconds_count", `bucket="default",opcode="GET",protocol="binary"`); got != 20 {
		t.Errorf("request_duration_seconds_count GET: got %v, want 20", got)
	}
	if got := scrape(t, r.admin, "vbproxy_client_connections_accepted_total", `bucket="default"`); got != 1 {
		t.Errorf("client_connections_accepted_total: got %v, want 1", got)
	}
	if got := scrape(t, r.admin, "vbproxy_client_received_bytes_total", `bucket="default"`); got <= 0 {
		t.Errorf("client_received_bytes_total: got %v, want > 0", got)
	}
	rev := float64(c.Revision())
	if got := scrape(t, r.admin, "vbproxy_map_revision", `bucket="default"`); got != rev {
		t.Errorf("map_revision: got %v, want the cluster's %v", got, rev)
	}
	if got := scrape(t, r.admin, "vbproxy_map_vbuckets", `bucket="default"`); got != 64 {
		t.Errorf("map_vbuckets: got %v, want 64", got)
	}
	node0 := c.Nodes()[0].KVAddr()
	if got := scrape(t, r.admin, "vbproxy_upstream_node_state", `bucket="default",node="`+node0+`",state="up"`); got != 1 {
		t.Errorf("upstream_node_state %s up: got %v, want 1", node0, got)
	}

	// /vbmap shows the live map with the pools' state.
	var info admin.MapInfo
	_, _, body = httpDo(t, "GET", r.admin+"/vbmap")
	if err := json.Unmarshal([]byte(body), &info); err != nil {
		t.Fatalf("vbmap: %v\n%s", err, body)
	}
	if info.Bucket != "default" || info.Rev != int64(rev) || info.NumVBuckets != 64 || len(info.Nodes) != 3 {
		t.Errorf("vbmap: got bucket %q rev %d %d vBuckets %d nodes, want default %v 64 3", info.Bucket, info.Rev, info.NumVBuckets, len(info.Nodes), rev)
	}
	total := 0
	for _, n := range info.Nodes {
		total += n.ActiveVBuckets
		if n.State != "up" {
			t.Errorf("vbmap node %s: state %q, want up", n.Address, n.State)
		}
	}
	if total != 64 {
		t.Errorf("vbmap: active vBuckets sum to %d, want 64", total)
	}
	if strings.Contains(body, "password") {
		t.Errorf("vbmap shows a password:\n%s", body)
	}

	// GET /reload is refused; POST after a topology change shows the new
	// revision.
	if code, hdr, _ := httpDo(t, "GET", r.admin+"/reload"); code != 405 || hdr.Get("Allow") != "POST" {
		t.Errorf("GET /reload: got %d Allow %q, want 405 POST", code, hdr.Get("Allow"))
	}
	if err := c.Failover(c.Nodes()[2]); err != nil {
		t.Fatalf("Failover: %v", err)
	}
	newRev := c.Revision()
	var res admin.ReloadResult
	code, _, body = httpDo(t, "POST", r.admin+"/reload")
	if err := json.Unmarshal([]byte(body), &res); code != 200 || err != nil {
		t.Fatalf("POST /reload: got %d %v %s", code, err, body)
	}
	if want := "/" + strconv.FormatInt(newRev, 10); !strings.HasSuffix(res.NewRevision, want) {
		t.Errorf("POST /reload after failover: new_revision %q, want epoch%s (the cluster's revision)", res.NewRevision, want)
	}
	waitFor(t, "map_revision to follow", func() bool {
		return scrape(t, r.admin, "vbproxy_map_revision", `bucket="default"`) == float64(newRev)
	})
	if got := scrape(t, r.admin, "vbproxy_map_nodes", `bucket="default"`); got != 2 {
		t.Errorf("map_nodes after failover: got %v, want 2", got)
	}
	setGet(t, r.proxy, 20) // still serving after the failover
}
