package vbmap

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func newTestSource(t *testing.T, o SourceOptions) *Source {
	t.Helper()
	src, err := NewSource(o)
	if err != nil {
		t.Fatalf("NewSource: %v", err)
	}
	return src
}

func TestOffer(t *testing.T) {
	src := newTestSource(t, fastOptions("default", "http://127.0.0.1:1"))
	rec := &recorder{}
	src.Subscribe(rec.sub)
	steps := []struct {
		name        string
		body        []byte
		host        string
		wantApplied bool
		wantErr     error
		wantRev     int64
	}{
		{"empty body means retry", nil, "127.0.0.1:11210", false, nil, 0},
		{"first config", testConfig(10, "default", 8091), "127.0.0.1:11210", true, nil, 10},
		{"equal rev", testConfig(10, "default", 8091), "127.0.0.1:11210", false, nil, 10},
		{"older rev", testConfig(9, "default", 8091), "127.0.0.1:11210", false, nil, 10},
		{"newer rev from another node", testConfig(11, "default", 8091), "127.0.0.2:11210", true, nil, 11},
		{"malformed", []byte(`{"rev":12,`), "127.0.0.1:11210", false, ErrInvalidConfig, 11},
		{"memcached bucket", []byte(`{"rev":12,"revEpoch":1,"nodeLocator":"ketama"}`), "127.0.0.1:11210", false, ErrMemcachedBucket, 11},
		{"other bucket", testConfig(12, "travel", 8091), "127.0.0.1:11210", false, ErrBucketMismatch, 11},
		{"bare IPv6 host", testConfig(13, "default", 8091), "::1", true, nil, 13},
	}
	for _, st := range steps {
		applied, err := src.Offer(st.body, st.host)
		if applied != st.wantApplied || !errors.Is(err, st.wantErr) || (st.wantErr == nil) != (err == nil) {
			t.Errorf("%s: Offer = (%v, %v), want (%v, %v)", st.name, applied, err, st.wantApplied, st.wantErr)
		}
		if cur := src.Current(); st.wantRev == 0 && cur != nil || st.wantRev != 0 && (cur == nil || cur.Revision().Rev != st.wantRev) {
			t.Errorf("%s: current map %v, want rev %d", st.name, cur, st.wantRev)
		}
	}
	// $HOST was replaced with the offering node's host.
	if got, want := src.Current().Nodes()[0].Addr, "[::1]:11210"; got != want {
		t.Errorf("node 0 Addr = %q, want %q", got, want)
	}
	revs, origins, _ := rec.snapshot()
	if !equalInts(revs, []int64{10, 11, 13}) {
		t.Errorf("subscriber saw revs %v, want [10 11 13]", revs)
	}
	for _, o := range origins {
		if o != OriginNMVB {
			t.Errorf("origin %q, want %q", o, OriginNMVB)
		}
	}
	_, err := src.Offer([]byte(`{"rev":12,`), "10.9.9.9:11210")
	if err == nil || !strings.Contains(err.Error(), "config from node 10.9.9.9:11210") {
		t.Errorf("Offer error %q, want it to name the node", err)
	}
}

// Unversioned configs (no rev) apply when the map differs, and are ignored
// when it does not.
func TestApplyUnversioned(t *testing.T) {
	src := newTestSource(t, fastOptions("default", "http://127.0.0.1:1"))
	a := testConfig(0, "default", 8091, 8092)
	b := testConfig(0, "default", 8091, 8092, 8093)
	steps := []struct {
		body []byte
		want bool
	}{
		{a, true},
		{a, false}, // same map
		{b, true},  // differs
		{a, true},  // differs again
		{testConfig(1, "default", 8091, 8092), true}, // versioned over unversioned
		{testConfig(3, "default", 8091, 8092), true},
		{a, true}, // unversioned, differs from rev 3's table
		{testConfig(3, "default", 8091, 8092), true}, // versioned over unversioned
		{testConfig(2, "default", 8091, 8092), false},
	}
	for i, st := range steps {
		applied, err := src.Offer(st.body, "127.0.0.1")
		if err != nil || applied != st.want {
			t.Errorf("step %d: Offer = (%v, %v), want (%v, nil)", i, applied, err, st.want)
		}
	}
}

