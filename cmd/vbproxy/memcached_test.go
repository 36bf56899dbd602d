package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/internal/mctest"
	"github.com/vbproxy/vbproxy/memcached"
	"github.com/vbproxy/vbproxy/vbmap"
)

// TestStaticMapOverMemcached: -map with two real memcached servers; every
// key lands on the server the map names.
func TestStaticMapOverMemcached(t *testing.T) {
	servers := []string{mctest.Start(t), mctest.Start(t)}
	nvb := 16
	table := ""
	for i := range nvb {
		if i > 0 {
			table += ","
		}
		table += fmt.Sprintf("[%d]", i%2)
	}
	mapJSON := fmt.Sprintf(`{"name":"cache","vBucketServerMap":{"hashAlgorithm":"CRC","numReplicas":0,"serverList":[%q,%q],"vBucketMap":[%s]}}`,
		servers[0], servers[1], table)
	mapFile := filepath.Join(t.TempDir(), "map.json")
	if err := os.WriteFile(mapFile, []byte(mapJSON), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := vbmap.Parse([]byte(mapJSON), vbmap.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}

	cfg := DefaultConfig()
	cfg.Listeners = []ListenerConfig{{Address: "127.0.0.1:0", Bucket: "cache"}}
	cfg.Cluster.MapFile = mapFile
	cfg.Admin.Address = "127.0.0.1:0"
	cfg.Shutdown.DrainTimeout = Duration(5 * time.Second)
	sec, errs := validate(&cfg, envMap(nil))
	if len(errs) > 0 {
		t.Fatalf("validate: %v", errs)
	}
	r := startApp(t, &cfg, sec)
	waitFor(t, "readyz 200", func() bool { code, _, _ := httpDo(t, "GET", r.admin+"/readyz"); return code == 200 })

	setGet(t, r.proxy, 40)
	direct := []*mcClient{dialMC(t, servers[0]), dialMC(t, servers[1])}
	for i := range 40 {
		k := keyN(i)
		_, node := m.Route([]byte(k))
		if st, v := direct[node].get(k); st != memcached.StatusSuccess || v != "value-"+k {
			t.Errorf("key %s on %s (the map's node %d): got %s %q, want the value", k, servers[node], node, st, v)
		}
		if st, _ := direct[1-node].get(k); st != memcached.StatusKeyENOENT {
			t.Errorf("key %s on the other server: got %s, want KEY_ENOENT", k, st)
		}
	}
	if got := scrape(t, r.admin, "vbproxy_map_updates_total", `bucket="cache",origin="static"`); got != 1 {
		t.Errorf("map_updates_total static: got %v, want 1", got)
	}
	if got := scrape(t, r.admin, "vbproxy_requests_total", `bucket="cache",opcode="GET",protocol="binary",status="SUCCESS"`); got != 40 {
		t.Errorf("requests_total GET SUCCESS: got %v, want 40", got)
	}
}
