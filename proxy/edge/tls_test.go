package edge

import (
	"crypto/tls"
	"crypto/x509"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/internal/certs"
)

func TestTLSAdmit(t *testing.T) {
	p := newPKI(t)
	e := newEdge(t, Options{TLS: p.tlsOptions()})
	l := serve(t, e)
	tc, err := tlsDial(t, untrustedIP, l.addr, p.clientConfig(), nil)
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	a := l.admitted(t)
	if _, ok := a.Conn.(*tls.Conn); !ok {
		t.Fatalf("Conn is %T, want *tls.Conn", a.Conn)
	}
	if a.TLS == nil || a.TLS.Version != tls.VersionTLS13 || !a.TLS.HandshakeComplete {
		t.Fatalf("TLS state %+v", a.TLS)
	}
	if a.Remote.String() != tc.LocalAddr().String() || a.User != "" || a.Buffered != nil {
		t.Fatalf("Remote %s User %q Buffered %q", a.Remote, a.User, a.Buffered)
	}
	exchange(t, tc, a)
	if st := e.Stats(); st.Admitted != 1 || st.Handshaking != 0 || st.Admitting != 0 {
		t.Fatalf("Stats %+v", st)
	}
}

// The PROXY header comes before the ClientHello, as load balancers send
// it: in the same segment (its tail is the start of the handshake) or in
// its own.
func TestTLSAfterProxyHeader(t *testing.T) {
	p := newPKI(t)
	e := newEdge(t, Options{ProxyProtocol: ProxyRequired, TrustedCIDRs: trustedCIDRs, TLS: p.tlsOptions()})
	l := serve(t, e)
	header := v2(cmdProxy, famTCP4, addr4("198.18.0.7", "198.18.0.1", 51234, 11207), tlv(0x01, []byte("memcached")))

	tc, err := tlsDial(t, trustedIP, l.addr, p.clientConfig(), header)
	if err != nil {
		t.Fatalf("handshake after a header in the same segment: %v", err)
	}
	a := l.admitted(t)
	if a.Remote.String() != "198.18.0.7:51234" || a.Local.String() != "198.18.0.1:11207" || a.TLS == nil {
		t.Fatalf("Remote %s Local %s TLS %v", a.Remote, a.Local, a.TLS != nil)
	}
	if len(a.TLVs) != 1 || string(a.TLVs[0].Value) != "memcached" {
		t.Fatalf("TLVs %q", a.TLVs)
	}
	exchange(t, tc, a)

	c := send(t, trustedIP, l.addr, []byte("PROXY TCP4 198.18.0.8 198.18.0.1 40000 11207\r\n"))
	time.Sleep(50 * time.Millisecond)
	tc = tls.Client(c, p.clientConfig())
	_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
	if err := tc.Handshake(); err != nil {
		t.Fatalf("handshake after a header in its own segment: %v", err)
	}
	a = l.admitted(t)
	if a.Remote.String() != "198.18.0.8:40000" {
		t.Fatalf("Remote %s", a.Remote)
	}
	exchange(t, tc, a)

	// A TLS client that sends no header is refused (required).
	if _, err := tlsDial(t, trustedIP, l.addr, p.clientConfig(), nil); err == nil {
		t.Fatal("handshake without a header succeeded")
	}
	l.refused(t, ReasonNoHeader)
}

func TestTLSHandshakeTimeout(t *testing.T) {
	p := newPKI(t)
	e := newEdge(t, Options{TLS: p.tlsOptions(), HandshakeTimeout: 300 * time.Millisecond})
	l := serve(t, e)
	for _, tc := range []struct {
		name string
		sent []byte
	}{
		{"nothing sent", nil},
		{"part of a ClientHello", []byte{0x16, 0x03, 0x01, 0x00, 0xf0, 0x01}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.Stats().Refused[ReasonHandshakeTimeout]
			c := dialFrom(t, untrustedIP, l.addr)
			if tc.sent != nil {
				if _, err := c.Write(tc.sent); err != nil {
					t.Fatal(err)
				}
			}
			waitFor(t, "Handshaking 1", func() bool { st := e.Stats(); return st.Handshaking == 1 && st.Admitting == 1 })
			start := time.Now()
			re := l.refused(t, ReasonHandshakeTimeout)
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("refused after %s, want about 300ms", d)
			}
			if want := "TLS handshake not complete within handshake_timeout 300ms"; re.Err.Error() != want {
				t.Fatalf("err %q, want %q", re.Err, want)
			}
			if st := e.Stats(); st.Handshaking != 0 || st.Admitting != 0 || st.Refused[ReasonHandshakeTimeout] != before+1 {
				t.Fatalf("Stats %+v", st)
			}
		})
	}
}

