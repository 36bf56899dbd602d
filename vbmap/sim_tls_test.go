package vbmap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/internal/certs"
	"github.com/vbproxy/vbproxy/sim"
)

// startTLSSim starts a simulated cluster serving TLS (over loopback) and
// returns it with a pool holding the CA it wrote to its TLS directory.
func startTLSSim(t *testing.T, nodes int) (*sim.Cluster, *x509.CertPool) {
	t.Helper()
	dir := t.TempDir()
	c, err := sim.Start(sim.Options{Host: "127.0.0.1", Nodes: nodes, VBuckets: 64, TLSDir: dir})
	if err != nil {
		t.Fatalf("sim.Start: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	pem, err := os.ReadFile(filepath.Join(dir, sim.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("ca.pem holds no certificate")
	}
	return c, pool
}

// kvTLSAddrs returns the KV TLS address of each node, by plain KV address.
func kvTLSAddrs(c *sim.Cluster) map[string]string {
	m := make(map[string]string)
	for _, n := range c.Nodes() {
		m[n.KVAddr()] = n.KVTLSAddr()
	}
	return m
}

// An https seed with the cluster's CA: the stream is read over TLS, every
// node's address is its KV TLS port, and a rebalance that adds a node
// arrives with that node's TLS port too.
func TestSourceTLSWithSim(t *testing.T) {
	c, pool := startTLSSim(t, 2)
	o := fastOptions("default", c.TLSSeedURL())
	o.TLSConfig = &tls.Config{RootCAs: pool}
	src, _, _ := startSource(t, o)
	waitReady(t, src)

	check := func(m *Map) {
		t.Helper()
		want := make(map[string]bool)
		for _, n := range c.Nodes() {
			want[n.KVTLSAddr()] = true
		}
		if len(m.Nodes()) != len(want) {
			t.Fatalf("%d nodes in the map, want %d", len(m.Nodes()), len(want))
		}
		for i, n := range m.Nodes() {
			if !want[n.Addr] || !strings.HasPrefix(n.MgmtURL, "https://127.0.0.1:") {
				t.Errorf("node %d = %+v, want a KV TLS address of %v and an https URL", i, n, want)
			}
		}
		for _, u := range m.MgmtURLs() {
			if !strings.HasPrefix(u, "https://") {
				t.Errorf("management URL %s is not https", u)
			}
		}
	}
	check(src.Current())

	added, err := c.AddNode()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Rebalance(ctx); err != nil {
		t.Fatalf("Rebalance: %v", err)
	}
	waitFor(t, "the streamed map to include the added node", func() bool {
		for _, n := range src.Current().Nodes() {
			if n.Addr == added.KVTLSAddr() {
				return true
			}
		}
		return false
	})
	check(src.Current())
	if src.Current().Origin() != OriginStream {
		t.Errorf("origin %s, want %s", src.Current().Origin(), OriginStream)
	}
	// The plain seed of the same cluster still gives plain addresses.
	plain := newTestSource(t, fastOptions("default", c.SeedURL()))
	if _, _, err := plain.Refresh(context.Background()); err != nil {
		t.Fatalf("Refresh over http: %v", err)
	}
	tlsOf := kvTLSAddrs(c)
	for i, n := range plain.Current().Nodes() {
		if _, ok := tlsOf[n.Addr]; !ok || strings.HasPrefix(n.MgmtURL, "https") {
			t.Errorf("plain node %d = %+v, want a plain KV address and http URL", i, n)
		}
	}
}

// Certificates the source must refuse, with an error that says why.
func TestSourceTLSRefusedWithSim(t *testing.T) {
	c, pool := startTLSSim(t, 1)
	other, err := certs.NewCA("some other CA")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		cfg     *tls.Config
		wantMsg string
	}{
		{"untrusted CA", &tls.Config{RootCAs: other.Pool()}, "x509: certificate signed by unknown authority"},
		{"system roots", nil, "x509: certificate signed by unknown authority"},
		// The node's certificate names 127.0.0.1 only; verify it as another host.
		{"hostname mismatch", &tls.Config{RootCAs: pool, ServerName: "127.0.0.2"}, "x509: certificate is valid for 127.0.0.1, not 127.0.0.2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := fastOptions("default", c.TLSSeedURL())
			o.TLSConfig = tt.cfg
			src := newTestSource(t, o)
			_, _, err := src.Refresh(context.Background())
			if err == nil {
				t.Fatal("Refresh succeeded, want a certificate error")
			}
			if !errors.Is(err, ErrCertificate) {
				t.Errorf("error %q is not ErrCertificate", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, "TLS certificate rejected") || !strings.Contains(msg, tt.wantMsg) {
				t.Errorf("error\n got: %s\nwant: the TLS certificate rejected, %q", msg, tt.wantMsg)
			}
			if src.Current() != nil {
				t.Errorf("a map was applied: %v", src.Current().Nodes())
			}
		})
	}
	if _, err := NewSource(fastOptions("default", c.SeedURL(), c.TLSSeedURL())); err == nil || err.Error() != "vbmap: seeds mix http and https" {
		t.Errorf("NewSource(http and https seeds) = %v, want vbmap: seeds mix http and https", err)
	}
}

