package sim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gmc "github.com/couchbase/gomemcached/client"

	"github.com/vbproxy/vbproxy/internal/certs"
	"github.com/vbproxy/vbproxy/memcached"
	"github.com/vbproxy/vbproxy/vbmap"
)

// startTLSCluster starts a cluster with TLS (files in a temporary
// directory) on 127.0.0.1 with ephemeral ports.
func startTLSCluster(t *testing.T, o Options) (*Cluster, string) {
	t.Helper()
	dir := t.TempDir()
	o.TLSDir = dir
	return startCluster(t, o), dir
}

// caPool reads TLSDir/ca.pem as a client would.
func caPool(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, CAFile))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		t.Fatalf("%s holds no certificate", CAFile)
	}
	return pool
}

// clientCert loads TLSDir/client.pem and client-key.pem.
func clientCert(t *testing.T, dir string) tls.Certificate {
	t.Helper()
	c, err := tls.LoadX509KeyPair(filepath.Join(dir, ClientCertFile), filepath.Join(dir, ClientKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// dialKVTLS opens a KV TLS connection and completes the handshake.
func dialKVTLS(t *testing.T, addr string, cfg *tls.Config) (*kvClient, error) {
	t.Helper()
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: cfg}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &kvClient{t: t, conn: conn, r: memcached.NewReader(conn, memcached.ReaderOptions{})}, nil
}

func TestTLSFilesAndAdvertisedPorts(t *testing.T) {
	c, dir := startTLSCluster(t, Options{Nodes: 2, ExternalHost: "203.0.113.7"})
	for _, name := range []string{CAFile, CAKeyFile, ClientCertFile, ClientKeyFile} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("TLSDir/%s: %v", name, err)
		}
	}
	ca, err := certs.LoadCA(filepath.Join(dir, CAFile), filepath.Join(dir, CAKeyFile))
	if err != nil {
		t.Fatalf("LoadCA: %v", err)
	}
	if !ca.Certificate().Equal(c.CA().Certificate()) {
		t.Error("ca.pem is not Cluster.CA()")
	}
	cli := clientCert(t, dir)
	if cli.Leaf.Subject.CommonName != testUser {
		t.Errorf("client.pem CN = %q, want %q", cli.Leaf.Subject.CommonName, testUser)
	}
	if got, want := c.TLSSeedURL(), c.Nodes()[0].MgmtTLSURL(); got != want || !strings.HasPrefix(got, "https://127.0.0.1:") {
		t.Errorf("TLSSeedURL = %q, want %q (https)", got, want)
	}

	// The terse config, parsed with TLS, points at the ports the nodes serve.
	cfg := c.ConfigJSON("default")
	m, err := vbmap.Parse(cfg, vbmap.ParseOptions{Host: "127.0.0.1", TLS: true})
	if err != nil {
		t.Fatalf("Parse with TLS: %v", err)
	}
	for i, n := range c.Nodes() {
		if n.KVTLSAddr() == n.KVAddr() || n.KVTLSAddr() == "" {
			t.Fatalf("node %s: KVTLSAddr %q, KVAddr %q", n, n.KVTLSAddr(), n.KVAddr())
		}
		if got, want := m.Nodes()[i], (vbmap.Node{Addr: n.KVTLSAddr(), MgmtURL: n.MgmtTLSURL()}); got != want {
			t.Errorf("node %d = %+v, want %+v", i, got, want)
		}
	}
	// Under the external network the alternate address carries them too.
	ext, err := vbmap.Parse(cfg, vbmap.ParseOptions{Host: "127.0.0.1", TLS: true, Network: "external"})
	if err != nil {
		t.Fatalf("Parse external with TLS: %v", err)
	}
	if got, want := ext.Nodes()[1].Addr, "203.0.113.7:"+portOf(c.Nodes()[1].KVTLSAddr()); got != want {
		t.Errorf("external node 1 = %s, want %s", got, want)
	}
	// The server certificate names the node and the external host.
	conn, err := tls.Dial("tcp", c.Nodes()[0].KVTLSAddr(), &tls.Config{RootCAs: caPool(t, dir)})
	if err != nil {
		t.Fatalf("dial KV TLS: %v", err)
	}
	leaf := conn.ConnectionState().PeerCertificates[0]
	_ = conn.Close()
	if err := leaf.VerifyHostname("203.0.113.7"); err != nil {
		t.Errorf("server certificate: %v", err)
	}
}