func TestTLSRefused(t *testing.T) {
	p := newPKI(t)
	e := newEdge(t, Options{TLS: p.tlsOptions()})
	l := serve(t, e)

	send(t, untrustedIP, l.addr, []byte("get k\r\n"))
	re := l.refused(t, ReasonHandshake)
	if !strings.HasPrefix(re.Err.Error(), "peer did not answer with TLS (a plain-text port?)") {
		t.Fatalf("plain text: err %q", re.Err)
	}

	c := dialFrom(t, untrustedIP, l.addr)
	c.Close()
	l.refused(t, ReasonClosed)

	old := p.clientConfig()
	old.MinVersion, old.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	if _, err := tlsDial(t, untrustedIP, l.addr, old, nil); err == nil {
		t.Fatal("TLS 1.1 handshake succeeded")
	}
	re = l.refused(t, ReasonHandshake)
	if !strings.Contains(re.Err.Error(), "client offered only unsupported versions") {
		t.Fatalf("TLS 1.1: err %q", re.Err)
	}

	untrusting := &tls.Config{ServerName: "127.0.0.1", RootCAs: x509.NewCertPool()}
	if _, err := tlsDial(t, untrustedIP, l.addr, untrusting, nil); err == nil {
		t.Fatal("a client that does not trust the CA completed the handshake")
	}
	re = l.refused(t, ReasonHandshake)
	if !strings.Contains(re.Err.Error(), "bad certificate") {
		t.Fatalf("client refusing the certificate: err %q", re.Err)
	}
}

func TestTLSMinVersion13(t *testing.T) {
	p := newPKI(t)
	o := p.tlsOptions()
	o.MinVersion = tls.VersionTLS13
	l := serve(t, newEdge(t, Options{TLS: o}))
	cfg := p.clientConfig()
	cfg.MaxVersion = tls.VersionTLS12
	if _, err := tlsDial(t, untrustedIP, l.addr, cfg, nil); err == nil {
		t.Fatal("TLS 1.2 handshake succeeded with min_version 1.3")
	}
	l.refused(t, ReasonHandshake)
}

