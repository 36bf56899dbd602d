package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/internal/certs"
)

func TestBuildClusterTLSOff(t *testing.T) {
	cfg, err := BuildClusterTLS(ClusterTLS{})
	if cfg != nil || err != nil {
		t.Fatalf("BuildClusterTLS(zero) = %v, %v; want nil, nil", cfg, err)
	}
	if got := ForAddr(nil, "127.0.0.1:11207"); got != nil {
		t.Fatalf("ForAddr(nil) = %v, want nil", got)
	}
}

func TestBuildClusterTLSErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.pem")
	if err := os.WriteFile(empty, []byte("not a certificate\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ca := newCA(t, "test CA")
	caFile := writeCAFile(t, dir, ca)
	cli := must[*certs.Cert](t)(ca.Client("Administrator"))
	certFile, keyFile := must2(t)(cli.WriteFiles(dir, "client"))
	other := must[*certs.Cert](t)(ca.Client("other"))
	_, otherKey := must2(t)(other.WriteFiles(dir, "other"))

	for _, tc := range []struct {
		name string
		c    ClusterTLS
		want string
	}{
		{"ca without enabled", ClusterTLS{CAFile: caFile},
			"cluster.tls.ca_file: set but cluster.tls.enabled is false"},
		{"insecure without enabled", ClusterTLS{InsecureSkipVerify: true},
			"cluster.tls.insecure_skip_verify: set but cluster.tls.enabled is false"},
		{"missing ca file", ClusterTLS{Enabled: true, CAFile: filepath.Join(dir, "nope.pem")},
			"cluster.tls.ca_file: open " + filepath.Join(dir, "nope.pem") + ": no such file or directory"},
		{"empty ca file", ClusterTLS{Enabled: true, CAFile: empty},
			"cluster.tls.ca_file: no certificates found in " + empty},
		{"cert without key", ClusterTLS{Enabled: true, ClientCertFile: certFile},
			"cluster.tls.client_key_file: required with client_cert_file"},
		{"key without cert", ClusterTLS{Enabled: true, ClientKeyFile: keyFile},
			"cluster.tls.client_cert_file: required with client_key_file"},
		{"key of another cert", ClusterTLS{Enabled: true, ClientCertFile: certFile, ClientKeyFile: otherKey},
			"cluster.tls.client_cert_file: " + certFile + " and " + otherKey + ": tls: private key does not match public key"},
		{"cert file is not a cert", ClusterTLS{Enabled: true, ClientCertFile: empty, ClientKeyFile: keyFile},
			"cluster.tls.client_cert_file: no certificates found in " + empty},
		{"insecure with ca", ClusterTLS{Enabled: true, InsecureSkipVerify: true, CAFile: caFile},
			"cluster.tls.insecure_skip_verify: cannot be combined with ca_file (a CA that is never checked)"},
		{"old version", ClusterTLS{Enabled: true, MinVersion: tls.VersionTLS11},
			"cluster.tls.min_version: unsupported TLS version TLS 1.1: use TLS 1.2 or 1.3"},
		{"server name with port", ClusterTLS{Enabled: true, ServerName: "db:11207"},
			`cluster.tls.server_name: "db:11207" is not a host name`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := BuildClusterTLS(tc.c)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("err = %v\nwant   %s", err, tc.want)
			}
		})
	}
}

func must2(t *testing.T) func(a, b string, err error) (string, string) {
	return func(a, b string, err error) (string, string) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return a, b
	}
}