// A real Couchbase client library (gomemcached) over TLS: PLAIN, select
// bucket, set and get; the plain port keeps working beside it.
func TestTLSKVWithGomemcached(t *testing.T) {
	c, dir := startTLSCluster(t, Options{Nodes: 1, VBuckets: 1})
	n := c.Nodes()[0]
	client, err := gmc.ConnectTLS("tcp", n.KVTLSAddr(), &tls.Config{RootCAs: caPool(t, dir)})
	if err != nil {
		t.Fatalf("ConnectTLS: %v", err)
	}
	t.Cleanup(func() { _ = client.Close() })
	if _, err := client.Auth(testUser, testPass); err != nil {
		t.Fatalf("Auth over TLS: %v", err)
	}
	if _, err := client.SelectBucket("default"); err != nil {
		t.Fatalf("SelectBucket: %v", err)
	}
	if _, err := client.Set(0, "tk", 0, 0, []byte("over tls")); err != nil {
		t.Fatalf("Set: %v", err)
	}
	plain := connectGM(t, n.KVAddr())
	if _, err := plain.Auth(testUser, testPass); err != nil {
		t.Fatalf("Auth plain: %v", err)
	}
	if _, err := plain.SelectBucket("default"); err != nil {
		t.Fatal(err)
	}
	res, err := plain.Get(0, "tk")
	if err != nil || string(res.Body) != "over tls" {
		t.Fatalf("Get on the plain port: %v %q, want %q", err, res.Body, "over tls")
	}
}

func TestTLSVerificationFailures(t *testing.T) {
	c, dir := startTLSCluster(t, Options{Nodes: 1, VBuckets: 1})
	addr := c.Nodes()[0].KVTLSAddr()
	other, err := certs.NewCA("other CA")
	if err != nil {
		t.Fatal(err)
	}
	_, err = dialKVTLS(t, addr, &tls.Config{RootCAs: other.Pool()})
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Errorf("dial trusting another CA: %v, want x509.UnknownAuthorityError", err)
	}
	_, err = dialKVTLS(t, addr, &tls.Config{RootCAs: caPool(t, dir), ServerName: "localhost"})
	var hostname x509.HostnameError
	if !errors.As(err, &hostname) {
		t.Errorf("dial as localhost: %v, want x509.HostnameError", err)
	}
	// The https cluster manager: trusted works, untrusted fails.
	get := func(roots *x509.CertPool) error {
		cl := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
		defer cl.CloseIdleConnections()
		req, _ := http.NewRequest(http.MethodGet, c.TLSSeedURL()+"/pools/default/buckets/default", nil)
		req.SetBasicAuth(testUser, testPass)
		res, err := cl.Do(req)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK || !strings.Contains(string(body), `"kvSSL":`+portOf(addr)) {
			t.Errorf("https config: %d %s, want 200 advertising kvSSL %s", res.StatusCode, body, portOf(addr))
		}
		return nil
	}
	if err := get(caPool(t, dir)); err != nil {
		t.Errorf("https GET with the CA: %v", err)
	}
	if err := get(other.Pool()); !errors.As(err, &unknown) {
		t.Errorf("https GET trusting another CA: %v, want x509.UnknownAuthorityError", err)
	}
}

// noopOK sends NOOP and reports whether it got SUCCESS back.
func noopOK(c *kvClient) error {
	c.send(memcached.OpNoop, 0, 0, nil, nil, nil)
	r, err := c.tryRecv(5 * time.Second)
	if err != nil {
		return err
	}
	if r.Status != memcached.StatusSuccess {
		return errors.New("NOOP: " + r.Status.String())
	}
	return nil
}

// hello negotiates XERROR, so that errors are replies, not closes.
func (c *kvClient) helloXError() {
	c.t.Helper()
	if r := c.do(memcached.OpHello, 0, 0, nil, []byte("tls-test"), []byte{0, 0x07}); r.Status != memcached.StatusSuccess {
		c.t.Fatalf("HELLO: %s", r.Status)
	}
}

