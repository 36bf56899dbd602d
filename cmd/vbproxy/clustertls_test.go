package main

import (
	"crypto/tls"
	"encoding/json"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/admin"
	"github.com/vbproxy/vbproxy/internal/certs"
	"github.com/vbproxy/vbproxy/memcached"
	"github.com/vbproxy/vbproxy/sim"
	"github.com/vbproxy/vbproxy/vbmap"
)

// Upstream TLS (cluster.tls) against the simulated cluster's real TLS
// ports, and against TLS servers that present a bad certificate in place
// of a node.

// logCapture keeps a JSON logger's records (and shows them in the test
// log).
type logCapture struct {
	t     *testing.T
	mu    sync.Mutex
	lines []map[string]any
}

func (l *logCapture) Write(p []byte) (int, error) {
	var m map[string]any
	if err := json.Unmarshal(p, &m); err == nil {
		l.mu.Lock()
		l.lines = append(l.lines, m)
		l.mu.Unlock()
	}
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func (l *logCapture) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// count returns the number of records at level with every given attribute.
func (l *logCapture) count(level string, attrs map[string]string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
next:
	for _, m := range l.lines {
		if m["level"] != level {
			continue
		}
		for k, v := range attrs {
			if s, _ := m[k].(string); s != v {
				continue next
			}
		}
		n++
	}
	return n
}

// tlsClusterConfig is a configuration for a TLS cluster: seeds (or
// mapFile), the sim's CA, one plain listener.
func tlsClusterConfig(t *testing.T, seeds []string, mapFile, caFile string) *Config {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Listeners = []ListenerConfig{{Address: "127.0.0.1:0", Bucket: "default"}}
	cfg.Cluster.Seeds, cfg.Cluster.MapFile = seeds, mapFile
	cfg.Cluster.User, cfg.Cluster.PasswordEnv = "Administrator", "PW"
	cfg.Cluster.TLS = ClusterTLSConfig{Enabled: mapFile != "", CAFile: caFile}
	cfg.Admin.Address = "127.0.0.1:0"
	cfg.Shutdown.DrainTimeout = Duration(5 * time.Second)
	return &cfg
}

func mustValidate(t *testing.T, cfg *Config) secrets {
	t.Helper()
	sec, errs := validate(cfg, envMap(map[string]string{"PW": "password"}))
	if len(errs) > 0 {
		t.Fatalf("validate: %v", errs)
	}
	return sec
}

func vbmapInfo(t *testing.T, r *running) admin.MapInfo {
	t.Helper()
	var info admin.MapInfo
	_, _, body := httpDo(t, "GET", r.admin+"/vbmap")
	if err := json.Unmarshal([]byte(body), &info); err != nil {
		t.Fatalf("/vbmap: %v\n%s", err, body)
	}
	return info
}

// TestClusterTLSSeeds: https seeds turn TLS on for the cluster manager and
// the KV connections, which go to the nodes' kvSSL ports and verify them
// against cluster.tls.ca_file.
func TestClusterTLSSeeds(t *testing.T) {
	dir := t.TempDir()
	c := startSim(t, sim.Options{Nodes: 3, TLSDir: dir})
	cfg := tlsClusterConfig(t, []string{c.TLSSeedURL()}, "", filepath.Join(dir, sim.CAFile))
	r := startApp(t, cfg, mustValidate(t, cfg))
	waitFor(t, "readyz 200", func() bool { code, _ := r.readyz(t); return code == 200 })
	waitFor(t, "every node up", func() bool {
		for _, n := range vbmapInfo(t, r).Nodes {
			if n.State != "up" {
				return false
			}
		}
		return true
	})
	setGet(t, r.proxy, 30)

	info := vbmapInfo(t, r)
	var got, want []string
	for _, n := range info.Nodes {
		got = append(got, n.Address)
	}
	for _, n := range c.Nodes() {
		want = append(want, n.KVTLSAddr())
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("/vbmap node addresses: got %v, want the kvSSL addresses %v", got, want)
	}
	if code, body := r.readyz(t); code != 200 || body != "ok\n" {
		t.Errorf("/readyz: got %d %q, want 200 \"ok\\n\" (nothing to report)", code, body)
	}
}

// TestClusterTLSInsecureSkipVerify: insecure_skip_verify connects to nodes
// whose certificates are not checked (no CA given), and says so at start
// and on /readyz.
func TestClusterTLSInsecureSkipVerify(t *testing.T) {
	c := startSim(t, sim.Options{Nodes: 2, TLSDir: t.TempDir()})
	cfg := tlsClusterConfig(t, []string{c.TLSSeedURL()}, "", "")
	cfg.Cluster.TLS.InsecureSkipVerify = true
	logs := &logCapture{t: t}
	r := startAppLog(t, cfg, mustValidate(t, cfg), logs.logger())
	waitFor(t, "readyz 200", func() bool { code, _ := r.readyz(t); return code == 200 })
	setGet(t, r.proxy, 10)
	const warning = "cluster.tls.insecure_skip_verify is set: the nodes' certificates are not verified"
	if code, body := r.readyz(t); code != 200 || body != "ok\nwarning: "+warning+"\n" {
		t.Errorf("/readyz: got %d %q, want 200 with the warning", code, body)
	}
	if n := logs.count("WARN", map[string]string{"msg": warning}); n != 1 {
		t.Errorf("start log: %d %q warnings, want 1", n, warning)
	}
}

// badTLSNode is a TLS server in place of a node that presents cert; it
// counts the handshakes clients attempted.
type badTLSNode struct {
	ln         net.Listener
	handshakes atomic.Int64
}

func startBadTLSNode(t *testing.T, cert *certs.Cert) *badTLSNode {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert.TLSCertificate()}})
	if err != nil {
		t.Fatal(err)
	}
	n := &badTLSNode{ln: ln}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			n.handshakes.Add(1)
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			_ = conn.(*tls.Conn).Handshake() // the client refuses the certificate
			_ = conn.Close()
		}
	})
	return n
}