func TestMutualTLS(t *testing.T) {
	p := newPKI(t)
	other, err := certs.NewCA("other CA")
	if err != nil {
		t.Fatal(err)
	}
	users := []CertUser{{Match: "cn:app", User: "app"}, {Match: "uri:spiffe://cluster.local/ns/web/sa/api", User: "api"}}
	withCert := func(c tls.Certificate) *tls.Config {
		cfg := p.clientConfig()
		cfg.Certificates = []tls.Certificate{c}
		return cfg
	}
	app := withCert(clientCert(t, p.ca, certs.Options{CommonName: "app"}))
	api := withCert(clientCert(t, p.ca, certs.Options{CommonName: "pod-1", URIs: []string{"spiffe://cluster.local/ns/web/sa/api"}}))
	unmapped := withCert(clientCert(t, p.ca, certs.Options{CommonName: "nobody"}))
	// Go clients only send a certificate the server's CA list names: make
	// this one send it anyway.
	foreignCert := clientCert(t, other, certs.Options{CommonName: "app"})
	foreign := p.clientConfig()
	foreign.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &foreignCert, nil }

	t.Run("require", func(t *testing.T) {
		o := p.tlsOptions()
		o.ClientCAFile, o.ClientAuth, o.CertUsers = p.caFile, "require", users
		l := serve(t, newEdge(t, Options{TLS: o}))

		for cfg, want := range map[*tls.Config]string{app: "app", api: "api", unmapped: ""} {
			tc, err := tlsDial(t, untrustedIP, l.addr, cfg, nil)
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			a := l.admitted(t)
			if a.User != want || len(a.TLS.VerifiedChains) == 0 {
				t.Fatalf("User %q (verified chains %d), want %q", a.User, len(a.TLS.VerifiedChains), want)
			}
			exchange(t, tc, a)
		}

		// No certificate: TLS 1.3 clients learn it on their first read.
		tc, err := tlsDial(t, untrustedIP, l.addr, p.clientConfig(), nil)
		if err == nil {
			_, err = tc.Read(make([]byte, 1))
		}
		if err == nil || !strings.Contains(err.Error(), "certificate required") {
			t.Fatalf("client without a certificate: %v, want certificate required", err)
		}
		re := l.refused(t, ReasonHandshake)
		if !strings.Contains(re.Err.Error(), "client didn't provide a certificate") {
			t.Fatalf("err %q", re.Err)
		}

		tc, err = tlsDial(t, untrustedIP, l.addr, foreign, nil)
		if err == nil {
			_, err = tc.Read(make([]byte, 1))
		}
		if err == nil {
			t.Fatal("a certificate from another CA was accepted")
		}
		re = l.refused(t, ReasonHandshake)
		if !strings.Contains(re.Err.Error(), "certificate signed by unknown authority") {
			t.Fatalf("err %q", re.Err)
		}
	})

	t.Run("request", func(t *testing.T) {
		o := p.tlsOptions()
		o.ClientCAFile, o.ClientAuth, o.CertUsers = p.caFile, "request", users
		l := serve(t, newEdge(t, Options{TLS: o}))
		if _, err := tlsDial(t, untrustedIP, l.addr, p.clientConfig(), nil); err != nil {
			t.Fatalf("handshake without a certificate: %v", err)
		}
		if a := l.admitted(t); a.User != "" || len(a.TLS.PeerCertificates) != 0 {
			t.Fatalf("no certificate: User %q, %d peer certificates", a.User, len(a.TLS.PeerCertificates))
		}
		if _, err := tlsDial(t, untrustedIP, l.addr, app, nil); err != nil {
			t.Fatalf("handshake with a certificate: %v", err)
		}
		if a := l.admitted(t); a.User != "app" {
			t.Fatalf("with a certificate: User %q, want app", a.User)
		}
		// A certificate that is sent is verified.
		tc, err := tlsDial(t, untrustedIP, l.addr, foreign, nil)
		if err == nil {
			_, err = tc.Read(make([]byte, 1))
		}
		if err == nil {
			t.Fatal("a certificate from another CA was accepted")
		}
		l.refused(t, ReasonHandshake)
	})

	t.Run("UserFromCert", func(t *testing.T) {
		o := p.tlsOptions()
		o.ClientCAFile, o.ClientAuth = p.caFile, "require"
		o.UserFromCert = func(c *x509.Certificate) (string, bool) { return "u-" + c.Subject.CommonName, true }
		l := serve(t, newEdge(t, Options{TLS: o}))
		if _, err := tlsDial(t, untrustedIP, l.addr, unmapped, nil); err != nil {
			t.Fatal(err)
		}
		if a := l.admitted(t); a.User != "u-nobody" {
			t.Fatalf("User %q, want u-nobody", a.User)
		}
	})
}

func TestCertUsers(t *testing.T) {
	rules, err := compileCertUsers([]CertUser{
		{Match: "cn:app", User: "app"},
		{Match: "dns:Worker.Example.COM", User: "worker"},
		{Match: "email:ops@example.com", User: "ops"},
		{Match: "uri:spiffe://cluster.local/ns/web/sa/api", User: "api"},
		{Match: "cn:both", User: "first"},
		{Match: "cn:both", User: "second"},
	})
	if err != nil {
		t.Fatal(err)
	}
	userOf := userFromRules(rules)
	uri, _ := url.Parse("spiffe://cluster.local/ns/web/sa/api")
	for _, tc := range []struct {
		cert *x509.Certificate
		want string
	}{
		{&x509.Certificate{}, ""},
		{&x509.Certificate{DNSNames: []string{"other.example.com", "worker.example.com"}}, "worker"},
		{&x509.Certificate{EmailAddresses: []string{"ops@example.com"}}, "ops"},
		{&x509.Certificate{EmailAddresses: []string{"OPS@example.com"}}, ""},
		{&x509.Certificate{URIs: []*url.URL{uri}}, "api"},
		{certWithCN("app"), "app"},
		{certWithCN("App"), ""},
		{certWithCN("both"), "first"},
	} {
		got, ok := userOf(tc.cert)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("user of CN %q DNS %v email %v URIs %v = %q, %v; want %q",
				tc.cert.Subject.CommonName, tc.cert.DNSNames, tc.cert.EmailAddresses, tc.cert.URIs, got, ok, tc.want)
		}
	}
}

func certWithCN(cn string) *x509.Certificate {
	c := &x509.Certificate{}
	c.Subject.CommonName = cn
	return c
}