func TestClientCertMandatory(t *testing.T) {
	c, dir := startTLSCluster(t, Options{Nodes: 1, VBuckets: 1, ClientCertAuth: ClientCertMandatory})
	addr := c.Nodes()[0].KVTLSAddr()
	roots := caPool(t, dir)

	// The certificate from TLSDir authenticates as User: no SASL needed,
	// and SASL may not change the identity.
	kc, err := dialKVTLS(t, addr, &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{clientCert(t, dir)}})
	if err != nil {
		t.Fatalf("dial with the client certificate: %v", err)
	}
	kc.helloXError()
	if r := kc.do(memcached.OpSelectBucket, 0, 0, nil, []byte("default"), nil); r.Status != memcached.StatusSuccess {
		t.Fatalf("SELECT_BUCKET without SASL: %s, want SUCCESS", r.Status)
	}
	if r := kc.do(memcached.OpSet, 0, 0, setExtras(0, 0), []byte("ck"), []byte("v")); r.Status != memcached.StatusSuccess {
		t.Fatalf("SET: %s", r.Status)
	}
	r := kc.do(memcached.OpSASLAuth, 0, 0, nil, []byte("PLAIN"), []byte("\x00"+testUser+"\x00"+testPass))
	if r.Status != memcached.StatusNotSupported {
		t.Errorf("SASL_AUTH after certificate authentication: %s, want NOT_SUPPORTED", r.Status)
	}
	if r := kc.do(memcached.OpGet, 0, 0, nil, []byte("ck"), nil); r.Status != memcached.StatusSuccess || string(r.Value) != "v" {
		t.Errorf("GET after the refused SASL: %s %q, want SUCCESS \"v\" (still authenticated)", r.Status, r.Value)
	}

	// Refused: no certificate, a certificate for no configured user, a
	// certificate from another CA. With TLS 1.3 the client learns it on
	// its first read.
	other, err := certs.NewCA("other CA")
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := c.CA().Client("nobody")
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := other.Client(testUser)
	if err != nil {
		t.Fatal(err)
	}
	for name, certs := range map[string][]tls.Certificate{
		"no certificate":   nil,
		"unknown user":     {stranger.TLSCertificate()},
		"untrusted issuer": {foreign.TLSCertificate()},
	} {
		kc, err := dialKVTLS(t, addr, &tls.Config{RootCAs: roots, Certificates: certs})
		if err == nil {
			err = noopOK(kc)
		}
		if err == nil {
			t.Errorf("%s: NOOP succeeded, want the connection refused", name)
		}
	}
}

func TestClientCertEnable(t *testing.T) {
	c, dir := startTLSCluster(t, Options{Nodes: 1, VBuckets: 1, ClientCertAuth: ClientCertEnable})
	addr := c.Nodes()[0].KVTLSAddr()
	roots := caPool(t, dir)
	// Without a certificate: SASL as usual.
	kc, err := dialKVTLS(t, addr, &tls.Config{RootCAs: roots})
	if err != nil {
		t.Fatal(err)
	}
	kc.helloXError()
	if r := kc.do(memcached.OpSelectBucket, 0, 0, nil, []byte("default"), nil); r.Status != memcached.StatusEAccess {
		t.Errorf("SELECT_BUCKET before SASL: %s, want EACCESS", r.Status)
	}
	kc.login("default")
	// With one, whose SAN (not CN) names the user: no SASL.
	san, err := c.CA().Issue(certs.Options{CommonName: "app-7", Client: true, URIs: []string{"couchbase://" + testUser + "@cluster"}})
	if err != nil {
		t.Fatal(err)
	}
	kc, err = dialKVTLS(t, addr, &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{san.TLSCertificate()}})
	if err != nil {
		t.Fatal(err)
	}
	kc.helloXError()
	if r := kc.do(memcached.OpSelectBucket, 0, 0, nil, []byte("default"), nil); r.Status != memcached.StatusSuccess {
		t.Errorf("SELECT_BUCKET with a URI SAN certificate: %s, want SUCCESS", r.Status)
	}
}

// Without ClientCertAuth the server asks for no certificate: a client
// that has one still needs SASL.
func TestClientCertDisabledIgnoresCertificates(t *testing.T) {
	c, dir := startTLSCluster(t, Options{Nodes: 1, VBuckets: 1})
	kc, err := dialKVTLS(t, c.Nodes()[0].KVTLSAddr(), &tls.Config{RootCAs: caPool(t, dir), Certificates: []tls.Certificate{clientCert(t, dir)}})
	if err != nil {
		t.Fatal(err)
	}
	kc.helloXError()
	if r := kc.do(memcached.OpSelectBucket, 0, 0, nil, []byte("default"), nil); r.Status != memcached.StatusEAccess {
		t.Errorf("SELECT_BUCKET: %s, want EACCESS (no certificate authentication)", r.Status)
	}
}

