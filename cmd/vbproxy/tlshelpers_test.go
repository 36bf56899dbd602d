package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/internal/certs"
	"github.com/vbproxy/vbproxy/memcached"
	"github.com/vbproxy/vbproxy/sim"
)

// Helpers for the TLS, PROXY protocol and listener tests: certificates
// from internal/certs, TLS and text clients, and a validated configuration
// whose listeners a test chooses.

func newCA(t testing.TB, name string) *certs.CA {
	t.Helper()
	ca, err := certs.NewCA(name)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// issue signs a certificate and writes it into dir as name.pem and
// name-key.pem.
func issue(t testing.TB, ca *certs.CA, dir, name string, o certs.Options) (c *certs.Cert, certFile, keyFile string) {
	t.Helper()
	c, err := ca.Issue(o)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err = c.WriteFiles(dir, name)
	if err != nil {
		t.Fatal(err)
	}
	return c, certFile, keyFile
}

// writeCAFile writes ca's certificate into dir and returns its path.
func writeCAFile(t testing.TB, ca *certs.CA, dir, name string) string {
	t.Helper()
	certFile, _, err := ca.WriteFiles(dir, name)
	if err != nil {
		t.Fatal(err)
	}
	return certFile
}

// clientTLS trusts ca and presents client (when not nil).
func clientTLS(ca *certs.CA, client *certs.Cert) *tls.Config {
	cfg := &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	if client != nil {
		cfg.Certificates = []tls.Certificate{client.TLSCertificate()}
	}
	return cfg
}

// dialTLS completes a TLS handshake with addr (hang guard 10s).
func dialTLS(t testing.TB, addr string, cfg *tls.Config) (*tls.Conn, error) {
	t.Helper()
	d := &net.Dialer{Timeout: 10 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { conn.Close() })
	return conn, nil
}

// newMC is the test binary client over an established connection.
func newMC(t testing.TB, conn net.Conn) *mcClient {
	return &mcClient{t: t, conn: conn, r: memcached.NewReader(conn, memcached.ReaderOptions{})}
}

// textClient speaks the memcached text protocol.
type textClient struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
}

func newText(t testing.TB, conn net.Conn) *textClient {
	return &textClient{t: t, conn: conn, r: bufio.NewReader(conn)}
}

// do sends cmd (with its data block and CRLFs) and returns the reply: up
// to END for get, gets and stats, else one line.
func (c *textClient) do(cmd string) string {
	c.t.Helper()
	_ = c.conn.SetDeadline(time.Now().Add(20 * time.Second)) // hang guard
	if _, err := c.conn.Write([]byte(cmd)); err != nil {
		c.t.Fatalf("text %q: write: %v", cmd, err)
	}
	multi := strings.HasPrefix(cmd, "get") || strings.HasPrefix(cmd, "stats")
	var b strings.Builder
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("text %q: read after %q: %v", cmd, b.String(), err)
		}
		b.WriteString(line)
		if !multi || line == "END\r\n" || strings.HasPrefix(line, "SERVER_ERROR") || strings.HasPrefix(line, "CLIENT_ERROR") {
			return b.String()
		}
	}
}

// listenersConfig is testConfig in front of c with the given listeners
// (validated; users' passwords from env).
func listenersConfig(t *testing.T, c *sim.Cluster, env map[string]string, lis ...ListenerConfig) (*Config, secrets) {
	t.Helper()
	cfg, _ := testConfig(t, c)
	cfg.Listeners = lis
	if env == nil {
		env = map[string]string{}
	}
	env["PW"] = "password"
	sec, errs := validate(cfg, envMap(env))
	if len(errs) > 0 {
		t.Fatalf("validate: %v", errs)
	}
	return cfg, sec
}

// addr returns the bound address of listener i.
func (r *running) addr(i int) string { return r.app.lis[i].ln.Addr().String() }

// readyz returns /readyz's status and body.
func (r *running) readyz(t *testing.T) (int, string) {
	t.Helper()
	code, _, body := httpDo(t, "GET", r.admin+"/readyz")
	return code, body
}

// leafOf returns the certificate a TLS server at addr presents (verified
// against roots).
func leafOf(t *testing.T, addr string, roots *x509.CertPool) *x509.Certificate {
	t.Helper()
	conn, err := dialTLS(t, addr, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("TLS dial %s: %v", addr, err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0]
}

// staticTLSMap writes c's bucket config as a map file whose nodes' kvSSL
// ports are replaced by kvSSL[i] when set (a TLS server the test runs in
// place of node i), for cluster.map_file with cluster.tls.enabled.
func staticTLSMap(t *testing.T, c *sim.Cluster, dir string, kvSSL map[int]int) string {
	t.Helper()
	var cfg map[string]any
	if err := json.Unmarshal(c.ConfigJSON("default"), &cfg); err != nil {
		t.Fatal(err)
	}
	nodes, _ := cfg["nodesExt"].([]any)
	for i, port := range kvSSL {
		n := nodes[i].(map[string]any)
		n["services"].(map[string]any)["kvSSL"] = port
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, dir, "map.json", string(b))
}

// try is do without failing the test: for clients on other goroutines.
func (c *mcClient) try(op memcached.Opcode, extras, key, value []byte) (memcached.Status, []byte, error) {
	c.buf = memcached.AppendRequest(c.buf[:0], op, 0, 0x1234, 0, extras, key, value)
	_ = c.conn.SetDeadline(time.Now().Add(20 * time.Second)) // hang guard
	if _, err := c.conn.Write(c.buf); err != nil {
		return 0, nil, err
	}
	var p memcached.Packet
	if err := c.r.ReadResponse(&p); err != nil {
		return 0, nil, err
	}
	if p.Opaque != 0x1234 || p.Opcode != op {
		return 0, nil, fmt.Errorf("%s reply: got opcode %s opaque %#x", op, p.Opcode, p.Opaque)
	}
	return p.Status, append([]byte(nil), p.Value...), nil
}
