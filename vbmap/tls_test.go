package vbmap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/vbproxy/vbproxy/internal/certs"
)

// An https seed implies TLS: the config is fetched over TLS, the node's KV
// address is its kvSSL port and the management URLs use https and mgmtSSL.
func TestSourceHTTPS(t *testing.T) {
	var port string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/pools/default/b/default" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, `{"rev":2,"name":"default","vBucketServerMap":{"serverList":["$HOST:11210"],"vBucketMap":[[0],[0]]},
			"nodesExt":[{"services":{"mgmt":1,"mgmtSSL":%s,"kv":11210,"kvSSL":11207},"thisNode":true}]}`, port)
	}))
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	port = u.Port()
	o := fastOptions("default", srv.URL)
	o.HTTPClient = srv.Client()
	src := newTestSource(t, o)
	if _, _, err := src.Refresh(context.Background()); err != nil {
		t.Fatalf("Refresh over https: %v", err)
	}
	if got, want := src.Current().MgmtURLs(), []string{srv.URL}; len(got) != 1 || got[0] != want[0] {
		t.Errorf("MgmtURLs = %v, want %v", got, want)
	}
	if got, want := src.Current().Nodes()[0], (Node{Addr: "127.0.0.1:11207", MgmtURL: srv.URL}); got != want {
		t.Errorf("node 0 = %+v, want %+v", got, want)
	}
	// A NOT_MY_VBUCKET body is parsed with TLS too.
	applied, err := src.Offer([]byte(`{"rev":3,"name":"default","vBucketServerMap":{"serverList":["$HOST:11210"],"vBucketMap":[[0],[0]]},
		"nodesExt":[{"services":{"mgmt":8091,"mgmtSSL":18091,"kv":11210,"kvSSL":11207},"thisNode":true}]}`), "127.0.0.2:11207")
	if err != nil || !applied {
		t.Fatalf("Offer: %v, %v; want applied", applied, err)
	}
	if got, want := src.Current().Nodes()[0], (Node{Addr: "127.0.0.2:11207", MgmtURL: "https://127.0.0.2:18091"}); got != want {
		t.Errorf("after Offer: node 0 = %+v, want %+v", got, want)
	}
}

// tlsConfigServer serves one terse config over TLS with the given server
// certificate.
func tlsConfigServer(t *testing.T, cert *certs.Cert) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/pools/default/b/default" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, `{"rev":2,"name":"default","vBucketServerMap":{"serverList":["$HOST:11210"],"vBucketMap":[[0]]},
			"nodesExt":[{"services":{"mgmt":8091,"mgmtSSL":18091,"kv":11210,"kvSSL":11207},"thisNode":true}]}`)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert.TLSCertificate()}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// SourceOptions.TLSConfig configures the default client: a certificate
// from the trusted CA works; one from an unknown CA, for another host or
// expired is ErrCertificate with the x509 reason, never ErrUnreachable.
func TestSourceTLSConfig(t *testing.T) {
	ca, err := certs.NewCA("cluster CA")
	if err != nil {
		t.Fatal(err)
	}
	other, err := certs.NewCA("unknown CA")
	if err != nil {
		t.Fatal(err)
	}
	issue := func(c *certs.Cert, err error) *certs.Cert {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	tests := []struct {
		name    string
		cert    *certs.Cert
		wantErr string // "" = success
		check   func(error) bool
	}{
		{"trusted", issue(ca.Server("127.0.0.1")), "", nil},
		{"unknown CA", issue(other.Server("127.0.0.1")), "x509: certificate signed by unknown authority", func(err error) bool {
			var e x509.UnknownAuthorityError
			return errors.As(err, &e)
		}},
		{"wrong host", issue(ca.Server("127.0.0.2", "db.example.com")), "x509: certificate is valid for 127.0.0.2, not 127.0.0.1", nil},
		{"expired", issue(ca.ExpiredServer("127.0.0.1")), "x509: certificate has expired or is not yet valid", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := tlsConfigServer(t, tt.cert)
			o := fastOptions("default", srv.URL)
			o.TLSConfig = &tls.Config{RootCAs: ca.Pool()}
			src := newTestSource(t, o)
			_, _, err := src.Refresh(context.Background())
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Refresh: %v", err)
				}
				if got := src.Current().Nodes()[0].Addr; got != "127.0.0.1:11207" {
					t.Errorf("node 0 Addr = %s, want 127.0.0.1:11207", got)
				}
				return
			}
			if err == nil {
				t.Fatal("Refresh succeeded, want a certificate error")
			}
			if !errors.Is(err, ErrCertificate) || errors.Is(err, ErrUnreachable) {
				t.Errorf("error %q: errors.Is ErrCertificate %v, ErrUnreachable %v; want true, false",
					err, errors.Is(err, ErrCertificate), errors.Is(err, ErrUnreachable))
			}
			if !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "vbmap: cluster manager's TLS certificate rejected") {
				t.Errorf("error %q does not say %q", err, tt.wantErr)
			}
			if tt.check != nil && !tt.check(err) {
				t.Errorf("error %q: the x509 error is not in the chain", err)
			}
		})
	}
}