// A paused node completes no TLS handshake until it resumes; a node
// added later serves TLS too; a failed-over node's TLS port closes.
func TestTLSNodeLifecycle(t *testing.T) {
	c, dir := startTLSCluster(t, Options{Nodes: 2, VBuckets: 8})
	roots := caPool(t, dir)
	n := c.Nodes()[1]
	c.Pause(n)
	raw, err := net.DialTimeout("tcp", n.KVTLSAddr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	tc := tls.Client(raw, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
	_ = raw.SetDeadline(time.Now().Add(300 * time.Millisecond))
	if err := tc.Handshake(); err == nil {
		t.Fatal("handshake with a paused node completed")
	}
	c.Resume(n)
	if _, err := dialKVTLS(t, n.KVTLSAddr(), &tls.Config{RootCAs: roots}); err != nil {
		t.Fatalf("handshake after resume: %v", err)
	}

	added, err := c.AddNode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dialKVTLS(t, added.KVTLSAddr(), &tls.Config{RootCAs: roots}); err != nil {
		t.Errorf("added node KV TLS: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Rebalance(ctx); err != nil {
		t.Fatalf("Rebalance: %v", err)
	}
	if !strings.Contains(string(c.ConfigJSON("default")), `"kvSSL":`+portOf(added.KVTLSAddr())) {
		t.Errorf("config does not advertise the added node's kvSSL %s", portOf(added.KVTLSAddr()))
	}

	if err := c.Failover(n); err != nil {
		t.Fatal(err)
	}
	if conn, err := net.DialTimeout("tcp", n.KVTLSAddr(), time.Second); err == nil {
		_ = conn.Close()
		t.Errorf("failed-over node still accepts on %s", n.KVTLSAddr())
	}
}

func TestTLSOptions(t *testing.T) {
	tests := []struct {
		name    string
		o       Options
		wantErr string
		check   func(Options) bool
	}{
		{"defaults with HostBase", Options{TLSDir: "d"}, "", func(o Options) bool {
			return o.KVTLSPort == 11207 && o.ClientCertAuth == ClientCertDisable
		}},
		{"ephemeral with Host", Options{TLSDir: "d", Host: "127.0.0.1"}, "", func(o Options) bool { return o.KVTLSPort == 0 }},
		{"mode without TLSDir", Options{ClientCertAuth: ClientCertMandatory}, `ClientCertAuth "mandatory" needs TLSDir`, nil},
		{"unknown mode", Options{TLSDir: "d", ClientCertAuth: "required"}, `ClientCertAuth "required": want "disable", "enable" or "mandatory"`, nil},
		{"bad port", Options{TLSDir: "d", KVTLSPort: 70000}, "KVTLSPort 70000 out of range", nil},
		{"same port", Options{TLSDir: "d", KVTLSPort: 11210}, "KVPort 11210 and KVTLSPort 11210 overlap for 1 nodes", nil},
		{"overlap on one host", Options{TLSDir: "d", Host: "127.0.0.1", Nodes: 4, MgmtPort: 8091, KVPort: 11210, KVTLSPort: 11207},
			"KVPort 11210 and KVTLSPort 11207 overlap for 4 nodes on one host", nil},
		{"https port too high", Options{TLSDir: "d", MgmtPort: 60000}, "the https port (MgmtPort+10000) 70000: node 0 would listen above 65535", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := tt.o.withDefaults()
			if tt.wantErr != "" {
				if err == nil || !errors.Is(err, ErrBadOptions) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want ErrBadOptions with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !tt.check(o) {
				t.Fatalf("withDefaults = %+v, %v", o, err)
			}
		})
	}
}

// A reconnect resumes the TLS session (tickets are on), so clients that
// cache sessions skip the full handshake.
func TestTLSSessionResumption(t *testing.T) {
	c, dir := startTLSCluster(t, Options{Nodes: 1, VBuckets: 1})
	cfg := &tls.Config{RootCAs: caPool(t, dir), ClientSessionCache: tls.NewLRUClientSessionCache(4)}
	for i, wantResumed := range []bool{false, true} {
		kc, err := dialKVTLS(t, c.Nodes()[0].KVTLSAddr(), cfg)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		// A round trip reads the session ticket the server sends after the
		// handshake (TLS 1.3).
		if err := noopOK(kc); err != nil {
			t.Fatalf("dial %d: NOOP: %v", i, err)
		}
		if got := kc.conn.(*tls.Conn).ConnectionState().DidResume; got != wantResumed {
			t.Errorf("dial %d: DidResume = %v, want %v", i, got, wantResumed)
		}
		_ = kc.conn.Close()
	}
}
