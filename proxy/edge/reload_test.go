package edge

import (
	"crypto/tls"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/internal/certs"
)

// servedSerial completes a handshake and returns the serial (hex) of the
// certificate the listener presented.
func servedSerial(t *testing.T, p *pki, addr string) (string, error) {
	t.Helper()
	tc, err := tlsDial(t, untrustedIP, addr, p.clientConfig(), nil)
	if err != nil {
		return "", err
	}
	defer tc.Close()
	return tc.ConnectionState().PeerCertificates[0].SerialNumber.Text(16), nil
}

// drain consumes Admit outcomes in the background, counting refusals.
func drain(l *listener) (refused func() int) {
	var mu sync.Mutex
	n := 0
	go func() {
		for r := range l.results {
			if r.err != nil {
				mu.Lock()
				n++
				mu.Unlock()
			}
		}
	}()
	return func() int { mu.Lock(); defer mu.Unlock(); return n }
}

// Rotating the certificate (a Kubernetes Secret's ..data swap) while
// clients keep connecting: no handshake fails, each client sees the new
// serial from some point on and never the old one after it, and a
// connection made before the rotation keeps working.
func TestRotationUnderConcurrentHandshakes(t *testing.T) {
	p := newPKI(t)
	o := p.tlsOptions()
	o.ReloadInterval = 20 * time.Millisecond
	e := newEdge(t, Options{TLS: o})
	l := serve(t, e)
	first, _ := e.CertState()

	held, err := tlsDial(t, untrustedIP, l.addr, p.clientConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	heldAdmitted := l.admitted(t)
	refused := drain(l)

	next := p.server(t)
	newSerial := next.X509.SerialNumber.Text(16)
	const clients = 4
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		failures []error
		rotated  = make(chan struct{})
	)
	fail := func(err error) { mu.Lock(); failures = append(failures, err); mu.Unlock() }
	deadline := time.Now().Add(10 * time.Second)
	for range clients {
		wg.Go(func() {
			sawNew := false
			for n := 0; n < 2000 && time.Now().Before(deadline); n++ {
				serial, err := servedSerial(t, p, l.addr)
				switch {
				case err != nil:
					fail(err)
					return
				case serial == newSerial:
					sawNew = true
				case serial != first.Serial:
					fail(errors.New("served an unknown serial " + serial))
					return
				case sawNew:
					fail(errors.New("old serial served after the new one"))
					return
				}
				select {
				case <-rotated:
					if sawNew {
						return
					}
				default:
				}
			}
			if !sawNew {
				fail(errors.New("never saw the new serial"))
			}
		})
	}
	time.Sleep(100 * time.Millisecond) // handshakes under way with the first pair
	p.publish(t, next.CertPEM, next.KeyPEM, p.ca.CertPEM())
	close(rotated)
	wg.Wait()

	for _, err := range failures {
		t.Error(err)
	}
	if n := refused(); n != 0 {
		t.Errorf("%d connections refused during the rotation", n)
	}
	st, _ := e.CertState()
	if st.Serial != newSerial || st.Reloads != 1 || st.ReloadErrors != 0 || st.LastError != "" {
		t.Errorf("CertState %+v, want serial %s after one reload", st, newSerial)
	}
	if !st.NotAfter.Equal(next.X509.NotAfter) {
		t.Errorf("NotAfter %s, want %s", st.NotAfter, next.X509.NotAfter)
	}
	exchange(t, held, heldAdmitted) // the connection from before the rotation
}