func (n *badTLSNode) port() int { return n.ln.Addr().(*net.TCPAddr).Port }

// TestClusterTLSFailures: a node whose certificate is expired, signed by
// an unknown CA or issued for another name is down with the reason on
// /readyz (which stays 200: the other nodes serve) and on /vbmap, logged
// once per node while the proxy keeps retrying, and the trusted node
// serves its vBuckets.
func TestClusterTLSFailures(t *testing.T) {
	dir := t.TempDir()
	c := startSim(t, sim.Options{Nodes: 4, TLSDir: dir})
	simCA, err := certs.LoadCA(filepath.Join(dir, sim.CAFile), filepath.Join(dir, sim.CAKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	expired, err := simCA.ExpiredServer("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := newCA(t, "other CA").Server("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	otherName, err := simCA.Server("127.0.0.2")
	if err != nil {
		t.Fatal(err)
	}
	bad := map[int]*badTLSNode{1: startBadTLSNode(t, expired), 2: startBadTLSNode(t, stranger), 3: startBadTLSNode(t, otherName)}
	ports := map[int]int{}
	for i, n := range bad {
		ports[i] = n.port()
	}
	mapFile := staticTLSMap(t, c, t.TempDir(), ports)
	cfg := tlsClusterConfig(t, nil, mapFile, filepath.Join(dir, sim.CAFile))
	logs := &logCapture{t: t}
	r := startAppLog(t, cfg, mustValidate(t, cfg), logs.logger())

	addr := func(i int) string { return "127.0.0.1:" + itoa(ports[i]) }
	wantReason := map[string]string{
		addr(1): "TLS: certificate expired at " + expired.X509.NotAfter.UTC().Format(time.RFC3339),
		addr(2): `TLS: certificate signed by unknown authority (issuer "CN=other CA,O=vbproxy test")`,
		addr(3): "TLS: certificate is valid for 127.0.0.2, not 127.0.0.1",
	}
	waitFor(t, "the trusted node up, the three others down with a reason", func() bool {
		up, down := 0, 0
		for _, node := range vbmapInfo(t, r).Nodes {
			switch {
			case node.State == "up":
				up++
			case node.State == "down" && node.Reason != "":
				down++
			}
		}
		return up == 1 && down == 3
	})
	info := vbmapInfo(t, r)
	for i, node := range info.Nodes {
		switch {
		case i == 0:
			if node.Address != c.Nodes()[0].KVTLSAddr() || node.State != "up" || node.Reason != "" {
				t.Errorf("/vbmap node 0: got %s %s %q, want %s up, no reason", node.Address, node.State, node.Reason, c.Nodes()[0].KVTLSAddr())
			}
		case node.State != "down" || node.Reason != wantReason[node.Address]:
			t.Errorf("/vbmap node %s: got %s %q, want down %q", node.Address, node.State, node.Reason, wantReason[node.Address])
		}
	}
	code, body := r.readyz(t)
	want := "ok\n"
	for _, i := range []int{1, 2, 3} {
		want += `bucket "default": node ` + addr(i) + " down: " + wantReason[addr(i)] + "\n"
	}
	if code != 200 || body != want {
		t.Errorf("/readyz: got %d\n%s\nwant 200\n%s", code, body, want)
	}

	// The proxy keeps retrying (backoff), but each node is logged once
	// (the expired node too, although x509's text carries the time).
	for _, n := range bad {
		start := n.handshakes.Load()
		waitFor(t, "reconnect attempts", func() bool { return n.handshakes.Load() >= start+4 })
	}
	for i := range bad {
		if got := logs.count("WARN", map[string]string{"node": addr(i)}); got != 1 {
			t.Errorf("node %s: %d warning lines after %d handshakes, want 1 (a failing node is logged once)", addr(i), got, bad[i].handshakes.Load())
		}
	}

	// The trusted node serves its own vBuckets.
	cl := dialMC(t, r.proxy)
	served := 0
	for i := 0; served < 5 && i < 1000; i++ {
		k := keyN(i)
		if c.VBucketOwner("default", int(vbmap.VBucket([]byte(k), c.NumVBuckets()))) != c.Nodes()[0] {
			continue
		}
		if st := cl.set(k, "v"); st != memcached.StatusSuccess {
			t.Errorf("SET %s (on the trusted node): %s, want SUCCESS", k, st)
		}
		served++
	}
	if served != 5 {
		t.Errorf("found %d keys of the trusted node's vBuckets, want 5", served)
	}
}

// TestClusterClientCertificate: a client certificate authenticates the
// proxy to the nodes without a password (cluster.user empty: no SASL, then
// SELECT_BUCKET); without one, a node that demands it is down with the
// reason.
func TestClusterClientCertificate(t *testing.T) {
	dir := t.TempDir()
	c := startSim(t, sim.Options{Nodes: 2, TLSDir: dir, ClientCertAuth: sim.ClientCertMandatory})
	mapFile := staticTLSMap(t, c, t.TempDir(), nil)

	cfg := tlsClusterConfig(t, nil, mapFile, filepath.Join(dir, sim.CAFile))
	cfg.Cluster.User, cfg.Cluster.PasswordEnv = "", ""
	cfg.Cluster.TLS.ClientCertFile = filepath.Join(dir, sim.ClientCertFile)
	cfg.Cluster.TLS.ClientKeyFile = filepath.Join(dir, sim.ClientKeyFile)
	r := startApp(t, cfg, mustValidate(t, cfg))
	waitFor(t, "readyz 200", func() bool { code, _ := r.readyz(t); return code == 200 })
	waitFor(t, "nodes up", func() bool {
		for _, n := range vbmapInfo(t, r).Nodes {
			if n.State != "up" {
				return false
			}
		}
		return true
	})
	setGet(t, r.proxy, 20)
	if v, ok := c.Get("default", []byte(keyN(3))); !ok || string(v) != "value-"+keyN(3) {
		t.Errorf("bucket default holds %q (%v) for %s, want the value set through the proxy", v, ok, keyN(3))
	}

	// The same map without the certificate: every node refuses the
	// handshake (TLS 1.3 reports it at the first read), and says why.
	noCert := tlsClusterConfig(t, nil, mapFile, filepath.Join(dir, sim.CAFile))
	r2 := startApp(t, noCert, mustValidate(t, noCert))
	waitFor(t, "nodes down with a reason", func() bool {
		nodes := vbmapInfo(t, r2).Nodes
		if len(nodes) == 0 {
			return false // no map yet
		}
		for _, n := range nodes {
			if n.State != "down" || !strings.Contains(n.Reason, "certificate required") {
				return false
			}
		}
		return true
	})
	_, body := r2.readyz(t)
	for _, n := range c.Nodes() {
		if !strings.Contains(body, "node "+n.KVTLSAddr()+" down: ") {
			t.Errorf("/readyz without a client certificate: got %q, want node %s down with the reason", body, n.KVTLSAddr())
		}
	}
}
