package certs

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func newCA(t *testing.T, name string) *CA {
	t.Helper()
	ca, err := NewCA(name)
	if err != nil {
		t.Fatalf("NewCA: %v", err)
	}
	return ca
}

// mustIssue returns a function that unwraps an issuing call, failing t on
// error: must := mustIssue(t); cert := must(ca.Server("h")).
func mustIssue(t *testing.T) func(*Cert, error) *Cert {
	return func(c *Cert, err error) *Cert {
		t.Helper()
		if err != nil {
			t.Fatalf("issue: %v", err)
		}
		return c
	}
}

func verifyServer(c *Cert, pool *x509.CertPool, host string) error {
	_, err := c.X509.Verify(x509.VerifyOptions{Roots: pool, DNSName: host})
	return err
}

func TestServerCertificateVerifies(t *testing.T) {
	ca := newCA(t, "test CA")
	must := mustIssue(t)
	srv := must(ca.Server("127.0.0.11", "::1", "node1.cb.local"))
	for _, host := range []string{"127.0.0.11", "::1", "node1.cb.local"} {
		if err := verifyServer(srv, ca.Pool(), host); err != nil {
			t.Errorf("verify for %s: %v", host, err)
		}
	}
	if got := srv.X509.Subject.CommonName; got != "127.0.0.11" {
		t.Errorf("CN = %q, want 127.0.0.11", got)
	}
	if got, want := len(srv.X509.IPAddresses), 2; got != want {
		t.Errorf("IP SANs = %v, want %d", srv.X509.IPAddresses, want)
	}
	if got := srv.X509.DNSNames; len(got) != 1 || got[0] != "node1.cb.local" {
		t.Errorf("DNS SANs = %v, want [node1.cb.local]", got)
	}
	if !ca.Certificate().IsCA || ca.Certificate().Subject.CommonName != "test CA" {
		t.Errorf("CA certificate: IsCA=%v CN=%q", ca.Certificate().IsCA, ca.Certificate().Subject.CommonName)
	}
}

// Each broken variant fails verification with the error type a TLS client
// reports for it.
func TestBrokenVariantsFail(t *testing.T) {
	ca := newCA(t, "test CA")
	must := mustIssue(t)
	other := newCA(t, "unknown CA")
	tests := []struct {
		name  string
		cert  *Cert
		check func(error) bool
	}{
		{"expired", must(ca.ExpiredServer("127.0.0.1")), func(err error) bool {
			var e x509.CertificateInvalidError
			return errors.As(err, &e) && e.Reason == x509.Expired
		}},
		{"not yet valid", must(ca.NotYetValidServer("127.0.0.1")), func(err error) bool {
			var e x509.CertificateInvalidError
			return errors.As(err, &e) && e.Reason == x509.Expired
		}},
		{"wrong hostname", must(ca.Server("wrong.invalid")), func(err error) bool {
			var e x509.HostnameError
			return errors.As(err, &e)
		}},
		{"unknown CA", must(other.Server("127.0.0.1")), func(err error) bool {
			var e x509.UnknownAuthorityError
			return errors.As(err, &e)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := verifyServer(tt.cert, ca.Pool(), "127.0.0.1")
			if err == nil || !tt.check(err) {
				t.Fatalf("verify: %v (%T), want the %s error", err, err, tt.name)
			}
		})
	}
	if e := must(ca.ExpiredServer("h")); !e.X509.NotAfter.Before(time.Now()) {
		t.Errorf("expired NotAfter %s is not in the past", e.X509.NotAfter)
	}
	if e := must(ca.NotYetValidServer("h")); !e.X509.NotBefore.After(time.Now()) {
		t.Errorf("not-yet-valid NotBefore %s is not in the future", e.X509.NotBefore)
	}
}