func TestBuildClusterTLSDefaults(t *testing.T) {
	cfg, err := BuildClusterTLS(ClusterTLS{Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MinVersion != tls.VersionTLS12 || cfg.RootCAs != nil || cfg.InsecureSkipVerify ||
		cfg.ServerName != "" || cfg.ClientSessionCache == nil || cfg.GetClientCertificate != nil {
		t.Fatalf("defaults: MinVersion %x RootCAs %v Insecure %v ServerName %q cache %v client cert %v",
			cfg.MinVersion, cfg.RootCAs, cfg.InsecureSkipVerify, cfg.ServerName,
			cfg.ClientSessionCache != nil, cfg.GetClientCertificate != nil)
	}
	for addr, want := range map[string]string{
		"127.0.0.11:11207":      "127.0.0.11",
		"[::1]:11207":           "::1",
		"db1.example.com:11207": "db1.example.com",
	} {
		if got := ForAddr(cfg, addr).ServerName; got != want {
			t.Errorf("ForAddr(%q).ServerName = %q, want %q", addr, got, want)
		}
	}
	over, err := BuildClusterTLS(ClusterTLS{Enabled: true, ServerName: "cb.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if got := ForAddr(over, "127.0.0.11:11207").ServerName; got != "cb.example.com" {
		t.Errorf("ForAddr with server_name override: ServerName = %q, want cb.example.com", got)
	}
	if cfg.ServerName != "" {
		t.Errorf("ForAddr changed the base: ServerName %q", cfg.ServerName)
	}
}

func TestClusterTLSVerification(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t, "test CA")
	caFile := writeCAFile(t, dir, ca)
	base, err := BuildClusterTLS(ClusterTLS{Enabled: true, CAFile: caFile})
	if err != nil {
		t.Fatal(err)
	}
	unknown := newCA(t, "unknown CA")
	expired := must[*certs.Cert](t)(ca.ExpiredServer("127.0.0.1"))
	notYet := must[*certs.Cert](t)(ca.NotYetValidServer("127.0.0.1"))

	for _, tc := range []struct {
		name string
		cert *certs.Cert
		want string // DescribeTLSError; "" = the handshake succeeds
	}{
		{"trusted", must[*certs.Cert](t)(ca.Server("127.0.0.1", "localhost")), ""},
		{"unknown authority", must[*certs.Cert](t)(unknown.Server("127.0.0.1")),
			`certificate signed by unknown authority (issuer "CN=unknown CA,O=vbproxy test")`},
		{"name mismatch", must[*certs.Cert](t)(ca.Server("127.0.0.2")),
			"certificate is valid for 127.0.0.2, not 127.0.0.1"},
		{"no IP SAN", must[*certs.Cert](t)(ca.Server("db1.example.com")),
			"cannot validate certificate for 127.0.0.1 because it doesn't contain any IP SANs"},
		{"expired", expired,
			"certificate expired at " + expired.X509.NotAfter.UTC().Format(time.RFC3339)},
		{"not yet valid", notYet,
			"certificate not valid before " + notYet.X509.NotBefore.UTC().Format(time.RFC3339)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startTLSServer(t, serverConfig(tc.cert))
			st, err := dial(t, base, srv.addr)
			if got := DescribeTLSError(err); got != tc.want {
				t.Fatalf("DescribeTLSError(%v) = %q\nwant %q", err, got, tc.want)
			}
			if tc.want == "" && (st.ServerName != "127.0.0.1" && st.ServerName != "") {
				t.Fatalf("ServerName %q", st.ServerName)
			}
		})
	}
}

func TestClusterTLSServerNameOverride(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t, "test CA")
	caFile := writeCAFile(t, dir, ca)
	srv := startTLSServer(t, serverConfig(must[*certs.Cert](t)(ca.Server("cb.example.com"))))

	right, err := BuildClusterTLS(ClusterTLS{Enabled: true, CAFile: caFile, ServerName: "cb.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dial(t, right, srv.addr); err != nil {
		t.Fatalf("server_name cb.example.com: %v", err)
	}
	wrong, err := BuildClusterTLS(ClusterTLS{Enabled: true, CAFile: caFile, ServerName: "other.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = dial(t, wrong, srv.addr)
	if got, want := DescribeTLSError(err), "certificate is valid for cb.example.com, not other.example.com"; got != want {
		t.Fatalf("DescribeTLSError = %q, want %q", got, want)
	}
}

func TestClusterTLSInsecureSkipVerify(t *testing.T) {
	srv := startTLSServer(t, serverConfig(must[*certs.Cert](t)(newCA(t, "unknown CA").Server("wrong.invalid"))))
	base, err := BuildClusterTLS(ClusterTLS{Enabled: true, InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dial(t, base, srv.addr); err != nil {
		t.Fatalf("insecure_skip_verify: %v", err)
	}
}

func TestClusterTLSClientCert(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t, "test CA")
	caFile := writeCAFile(t, dir, ca)
	cfg := serverConfig(must[*certs.Cert](t)(ca.Server("127.0.0.1")))
	cfg.ClientAuth = tls.RequireAndVerifyClientCert
	cfg.ClientCAs = ca.Pool()
	cfg.SessionTicketsDisabled = true // every handshake presents the certificate
	srv := startTLSServer(t, cfg)

	t.Run("missing", func(t *testing.T) {
		base, err := BuildClusterTLS(ClusterTLS{Enabled: true, CAFile: caFile})
		if err != nil {
			t.Fatal(err)
		}
		_, err = dial(t, base, srv.addr)
		if got, want := DescribeTLSError(err), "peer refused the handshake: certificate required"; got != want {
			t.Fatalf("DescribeTLSError(%v) = %q, want %q", err, got, want)
		}
	})

	first := must[*certs.Cert](t)(ca.Client("Administrator"))
	certFile, keyFile := must2(t)(first.WriteFiles(dir, "client"))
	base, err := BuildClusterTLS(ClusterTLS{Enabled: true, CAFile: caFile, ClientCertFile: certFile, ClientKeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	presented := func() string {
		t.Helper()
		if _, err := dial(t, base, srv.addr); err != nil {
			t.Fatalf("dial: %v", err)
		}
		st := <-srv.peers
		if len(st.PeerCertificates) == 0 {
			t.Fatal("server saw no client certificate")
		}
		return st.PeerCertificates[0].SerialNumber.String()
	}
	if got, want := presented(), first.X509.SerialNumber.String(); got != want {
		t.Fatalf("presented serial %s, want %s", got, want)
	}

	// A rotation (written by rename, as cert-manager's kubelet does) is
	// presented once ClientCertCheckInterval has passed.
	second := must[*certs.Cert](t)(ca.Client("Administrator"))
	must2(t)(second.WriteFiles(dir, "client"))
	time.Sleep(ClientCertCheckInterval + 100*time.Millisecond)
	if got, want := presented(), second.X509.SerialNumber.String(); got != want {
		t.Fatalf("after rotation: presented serial %s, want %s", got, want)
	}

	// A bad new pair (the key of another certificate) keeps the last good one.
	third := must[*certs.Cert](t)(ca.Client("Administrator"))
	if err := os.WriteFile(certFile, third.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(ClientCertCheckInterval + 100*time.Millisecond)
	if got, want := presented(), second.X509.SerialNumber.String(); got != want {
		t.Fatalf("after a bad rotation: presented serial %s, want the previous %s", got, want)
	}
}

func TestClusterTLSResumption(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t, "test CA")
	caFile := writeCAFile(t, dir, ca)
	srvCert := must[*certs.Cert](t)(ca.Server("127.0.0.1"))
	a := startTLSServer(t, serverConfig(srvCert))
	b := startTLSServer(t, serverConfig(srvCert))
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(v), func(t *testing.T) {
			base, err := BuildClusterTLS(ClusterTLS{Enabled: true, CAFile: caFile, MinVersion: v})
			if err != nil {
				t.Fatal(err)
			}
			base.MaxVersion = v
			for i, want := range []bool{false, true, true} {
				st, err := dial(t, base, a.addr)
				if err != nil {
					t.Fatal(err)
				}
				if st.DidResume != want {
					t.Fatalf("dial %d to a: DidResume %v, want %v", i+1, st.DidResume, want)
				}
			}
			st, err := dial(t, base, b.addr)
			if err != nil {
				t.Fatal(err)
			}
			if st.DidResume {
				t.Fatal("first dial to b resumed a's session")
			}
		})
	}
}

// The session cache is scoped by the dialled address: with a server_name
// override every node has the same name, and a ticket must still only be
// offered to the node that issued it.
func TestForAddrScopesSessionCache(t *testing.T) {
	base, err := BuildClusterTLS(ClusterTLS{Enabled: true, ServerName: "cb.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	a, b := ForAddr(base, "127.0.0.11:11207"), ForAddr(base, "127.0.0.12:11207")
	a.ClientSessionCache.Put("cb.example.com", &tls.ClientSessionState{})
	if _, ok := b.ClientSessionCache.Get("cb.example.com"); ok {
		t.Fatal("node b sees node a's session")
	}
	if _, ok := ForAddr(base, "127.0.0.11:11207").ClientSessionCache.Get("cb.example.com"); !ok {
		t.Fatal("a new config for node a does not see its session")
	}
}

func TestParseVersion(t *testing.T) {
	for in, want := range map[string]uint16{"": tls.VersionTLS12, "1.2": tls.VersionTLS12, "1.3": tls.VersionTLS13} {
		if got, err := ParseVersion(in); got != want || err != nil {
			t.Errorf("ParseVersion(%q) = %x, %v; want %x", in, got, err, want)
		}
	}
	for in, want := range map[string]string{
		"1.1":    "TLS 1.1 is not supported (RFC 8996 deprecates it): use 1.2 or 1.3",
		"tls1.3": `unknown TLS version "tls1.3": use 1.2 or 1.3`,
	} {
		if _, err := ParseVersion(in); err == nil || err.Error() != want {
			t.Errorf("ParseVersion(%q) err = %v, want %s", in, err, want)
		}
	}
}

func TestParseCertPool(t *testing.T) {
	first, second := newCA(t, "test CA"), newCA(t, "second CA")
	bundle := append([]byte("# comment\n-----BEGIN COMMENT-----\naGk=\n-----END COMMENT-----\n"), first.CertPEM()...)
	bundle = append(bundle, second.CertPEM()...)
	pool, err := ParseCertPool(bundle, "bundle.pem")
	if err != nil {
		t.Fatal(err)
	}
	for _, ca := range []*certs.CA{first, second} {
		leaf := must[*certs.Cert](t)(ca.Server("127.0.0.1")).X509
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool}); err != nil {
			t.Errorf("certificate of %s does not verify against the bundle: %v", ca.Certificate().Subject, err)
		}
	}
	bad := []byte("-----BEGIN CERTIFICATE-----\naGk=\n-----END CERTIFICATE-----\n")
	if _, err := ParseCertPool(bad, "bad.pem"); err == nil || !strings.HasPrefix(err.Error(), "bad.pem: certificate 1: x509: ") {
		t.Fatalf("bad certificate: err = %v", err)
	}
}