func TestRotationBadPairKeepsOld(t *testing.T) {
	p := newPKI(t)
	o := p.tlsOptions()
	o.ReloadInterval = 20 * time.Millisecond
	e := newEdge(t, Options{TLS: o})
	l := serve(t, e)
	drain(l)
	first, _ := e.CertState()

	a, b := p.server(t), p.server(t)
	expired, err := p.ca.ExpiredServer("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct {
		name      string
		cert, key []byte
		err       string
	}{
		{"key of another certificate", a.CertPEM, b.KeyPEM, "private key does not match public key"},
		{"not PEM", []byte("garbage\n"), a.KeyPEM, "tls.cert_file: no certificates found in " + p.certFile},
		{"expired", expired.CertPEM, expired.KeyPEM, "tls.cert_file: new certificate expired at " + expired.X509.NotAfter.UTC().Format(time.RFC3339)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p.publish(t, tc.cert, tc.key, p.ca.CertPEM())
			waitFor(t, "the reload error", func() bool { st, _ := e.CertState(); return st.ReloadErrors == uint64(i+1) })
			st, _ := e.CertState()
			if !strings.Contains(st.LastError, tc.err) || st.LastErrorAt.IsZero() || st.Serial != first.Serial || st.Reloads != 0 {
				t.Fatalf("CertState %+v, want LastError containing %q and the first serial %s", st, tc.err, first.Serial)
			}
			serial, err := servedSerial(t, p, l.addr)
			if err != nil || serial != first.Serial {
				t.Fatalf("served %s, %v; want the previous serial %s", serial, err, first.Serial)
			}
			// The bad files are not retried every interval.
			time.Sleep(100 * time.Millisecond)
			if st, _ := e.CertState(); st.ReloadErrors != uint64(i+1) {
				t.Fatalf("ReloadErrors %d after waiting, want %d", st.ReloadErrors, i+1)
			}
		})
	}

	// A good pair then loads and clears the error.
	p.publish(t, a.CertPEM, a.KeyPEM, p.ca.CertPEM())
	waitFor(t, "the reload", func() bool { st, _ := e.CertState(); return st.Reloads == 1 })
	st, _ := e.CertState()
	if st.LastError != "" || st.Serial != a.X509.SerialNumber.Text(16) {
		t.Fatalf("CertState %+v after a good pair", st)
	}
	if serial, err := servedSerial(t, p, l.addr); err != nil || serial != st.Serial {
		t.Fatalf("served %s, %v; want %s", serial, err, st.Serial)
	}
}

// The client CA bundle is reloaded with the pair.
func TestRotationClientCA(t *testing.T) {
	p := newPKI(t)
	o := p.tlsOptions()
	o.ClientCAFile, o.ClientAuth = p.caFile, "require"
	o.ReloadInterval = 20 * time.Millisecond
	e := newEdge(t, Options{TLS: o})
	l := serve(t, e)
	newCA, err := certs.NewCA("new client CA")
	if err != nil {
		t.Fatal(err)
	}
	oldClient := clientCert(t, p.ca, certs.Options{CommonName: "app"})
	newClient := clientCert(t, newCA, certs.Options{CommonName: "app"})
	try := func(c tls.Certificate) error {
		cfg := p.clientConfig()
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &c, nil }
		tc, err := tlsDial(t, untrustedIP, l.addr, cfg, nil)
		if err == nil {
			_ = tc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			_, err = tc.Read(make([]byte, 1)) // TLS 1.3: a refused certificate shows here
			if isTimeout(err) {
				err = nil
			}
		}
		l.next(t)
		return err
	}
	if err := try(oldClient); err != nil {
		t.Fatalf("client of the old CA before the rotation: %v", err)
	}
	if err := try(newClient); err == nil {
		t.Fatal("client of the new CA accepted before the rotation")
	}
	srv := p.server(t)
	p.publish(t, srv.CertPEM, srv.KeyPEM, newCA.CertPEM())
	waitFor(t, "the reload", func() bool { st, _ := e.CertState(); return st.Reloads == 1 })
	if err := try(newClient); err != nil {
		t.Fatalf("client of the new CA after the rotation: %v", err)
	}
	if err := try(oldClient); err == nil {
		t.Fatal("client of the old CA accepted after the rotation")
	}
}

// With the watcher off (ReloadInterval < 0), ReloadCertificates reloads.
func TestReloadCertificates(t *testing.T) {
	p := newPKI(t)
	o := p.tlsOptions()
	o.ReloadInterval = -1
	e := newEdge(t, Options{TLS: o})
	l := serve(t, e)
	drain(l)
	first, _ := e.CertState()
	next := p.server(t)
	p.publish(t, next.CertPEM, next.KeyPEM, p.ca.CertPEM())
	time.Sleep(50 * time.Millisecond)
	if serial, err := servedSerial(t, p, l.addr); err != nil || serial != first.Serial {
		t.Fatalf("served %s, %v before ReloadCertificates; want %s", serial, err, first.Serial)
	}
	if err := e.ReloadCertificates(); err != nil {
		t.Fatal(err)
	}
	want := next.X509.SerialNumber.Text(16)
	if serial, err := servedSerial(t, p, l.addr); err != nil || serial != want {
		t.Fatalf("served %s, %v after ReloadCertificates; want %s", serial, err, want)
	}
	// In-place rewrite of the files (no symlink swap) is read as well.
	if err := os.WriteFile(p.keyFile, []byte("broken"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.ReloadCertificates(); err == nil || !strings.HasPrefix(err.Error(), "tls.cert_file: ") {
		t.Fatalf("ReloadCertificates with a broken key: %v", err)
	}
	if st, _ := e.CertState(); st.Serial != want || st.ReloadErrors != 1 {
		t.Fatalf("CertState %+v", st)
	}
	if _, ok := newEdge(t, Options{}).CertState(); ok {
		t.Fatal("a plain listener has a CertState")
	}
}