func TestClientCertificate(t *testing.T) {
	ca := newCA(t, "test CA")
	must := mustIssue(t)
	cli := must(ca.Client("Administrator"))
	if cli.X509.Subject.CommonName != "Administrator" {
		t.Errorf("CN = %q, want Administrator", cli.X509.Subject.CommonName)
	}
	if _, err := cli.X509.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("verify as client: %v", err)
	}
	// A client certificate is not a server certificate.
	_, err := cli.X509.Verify(x509.VerifyOptions{Roots: ca.Pool()})
	var inv x509.CertificateInvalidError
	if !errors.As(err, &inv) || inv.Reason != x509.IncompatibleUsage {
		t.Errorf("verify as server: %v, want IncompatibleUsage", err)
	}
	sans := must(ca.Issue(Options{CommonName: "ignored", Client: true,
		Hosts: []string{"app.example"}, Emails: []string{"app@example.com"}, URIs: []string{"couchbase://app@cluster/bucket"}}))
	if len(sans.X509.DNSNames) != 1 || len(sans.X509.EmailAddresses) != 1 || len(sans.X509.URIs) != 1 ||
		sans.X509.URIs[0].User.Username() != "app" {
		t.Errorf("SANs: dns %v email %v uri %v", sans.X509.DNSNames, sans.X509.EmailAddresses, sans.X509.URIs)
	}
	if _, err := ca.Issue(Options{URIs: []string{"%zz"}}); err == nil {
		t.Error("Issue with a malformed URI: no error")
	}
	now := time.Now()
	if _, err := ca.Issue(Options{NotBefore: now, NotAfter: now}); err == nil {
		t.Error("Issue with NotAfter == NotBefore: no error")
	}
}

func TestWriteFilesAndLoad(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t, "test CA")
	must := mustIssue(t)
	caCert, caKey, err := ca.WriteFiles(dir, "ca")
	if err != nil {
		t.Fatal(err)
	}
	if caCert != filepath.Join(dir, "ca.pem") || caKey != filepath.Join(dir, "ca-key.pem") {
		t.Errorf("paths %s %s", caCert, caKey)
	}
	if fi, err := os.Stat(caKey); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode: %v %v, want 0600", fi.Mode(), err)
	}
	if data, err := os.ReadFile(caCert); err != nil || !bytes.Equal(data, ca.CertPEM()) {
		t.Errorf("ca.pem differs from CertPEM (%v)", err)
	}
	srv := must(ca.Server("127.0.0.1"))
	certFile, keyFile, err := srv.WriteFiles(dir, "server")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tls.LoadX509KeyPair(certFile, keyFile); err != nil {
		t.Errorf("LoadX509KeyPair: %v", err)
	}
	// Rewriting replaces the files (no temporary file is left behind).
	if _, _, err := must(ca.Server("127.0.0.1")).WriteFiles(dir, "server"); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 4 {
		t.Errorf("dir has %d entries, want 4 (ca, ca-key, server, server-key)", len(entries))
	}

	loaded, err := LoadCA(caCert, caKey)
	if err != nil {
		t.Fatalf("LoadCA: %v", err)
	}
	issued := must(loaded.Server("127.0.0.1"))
	if err := verifyServer(issued, ca.Pool(), "127.0.0.1"); err != nil {
		t.Errorf("certificate from the loaded CA does not verify against the original: %v", err)
	}
	if _, err := LoadCA(certFile, keyFile); err == nil {
		t.Error("LoadCA of a server certificate: no error")
	}
	if _, err := LoadCA(caCert, keyFile); err == nil {
		t.Error("LoadCA with a key of another certificate: no error")
	}
	if _, err := LoadCA(filepath.Join(dir, "missing.pem"), caKey); err == nil {
		t.Error("LoadCA of a missing file: no error")
	}
}

// A real handshake on loopback: a server certificate from the CA and a
// client certificate the server verifies.
func TestHandshakeOverLoopback(t *testing.T) {
	ca := newCA(t, "test CA")
	must := mustIssue(t)
	srv := must(ca.Server("127.0.0.1"))
	cli := must(ca.Client("app"))
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{srv.TLSCertificate()},
		ClientCAs:    ca.Pool(),
		ClientAuth:   tls.RequireAndVerifyClientCert,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer := make(chan string, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			peer <- err.Error()
			return
		}
		defer conn.Close()
		tc := conn.(*tls.Conn)
		if err := tc.Handshake(); err != nil {
			peer <- err.Error()
			return
		}
		peer <- tc.ConnectionState().PeerCertificates[0].Subject.CommonName
		_, _ = io.Copy(io.Discard, conn)
	}()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ln.Addr().String(), &tls.Config{
		RootCAs:      ca.Pool(),
		Certificates: []tls.Certificate{cli.TLSCertificate()},
	})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	select {
	case got := <-peer:
		if got != "app" {
			t.Errorf("server saw client %q, want app", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no handshake on the server side")
	}
}