// A couchbases:// seed: the config connection is TLS (PLAIN over TLS, the
// cluster's CA), the map's nodes are their KV TLS addresses, and a
// rebalance arrives pushed, with the added node's TLS port.
func TestCCCPTLSWithSim(t *testing.T) {
	c, pool := startTLSSim(t, 2)
	o := cccpOptions(ConfigSourceCCCP, "couchbases://"+c.Nodes()[0].KVTLSAddr())
	o.TLSConfig = &tls.Config{RootCAs: pool}
	src, rec, _ := startSource(t, o)
	waitReady(t, src)
	if got := src.Current().Origin(); got != OriginCCCP {
		t.Errorf("first map origin %q, want cccp", got)
	}
	tlsOf := kvTLSAddrs(c)
	for i, n := range src.Current().Nodes() {
		found := false
		for _, a := range tlsOf {
			found = found || a == n.Addr
		}
		if !found {
			t.Errorf("node %d address %q is not a KV TLS address (%v)", i, n.Addr, tlsOf)
		}
	}
	added, err := c.AddNode()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Rebalance(ctx); err != nil {
		t.Fatal(err)
	}
	waitRev(t, src, c, 5*time.Second)
	if m := src.Current(); m.Origin() != OriginPush || !containsAddr(m, added.KVTLSAddr()) {
		t.Errorf("after the rebalance: origin %q, added node %s present %v; want push and present", m.Origin(), added.KVTLSAddr(), containsAddr(m, added.KVTLSAddr()))
	}
	if _, _, errs := rec.snapshot(); len(errs) != 0 {
		t.Errorf("errors: %q", errs)
	}
	// An untrusted CA is ErrCertificate from the config connection too.
	bad := cccpOptions(ConfigSourceCCCP, "couchbases://"+c.Nodes()[0].KVTLSAddr())
	other, err := certs.NewCA("some other CA")
	if err != nil {
		t.Fatal(err)
	}
	bad.TLSConfig = &tls.Config{RootCAs: other.Pool()}
	s := newTestSource(t, bad)
	_, _, err = s.Refresh(context.Background())
	if !errors.Is(err, ErrCertificate) || !strings.Contains(err.Error(), "couchbases://") {
		t.Errorf("Refresh with an untrusted CA: %v, want ErrCertificate naming the couchbases:// address", err)
	}
}

// Certificate authentication: a client certificate naming the user
// authenticates the config connection, which then sends no SASL (the node
// would refuse it after a certificate login).
func TestCCCPClientCertificateWithSim(t *testing.T) {
	c, err := sim.Start(sim.Options{Host: "127.0.0.1", Nodes: 2, VBuckets: 64, TLSDir: t.TempDir(), ClientCertAuth: sim.ClientCertMandatory})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	cert, err := c.CA().Client("Administrator")
	if err != nil {
		t.Fatal(err)
	}
	tc := &tls.Config{RootCAs: c.CA().Pool(), Certificates: []tls.Certificate{cert.TLSCertificate()}}
	for _, certAuth := range []bool{true, false} {
		o := cccpOptions(ConfigSourceCCCP, "couchbases://"+c.Nodes()[0].KVTLSAddr())
		o.TLSConfig, o.KVCertAuth = tc, certAuth
		s := newTestSource(t, o)
		_, _, err := s.Refresh(context.Background())
		switch {
		case certAuth && err != nil:
			t.Errorf("KVCertAuth: Refresh: %v", err)
		case !certAuth && !errors.Is(err, ErrUnauthorized):
			t.Errorf("SASL after a certificate login: Refresh = %v, want ErrUnauthorized (NOT_SUPPORTED)", err)
		}
	}
	o := cccpOptions(ConfigSourceCCCP, "couchbases://"+c.Nodes()[0].KVTLSAddr())
	o.TLSConfig, o.KVCertAuth = tc, true
	src, rec, _ := startSource(t, o)
	waitReady(t, src)
	if err := c.Failover(c.Nodes()[1]); err != nil {
		t.Fatal(err)
	}
	waitRev(t, src, c, 5*time.Second)
	if got := src.Current().Origin(); got != OriginPush {
		t.Errorf("origin %q, want push", got)
	}
	if _, _, errs := rec.snapshot(); len(errs) != 0 {
		t.Errorf("errors: %q", errs)
	}
}
