package main

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
	"github.com/vbproxy/vbproxy/sim"
	"github.com/vbproxy/vbproxy/vbmap"
)

// Listener keys through the real binary: several listeners of one bucket
// (one proxy.Server) on two collections, and replica reads.

// proc is a vbproxy process started by a test.
type proc struct {
	logs    *logLines
	proxies []string // listener addresses, in configuration order
	admin   string   // http://host:port
}

// startBinaryConfig runs bin -config (a file holding text) with env, and
// waits until it listens. Cleanup sends SIGTERM and checks exit status 0.
func startBinaryConfig(t *testing.T, bin, text string, env ...string) *proc {
	t.Helper()
	file := writeFile(t, t.TempDir(), "vbproxy.yaml", text)
	cmd := exec.Command(bin, "-config", file, "-log-format", "json")
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{logs: &logLines{added: make(chan struct{}, 1)}}
	readDone := make(chan struct{})
	go func() { p.logs.read(stderr); close(readDone) }()
	exited := make(chan error, 1)
	go func() { <-readDone; exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("vbproxy exit after SIGTERM: %v; log:\n%s", err, p.logs.text())
			}
		case <-time.After(30 * time.Second): // hang guard
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("vbproxy still running 30s after SIGTERM")
		}
	})
	adminAddr, _ := p.logs.find(t, "admin listening")["address"].(string)
	p.admin = "http://" + adminAddr
	p.logs.mu.Lock()
	for _, m := range p.logs.lines {
		if m["msg"] == "listening" {
			a, _ := m["address"].(string)
			p.proxies = append(p.proxies, a)
		}
	}
	p.logs.mu.Unlock()
	waitFor(t, "readyz 200", func() bool { code, _, _ := httpDo(t, "GET", p.admin+"/readyz"); return code == 200 })
	return p
}

// TestBinaryTwoCollections: two listeners of one bucket serve two
// collections over the bucket's one set of upstream connections; the same
// key holds a different value in each.
func TestBinaryTwoCollections(t *testing.T) {
	bin := buildBinary(t, "e2e")
	c := startSim(t, sim.Options{Nodes: 2})
	for _, coll := range []string{"hotels", "flights"} {
		if _, err := c.CreateScope("default", "inventory"); err != nil && coll == "hotels" {
			t.Fatal(err)
		}
		if _, err := c.CreateCollection("default", "inventory", coll); err != nil {
			t.Fatal(err)
		}
	}
	p := startBinaryConfig(t, bin, `listeners:
  - {address: "127.0.0.1:0", bucket: default, collection: inventory.hotels}
  - {address: "127.0.0.1:0", bucket: default, collection: inventory.flights, protocols: text}
  - {address: "127.0.0.1:0", bucket: default}
cluster: {seeds: [`+c.SeedURL()+`], user: Administrator, password_env: PW}
upstream: {loops: 1, pool_size: 2}
admin: {address: "127.0.0.1:0"}
`, "PW=password")
	if len(p.proxies) != 3 {
		t.Fatalf("listening on %q, want 3 addresses", p.proxies)
	}
	hotels := dialMC(t, p.proxies[0])
	conn := dialMC(t, p.proxies[1]).conn
	flights := newText(t, conn)
	def := dialMC(t, p.proxies[2])
	for i := range 20 {
		k := keyN(i)
		if st := hotels.set(k, "hotel-"+k); st != memcached.StatusSuccess {
			t.Fatalf("SET %s in inventory.hotels: %s", k, st)
		}
		v := "flight-" + k
		if got := flights.do("set " + k + " 0 0 " + itoa(len(v)) + "\r\n" + v + "\r\n"); got != "STORED\r\n" {
			t.Fatalf("text set %s in inventory.flights: %q", k, got)
		}
	}
	for i := range 20 {
		k := keyN(i)
		if st, v := hotels.get(k); st != memcached.StatusSuccess || v != "hotel-"+k {
			t.Errorf("GET %s from inventory.hotels: %s %q", k, st, v)
		}
		want := "VALUE " + k + " 0 " + itoa(len("flight-"+k)) + "\r\nflight-" + k + "\r\nEND\r\n"
		if got := flights.do("get " + k + "\r\n"); got != want {
			t.Errorf("get %s from inventory.flights: %q, want %q", k, got, want)
		}
		if st, _ := def.get(k); st != memcached.StatusKeyENOENT {
			t.Errorf("GET %s from the default collection: %s, want KEY_ENOENT (a third, empty collection)", k, st)
		}
		if v, ok := c.GetFrom("default", "inventory", "hotels", []byte(k)); !ok || string(v) != "hotel-"+k {
			t.Errorf("the cluster's inventory.hotels holds %q (%v) for %s", v, ok, k)
		}
		if v, ok := c.GetFrom("default", "inventory", "flights", []byte(k)); !ok || string(v) != "flight-"+k {
			t.Errorf("the cluster's inventory.flights holds %q (%v) for %s", v, ok, k)
		}
	}
	// One server: one loop's pool of 2 connections per node, whatever the
	// number of listeners.
	for _, n := range c.Nodes() {
		if got := scrape(t, p.admin, "vbproxy_upstream_connections", `bucket="default",node="`+n.KVAddr()+`"`); got != 2 {
			t.Errorf("upstream connections to %s: %v, want 2 (the listeners share them)", n.KVAddr(), got)
		}
	}
	if got := scrape(t, p.admin, "vbproxy_requests_total", `bucket="default",opcode="SET",protocol="text",status="SUCCESS"`); got != 20 {
		t.Errorf("requests_total text SET: %v, want 20", got)
	}
	if got := scrape(t, p.admin, "vbproxy_requests_total", `bucket="default",opcode="SET",protocol="binary",status="SUCCESS"`); got != 20 {
		t.Errorf("requests_total binary SET: %v, want 20", got)
	}
}