func TestMapFileSource(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "map.json")
	write := func(data []byte) {
		t.Helper()
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(readTestdata(t, "memcached-static.json"))
	src := newTestSource(t, SourceOptions{MapFile: path})
	rec := &recorder{}
	src.Subscribe(rec.sub)
	if old, cur, err := src.Refresh(context.Background()); err != nil || old != (Revision{}) || cur != (Revision{}) {
		t.Errorf("Refresh before Run = (%v, %v, %v), want zero revisions and nil", old, cur, err)
	}
	if src.Current() == nil || src.Current().Origin() != OriginReload {
		t.Errorf("Refresh before Run did not load the file")
	}
	src = newTestSource(t, SourceOptions{MapFile: path})
	rec = &recorder{}
	src.Subscribe(rec.sub)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx) }()
	waitReady(t, src)
	m := src.Current()
	if m.Origin() != OriginStatic || m.NumVBuckets() != 16 || m.Nodes()[1].Addr != "127.0.0.1:11212" {
		t.Errorf("static map: origin %q, %d vBuckets, node 1 %q", m.Origin(), m.NumVBuckets(), m.Nodes()[1].Addr)
	}
	if got := src.Bucket(); got != "cache" {
		t.Errorf("Bucket() = %q, want the file's name %q", got, "cache")
	}
	// The file changes without a rev: Refresh applies it.
	write([]byte(`{"name":"cache","vBucketServerMap":{"serverList":["127.0.0.1:11213"],"vBucketMap":[[0],[0]]}}`))
	if _, _, err := src.Refresh(context.Background()); err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if m := src.Current(); m.Origin() != OriginReload || m.Nodes()[0].Addr != "127.0.0.1:11213" || m.NumVBuckets() != 2 {
		t.Errorf("reloaded map: origin %q, node 0 %q, %d vBuckets", m.Origin(), m.Nodes()[0].Addr, m.NumVBuckets())
	}
	// A broken file keeps the old map.
	write([]byte(`{"vBucketServerMap":{"serverList":["127.0.0.1:11213"],"vBucketMap":[[1]]}}`))
	if _, _, err := src.Refresh(context.Background()); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), path) {
		t.Errorf("Refresh of a bad file = %v, want ErrInvalidConfig naming the file", err)
	}
	if got := src.Current().Nodes()[0].Addr; got != "127.0.0.1:11213" {
		t.Errorf("after a bad reload node 0 = %q, want the old map kept", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
	revs, _, _ := rec.snapshot()
	if len(revs) != 2 {
		t.Errorf("subscriber called %d times, want 2", len(revs))
	}
}

func TestMapFileSourceErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"nodeLocator":"ketama"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file   string
		wantIs error
	}{
		{filepath.Join(dir, "missing.json"), os.ErrNotExist},
		{bad, ErrMemcachedBucket},
	}
	for _, tt := range tests {
		src := newTestSource(t, SourceOptions{MapFile: tt.file})
		err := src.Run(context.Background())
		if !errors.Is(err, tt.wantIs) || !strings.Contains(err.Error(), tt.file) {
			t.Errorf("Run(%s) = %v, want %v naming the file", tt.file, err, tt.wantIs)
		}
	}
}

