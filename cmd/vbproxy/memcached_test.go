package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
	"github.com/vbproxy/vbproxy/vbmap"
)

// startMemcached runs a real memcached on a free loopback port.
func startMemcached(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("memcached")
	if err != nil {
		t.Fatalf("this test needs the memcached server (apt-get install memcached): %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	args := []string{"-l", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "0", "-m", "16"}
	if os.Geteuid() == 0 {
		args = append(args, "-u", "root")
	}
	cmd := exec.Command(bin, args...)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start memcached: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	waitFor(t, "memcached on "+addr, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return addr
}

// TestStaticMapOverMemcached: -map with two real memcached servers; every
// key lands on the server the map names.
func TestStaticMapOverMemcached(t *testing.T) {
	servers := []string{startMemcached(t), startMemcached(t)}
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
	if got := scrape(t, r.admin, "vbproxy_requests_total", `bucket="cache",opcode="GET",status="SUCCESS"`); got != 40 {
		t.Errorf("requests_total GET SUCCESS: got %v, want 40", got)
	}
}
