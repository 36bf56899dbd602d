package main

import (
	"encoding/json"
	"testing"

	"github.com/vbproxy/vbproxy/admin"
	"github.com/vbproxy/vbproxy/sim"
)

// TestTwoBuckets: one proxy, two listeners, two buckets, one admin.
func TestTwoBuckets(t *testing.T) {
	c := startSim(t, sim.Options{Nodes: 2, Buckets: []string{"default", "sessions"}})
	cfg, _ := testConfig(t, c)
	cfg.Listeners = []ListenerConfig{
		{Address: "127.0.0.1:0", Bucket: "default"},
		{Address: "127.0.0.1:0", Bucket: "sessions"},
		{Address: "127.0.0.1:0", Bucket: "sessions", AllowFlush: true}, // shares the sessions map
	}
	sec, errs := validate(cfg, envMap(map[string]string{"PW": "password"}))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	r := startApp(t, cfg, sec)
	if got := len(r.app.buckets); got != 2 {
		t.Fatalf("buckets: got %d, want 2 (two listeners share sessions)", got)
	}
	waitFor(t, "readyz 200", func() bool { code, _, _ := httpDo(t, "GET", r.admin+"/readyz"); return code == 200 })

	for _, l := range r.app.lis {
		setGet(t, l.ln.Addr().String(), 10)
	}
	for _, tt := range []struct {
		bucket string
		want   float64
	}{{"default", 10}, {"sessions", 20}} {
		if got := scrape(t, r.admin, "vbproxy_requests_total", `bucket="`+tt.bucket+`",opcode="SET",protocol="binary",status="SUCCESS"`); got != tt.want {
			t.Errorf("requests_total{bucket=%q} SET: got %v, want %v", tt.bucket, got, tt.want)
		}
	}

	var info admin.MapInfo
	_, _, body := httpDo(t, "GET", r.admin+"/vbmap?bucket=sessions")
	if err := json.Unmarshal([]byte(body), &info); err != nil || info.Bucket != "sessions" || len(info.Nodes) != 2 {
		t.Errorf("vbmap?bucket=sessions: got %+v (%v)", info, err)
	}
	var all struct{ Buckets []admin.MapInfo }
	_, _, body = httpDo(t, "GET", r.admin+"/vbmap?all=1")
	if err := json.Unmarshal([]byte(body), &all); err != nil || len(all.Buckets) != 2 || all.Buckets[0].Bucket != "default" || all.Buckets[1].Bucket != "sessions" {
		t.Errorf("vbmap?all=1: got %s (%v)", body, err)
	}
	var reload struct{ Buckets []admin.ReloadResult }
	code, _, body := httpDo(t, "POST", r.admin+"/reload?all=1")
	if err := json.Unmarshal([]byte(body), &reload); code != 200 || err != nil || len(reload.Buckets) != 2 {
		t.Errorf("reload?all=1: got %d %s (%v)", code, body, err)
	}
}