// TestBinaryReadReplicas: with a node paused, reads of its vBuckets are
// answered by their replicas on the on_failure listener, and fail with
// ETMPFAIL on the never listener; vbproxy_replica_reads_total counts them
// by the replica's node.
func TestBinaryReadReplicas(t *testing.T) {
	bin := buildBinary(t, "e2e")
	c := startSim(t, sim.Options{Nodes: 3, Replicas: 1})
	p := startBinaryConfig(t, bin, `listeners:
  - {address: "127.0.0.1:0", bucket: default, read_replicas: on_failure}
  - {address: "127.0.0.1:0", bucket: default}
cluster: {seeds: [`+c.SeedURL()+`], user: Administrator, password_env: PW}
upstream: {operation_timeout: 1s}
admin: {address: "127.0.0.1:0"}
`, "PW=password")
	paused := c.Nodes()[1]
	var keys []string
	for i := 0; len(keys) < 5 && i < 10000; i++ {
		k := keyN(i)
		if c.VBucketOwner("default", int(vbmap.VBucket([]byte(k), c.NumVBuckets()))) == paused {
			keys = append(keys, k)
		}
	}
	if len(keys) != 5 {
		t.Fatalf("found %d keys of %s's vBuckets, want 5", len(keys), paused)
	}
	replicas := dialMC(t, p.proxies[0])
	for _, k := range keys {
		if st := replicas.set(k, "r-"+k); st != memcached.StatusSuccess {
			t.Fatalf("SET %s: %s", k, st)
		}
	}
	c.Pause(paused)
	t.Cleanup(func() { c.Resume(paused) })
	start := time.Now()
	for _, k := range keys {
		if st, v := replicas.get(k); st != memcached.StatusSuccess || v != "r-"+k {
			t.Errorf("GET %s with its active paused (on_failure): %s %q, want SUCCESS from a replica", k, st, v)
		}
	}
	if d := time.Since(start); d > time.Duration(len(keys))*time.Second {
		t.Errorf("%d replica reads took %s, want each within the 1s operation timeout", len(keys), d)
	}
	never := dialMC(t, p.proxies[1])
	if st, _ := never.get(keys[0]); st != memcached.StatusETMPFAIL {
		t.Errorf("GET %s with its active paused (never): %s, want ETMPFAIL", keys[0], st)
	}
	var total float64
	for _, n := range c.Nodes() {
		if v := scrape(t, p.admin, "vbproxy_replica_reads_total", `bucket="default",node="`+n.KVAddr()+`"`); v > 0 {
			total += v
			if n == paused {
				t.Errorf("replica_reads_total counts %v reads on the paused node itself", v)
			}
		}
	}
	if total != float64(len(keys)) {
		t.Errorf("replica_reads_total summed over nodes: %v, want %d", total, len(keys))
	}
}