func TestNewSourceValidation(t *testing.T) {
	tests := []struct {
		name    string
		o       SourceOptions
		wantErr string
	}{
		{"nothing", SourceOptions{}, "vbmap: no seeds and no map file"},
		{"no bucket", SourceOptions{Seeds: []string{"http://a:8091"}}, "vbmap: bucket name required with seeds"},
		{"bad network", SourceOptions{Seeds: []string{"http://a:8091"}, Bucket: "b", Network: "internal"}, `vbmap: unknown network "internal"`},
		{"bad scheme", SourceOptions{Seeds: []string{"memcached://a"}, Bucket: "b"}, `vbmap: seed "memcached://a": scheme "memcached", want http, https, couchbase or couchbases`},
		{"no host", SourceOptions{Seeds: []string{"http://:8091"}, Bucket: "b"}, `vbmap: seed "http://:8091": no host`},
		{"ok", SourceOptions{Seeds: []string{"http://a:8091"}, Bucket: "b"}, ""},
		{"map file", SourceOptions{MapFile: "x.json"}, ""},
		{"mixed schemes", SourceOptions{Seeds: []string{"https://a:18091", "http://b:8091"}, Bucket: "b"}, "vbmap: seeds mix http and https"},
		{"tls with http seed", SourceOptions{Seeds: []string{"http://a:8091"}, Bucket: "b", TLS: true}, "vbmap: TLS is set but the seeds are http (use https:// seeds)"},
		{"tls with bare seed", SourceOptions{Seeds: []string{"a"}, Bucket: "b", TLS: true}, ""},
		{"tls config and client", SourceOptions{Seeds: []string{"https://a"}, Bucket: "b", TLSConfig: &tls.Config{}, HTTPClient: &http.Client{}},
			"vbmap: TLSConfig and HTTPClient are both set (TLSConfig configures the default client only)"},
	}
	for _, tt := range tests {
		_, err := NewSource(tt.o)
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%s: NewSource error %v, want %q", tt.name, err, tt.wantErr)
		}
	}
}

func TestParseSeed(t *testing.T) {
	tests := []struct {
		in     string
		useTLS bool
		want   string
	}{
		{"http://10.0.0.1:8091", false, "http://10.0.0.1:8091"},
		{"http://10.0.0.1:8091/", false, "http://10.0.0.1:8091"},
		{"http://10.0.0.1:8091/pools", false, "http://10.0.0.1:8091"},
		{"10.0.0.1:8091", false, "http://10.0.0.1:8091"},
		{"10.0.0.1", false, "http://10.0.0.1:8091"},
		{"https://cb.example.com", false, "https://cb.example.com:18091"},
		{"http://[::1]:8091", false, "http://[::1]:8091"},
		{"http://[::1]", false, "http://[::1]:8091"},
		{" http://a:1 ", false, "http://a:1"},
		// With TLS a seed without a scheme is https, on 18091 by default.
		{"10.0.0.1", true, "https://10.0.0.1:18091"},
		{"10.0.0.1:18091", true, "https://10.0.0.1:18091"},
		{"http://10.0.0.1", true, "http://10.0.0.1:8091"},
	}
	for _, tt := range tests {
		u, err := parseSeed(tt.in, tt.useTLS)
		if err != nil || u.String() != tt.want {
			t.Errorf("parseSeed(%q, tls %v) = %v, %v; want %q", tt.in, tt.useTLS, u, err, tt.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	min, max := 100*time.Millisecond, 10*time.Second
	for attempt := range 80 {
		ceil := max
		if attempt < 7 {
			ceil = min << attempt
		}
		for range 20 {
			d := backoff(min, max, attempt)
			if d < ceil/2 || d > ceil {
				t.Fatalf("backoff(attempt %d) = %v, want in [%v, %v]", attempt, d, ceil/2, ceil)
			}
		}
	}
}

// After Run returns and the servers are closed, no goroutine of the source
// is left behind.
func TestSourceNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		cm := newFakeCM(t, "default")
		cm.set(testConfig(1, "default", cm.port()))
		src := newTestSource(t, fastOptions("default", cm.URL()))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- src.Run(ctx) }()
		waitReady(t, src)
		cm.dropStreams()
		<-cm.streamStart
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
		cm.close()
	}()
	waitFor(t, "goroutines to exit", func() bool { return runtime.NumGoroutine() <= before })
}

// BenchmarkOfferStale is the NOT_MY_VBUCKET storm of a rebalance: the reply
// carries the config already applied.
func BenchmarkOfferStale(b *testing.B) {
	src, err := NewSource(SourceOptions{Seeds: []string{"http://127.0.0.1:1"}, Bucket: "default"})
	if err != nil {
		b.Fatal(err)
	}
	body := readTestdata(b, "cluster-3node-full.json")
	if applied, err := src.Offer(body, "10.0.0.1:11210"); !applied || err != nil {
		b.Fatalf("first Offer = (%v, %v)", applied, err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if applied, err := src.Offer(body, "10.0.0.1:11210"); applied || err != nil {
			b.Fatalf("Offer = (%v, %v), want (false, nil)", applied, err)
		}
	}
}
