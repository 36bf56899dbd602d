package edge

import (
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/internal/certs"
)

// pki is a CA and the files of a TLS listener in a directory laid out
// as Kubernetes mounts a Secret: DIR/tls.crt -> ..data/tls.crt, with
// ..data a symlink to the current timestamped directory. publish swaps
// ..data atomically, as the kubelet does when cert-manager renews.
type pki struct {
	ca                        *certs.CA
	dir                       string
	certFile, keyFile, caFile string
	gen                       int
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	ca, err := certs.NewCA("edge test CA")
	if err != nil {
		t.Fatal(err)
	}
	p := &pki{ca: ca, dir: t.TempDir()}
	p.certFile = filepath.Join(p.dir, "tls.crt")
	p.keyFile = filepath.Join(p.dir, "tls.key")
	p.caFile = filepath.Join(p.dir, "ca.crt")
	srv := p.server(t)
	p.publish(t, srv.CertPEM, srv.KeyPEM, ca.CertPEM())
	for _, name := range []string{"tls.crt", "tls.key", "ca.crt"} {
		if err := os.Symlink(filepath.Join("..data", name), filepath.Join(p.dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// server issues a server certificate for 127.0.0.1 from the CA.
func (p *pki) server(t *testing.T) *certs.Cert {
	t.Helper()
	c, err := p.ca.Server("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// publish writes a new generation of the Secret and swaps ..data to it.
func (p *pki) publish(t *testing.T, cert, key, ca []byte) {
	t.Helper()
	p.gen++
	gen := "..gen_" + strconv.Itoa(p.gen)
	dir := filepath.Join(p.dir, gen)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"tls.crt": cert, "tls.key": key, "ca.crt": ca} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tmp := filepath.Join(p.dir, "..data_tmp")
	if err := os.Symlink(gen, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(p.dir, "..data")); err != nil {
		t.Fatal(err)
	}
}

// tlsOptions serves the pki's files.
func (p *pki) tlsOptions() *TLSOptions {
	return &TLSOptions{CertFile: p.certFile, KeyFile: p.keyFile}
}

// clientConfig trusts the CA and verifies the listener as 127.0.0.1. No
// session cache: every handshake is a full one and sees the current
// certificate.
func (p *pki) clientConfig() *tls.Config {
	return &tls.Config{RootCAs: p.ca.Pool(), ServerName: "127.0.0.1"}
}

// clientCert issues a client certificate described by o (Client is set).
func clientCert(t *testing.T, ca *certs.CA, o certs.Options) tls.Certificate {
	t.Helper()
	o.Client = true
	c, err := ca.Issue(o)
	if err != nil {
		t.Fatal(err)
	}
	return c.TLSCertificate()
}

// firstWriteConn prepends prefix to the first Write: a PROXY header in the
// same TCP segment as the ClientHello, as load balancers send it.
type firstWriteConn struct {
	net.Conn
	prefix []byte
}

func (c *firstWriteConn) Write(b []byte) (int, error) {
	if c.prefix != nil {
		p := append(c.prefix, b...)
		c.prefix = nil
		n, err := c.Conn.Write(p)
		return max(0, n-(len(p)-len(b))), err
	}
	return c.Conn.Write(b)
}

// tlsDial connects from src, optionally sends header in front of the
// ClientHello, and completes the client side of the handshake.
func tlsDial(t *testing.T, src, addr string, cfg *tls.Config, header []byte) (*tls.Conn, error) {
	t.Helper()
	var c net.Conn = dialFrom(t, src, addr)
	if header != nil {
		c = &firstWriteConn{Conn: c, prefix: header}
	}
	tc := tls.Client(c, cfg)
	_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
	err := tc.Handshake()
	return tc, err
}

// exchange writes "ping" from the client, reads it on the admitted side,
// answers "pong" and reads that on the client: the connection works.
func exchange(t *testing.T, client net.Conn, a *Admitted) {
	t.Helper()
	_ = client.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := client.Write([]byte("ping")); err != nil {
		t.Fatalf("client write: %v", err)
	}
	if got := readAll(t, a, 4); got != "ping" {
		t.Fatalf("server read %q, want ping", got)
	}
	if _, err := a.Conn.Write([]byte("pong")); err != nil {
		t.Fatalf("server write: %v", err)
	}
	buf := make([]byte, 4)
	if _, err := client.Read(buf); err != nil || string(buf) != "pong" {
		t.Fatalf("client read %q, %v; want pong", buf, err)
	}
}
