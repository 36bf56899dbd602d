package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/internal/certs"
	"github.com/vbproxy/vbproxy/memcached"
	"github.com/vbproxy/vbproxy/sim"
)

// Client TLS on listeners (listeners[].tls) over real TLS on loopback.

// tlsListener is a TLS listener's configuration with a certificate for
// 127.0.0.1 from ca, written into dir.
func tlsListener(t *testing.T, ca *certs.CA, dir string) (ListenerConfig, *certs.Cert) {
	t.Helper()
	cert, certFile, keyFile := issue(t, ca, dir, "listener", certs.Options{CommonName: "vbproxy", Hosts: []string{"127.0.0.1"}})
	return ListenerConfig{Address: "127.0.0.1:0", Bucket: "default", TLS: ListenerTLSConfig{CertFile: certFile, KeyFile: keyFile}}, cert
}

func listenerMetric(t *testing.T, r *running, name string, i int, extra string) float64 {
	t.Helper()
	labels := `bucket="default",listener="` + r.addr(i) + `"`
	if extra != "" {
		labels += "," + extra
	}
	return scrape(t, r.admin, name, labels)
}

// TestTLSListenerBesidePlain: a TLS listener and a plain one serve the same
// bucket side by side over one proxy.Server; binary and text clients work
// over TLS; a client that does not speak TLS is refused and counted.
func TestTLSListenerBesidePlain(t *testing.T) {
	c := startSim(t, sim.Options{Nodes: 2})
	ca := newCA(t, "listener CA")
	tl, _ := tlsListener(t, ca, t.TempDir())
	cfg, sec := listenersConfig(t, c, nil, ListenerConfig{Address: "127.0.0.1:0", Bucket: "default"}, tl)
	r := startApp(t, cfg, sec)
	waitFor(t, "readyz 200", func() bool { code, _ := r.readyz(t); return code == 200 })
	if len(r.app.buckets) != 1 || len(r.app.buckets[0].lis) != 2 {
		t.Fatalf("got %d buckets, want 1 serving both listeners", len(r.app.buckets))
	}

	conn, err := dialTLS(t, r.addr(1), clientTLS(ca, nil))
	if err != nil {
		t.Fatalf("TLS dial: %v", err)
	}
	if v := conn.ConnectionState().Version; v < tls.VersionTLS12 {
		t.Errorf("negotiated %s, want TLS 1.2 or later", tls.VersionName(v))
	}
	bin := newMC(t, conn)
	if st := bin.set("over-tls", "binary"); st != memcached.StatusSuccess {
		t.Fatalf("binary SET over TLS: %s", st)
	}
	if st, v := bin.get("over-tls"); st != memcached.StatusSuccess || v != "binary" {
		t.Errorf("binary GET over TLS: %s %q, want SUCCESS \"binary\"", st, v)
	}

	conn2, err := dialTLS(t, r.addr(1), clientTLS(ca, nil))
	if err != nil {
		t.Fatalf("TLS dial: %v", err)
	}
	text := newText(t, conn2)
	if got := text.do("set text-tls 0 0 5\r\nhello\r\n"); got != "STORED\r\n" {
		t.Errorf("text set over TLS: %q, want STORED", got)
	}
	if got := text.do("get text-tls over-tls\r\n"); got != "VALUE text-tls 0 5\r\nhello\r\nVALUE over-tls 0 6\r\nbinary\r\nEND\r\n" {
		t.Errorf("text get over TLS: %q", got)
	}

	// The plain listener sees the same bucket.
	plain := dialMC(t, r.addr(0))
	if st, v := plain.get("text-tls"); st != memcached.StatusSuccess || v != "hello" {
		t.Errorf("plain GET of a key set over TLS: %s %q, want SUCCESS \"hello\"", st, v)
	}

	// A plain client on the TLS listener: refused, counted.
	raw := dialMC(t, r.addr(1))
	raw.buf = memcached.AppendRequest(raw.buf[:0], memcached.OpNoop, 0, 1, 0, nil, nil, nil)
	_ = raw.conn.SetDeadline(time.Now().Add(20 * time.Second))
	_, _ = raw.conn.Write(raw.buf)
	if _, err := io.ReadAll(raw.conn); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Logf("plain client on the TLS listener: %v", err)
	}
	waitFor(t, "the refusal counted", func() bool {
		return listenerMetric(t, r, "vbproxy_listener_connections_refused_total", 1, `reason="tls_handshake_failed"`) == 1
	})
	if got := listenerMetric(t, r, "vbproxy_listener_connections_admitted_total", 1, ""); got != 2 {
		t.Errorf("listener_connections_admitted_total of the TLS listener: %v, want 2", got)
	}
	if got := listenerMetric(t, r, "vbproxy_listener_connections_admitted_total", 0, ""); got != -1 {
		t.Errorf("listener_connections_admitted_total of the plain listener: %v, want no series (it has no edge)", got)
	}
	if st := r.app.buckets[0].srv.Stats(); st.ConnsTotal != 4 {
		t.Errorf("the bucket's one server accepted %d connections, want 4 (both listeners)", st.ConnsTotal)
	}
}

// TestTLSListenerMutualTLS: client_auth require refuses a client without a
// certificate, or with one from another CA, and serves one with a
// certificate from client_ca_file.
func TestTLSListenerMutualTLS(t *testing.T) {
	c := startSim(t, sim.Options{Nodes: 1})
	dir := t.TempDir()
	ca, clientCA := newCA(t, "server CA"), newCA(t, "client CA")
	tl, _ := tlsListener(t, ca, dir)
	tl.TLS.ClientAuth, tl.TLS.ClientCAFile = "require", writeCAFile(t, clientCA, dir, "client-ca")
	cfg, sec := listenersConfig(t, c, nil, tl)
	r := startApp(t, cfg, sec)
	waitFor(t, "readyz 200", func() bool { code, _ := r.readyz(t); return code == 200 })

	good, err := clientCA.Client("app")
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := newCA(t, "stranger").Client("app")
	if err != nil {
		t.Fatal(err)
	}
	refused := func(name string, client *certs.Cert) {
		t.Helper()
		conn, err := dialTLS(t, r.addr(0), clientTLS(ca, client))
		if err != nil {
			return // refused in the handshake (TLS 1.2)
		}
		// TLS 1.3: the server's refusal arrives with the first read.
		cl := newMC(t, conn)
		cl.buf = memcached.AppendRequest(cl.buf[:0], memcached.OpNoop, 0, 1, 0, nil, nil, nil)
		_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
		_, _ = conn.Write(cl.buf)
		var p memcached.Packet
		if err := cl.r.ReadResponse(&p); err == nil {
			t.Errorf("%s: got a %s reply, want the connection refused", name, p.Opcode)
		}
	}
	refused("no client certificate", nil)
	refused("a certificate from another CA", stranger)

	conn, err := dialTLS(t, r.addr(0), clientTLS(ca, good))
	if err != nil {
		t.Fatalf("with a client certificate: %v", err)
	}
	cl := newMC(t, conn)
	if st := cl.set("mtls", "ok"); st != memcached.StatusSuccess {
		t.Errorf("SET with a client certificate: %s, want SUCCESS", st)
	}
	waitFor(t, "both refusals counted", func() bool {
		return listenerMetric(t, r, "vbproxy_listener_connections_refused_total", 0, `reason="tls_handshake_failed"`) == 2
	})
}

// TestTLSCertUser: a verified client certificate that cert_users maps to a
// user authenticates the connection without SASL, for binary and text
// clients; a verified certificate that maps to no one still needs SASL.
func TestTLSCertUser(t *testing.T) {
	c := startSim(t, sim.Options{Nodes: 1})
	dir := t.TempDir()
	ca := newCA(t, "CA")
	tl, _ := tlsListener(t, ca, dir)
	tl.TLS.ClientAuth, tl.TLS.ClientCAFile = "request", writeCAFile(t, ca, dir, "ca")
	tl.TLS.CertUsers = []CertUserConfig{{Match: "cn:app", User: "app"}}
	tl.Users = []UserConfig{{Name: "app", PasswordEnv: "APP_PW"}, {Name: "ops", PasswordEnv: "OPS_PW"}}
	cfg, sec := listenersConfig(t, c, map[string]string{"APP_PW": "app-secret", "OPS_PW": "ops-secret"}, tl)
	r := startApp(t, cfg, sec)
	waitFor(t, "readyz 200", func() bool { code, _ := r.readyz(t); return code == 200 })

	app, err := ca.Client("app")
	if err != nil {
		t.Fatal(err)
	}
	nobody, err := ca.Client("nobody")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := dialTLS(t, r.addr(0), clientTLS(ca, app))
	if err != nil {
		t.Fatal(err)
	}
	bin := newMC(t, conn)
	if st := bin.set("cert-user", "v"); st != memcached.StatusSuccess {
		t.Errorf("SET as the certificate's user, without SASL: %s, want SUCCESS", st)
	}
	conn, err = dialTLS(t, r.addr(0), clientTLS(ca, app))
	if err != nil {
		t.Fatal(err)
	}
	if got := newText(t, conn).do("get cert-user\r\n"); got != "VALUE cert-user 0 1\r\nv\r\nEND\r\n" {
		t.Errorf("text get as the certificate's user: %q", got)
	}

	conn, err = dialTLS(t, r.addr(0), clientTLS(ca, nobody))
	if err != nil {
		t.Fatal(err)
	}
	other := newMC(t, conn)
	if st, _ := other.get("cert-user"); st != memcached.StatusAuthError {
		t.Errorf("GET with an unmapped certificate before SASL: %s, want AUTH_ERROR", st)
	}
	if st, _ := other.do(memcached.OpSASLAuth, nil, []byte("PLAIN"), []byte("\x00ops\x00ops-secret")); st != memcached.StatusSuccess {
		t.Fatalf("SASL PLAIN as ops: %s", st)
	}
	if st, v := other.get("cert-user"); st != memcached.StatusSuccess || v != "v" {
		t.Errorf("GET after SASL: %s %q, want SUCCESS \"v\"", st, v)
	}
}

// TestTLSListenerRotationUnderLoad: the listener's certificate and key are
// rewritten in place (as a rotated Secret) while clients work over
// long-lived and new TLS connections: no client sees an error, and new
// handshakes get the new certificate once the watcher has read it.
func TestTLSListenerRotationUnderLoad(t *testing.T) {
	c := startSim(t, sim.Options{Nodes: 2})
	dir := t.TempDir()
	ca := newCA(t, "CA")
	tl, oldCert := tlsListener(t, ca, dir)
	cfg, sec := listenersConfig(t, c, nil, tl)
	r := startApp(t, cfg, sec)
	waitFor(t, "readyz 200", func() bool { code, _ := r.readyz(t); return code == 200 })
	addr := r.addr(0)
	if got := leafOf(t, addr, ca.Pool()); got.SerialNumber.Cmp(oldCert.X509.SerialNumber) != 0 {
		t.Fatalf("serving serial %x, want the configured certificate's %x", got.SerialNumber, oldCert.X509.SerialNumber)
	}

	const workers = 8
	var (
		stop    atomic.Bool
		ops     atomic.Int64
		errsMu  sync.Mutex
		errs    []error
		wg      sync.WaitGroup
		failure = func(err error) {
			errsMu.Lock()
			errs = append(errs, err)
			errsMu.Unlock()
		}
	)
	for w := range workers {
		wg.Go(func() {
			for round := 0; !stop.Load(); round++ {
				// A new connection (a new handshake) every 20 requests.
				conn, err := dialTLS(t, addr, clientTLS(ca, nil))
				if err != nil {
					failure(err)
					return
				}
				cl := newMC(t, conn)
				for i := 0; i < 20 && !stop.Load(); i++ {
					k := keyN(w*100000 + round*20 + i)
					st, _, err := cl.try(memcached.OpSet, make([]byte, 8), []byte(k), []byte(k))
					if err != nil || st != memcached.StatusSuccess {
						failure(fmt.Errorf("SET %s: %v %v", k, st, err))
						return
					}
					st, v, err := cl.try(memcached.OpGet, nil, []byte(k), nil)
					if err != nil || st != memcached.StatusSuccess || string(v) != k {
						failure(fmt.Errorf("GET %s: %v %q %v", k, st, v, err))
						return
					}
					ops.Add(1)
				}
				conn.Close()
			}
		})
	}
	waitFor(t, "load running", func() bool { return ops.Load() > 200 })

	newCert, err := ca.Issue(certs.Options{CommonName: "vbproxy rotated", Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	// In place, the certificate first: between the two writes the pair does
	// not match, and the watcher must keep serving the old one.
	if err := os.WriteFile(tl.TLS.CertFile, newCert.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tl.TLS.KeyFile, newCert.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "new handshakes to get the rotated certificate", func() bool {
		return leafOf(t, addr, ca.Pool()).SerialNumber.Cmp(newCert.X509.SerialNumber) == 0
	})
	before := ops.Load()
	waitFor(t, "more load on the new certificate", func() bool { return ops.Load() > before+200 })
	stop.Store(true)
	wg.Wait()
	for _, err := range errs {
		t.Errorf("client error during the rotation: %v", err)
	}
	if got := listenerMetric(t, r, "vbproxy_listener_certificate_expiry_timestamp_seconds", 0, ""); got != float64(newCert.X509.NotAfter.Unix()) {
		t.Errorf("certificate_expiry_timestamp_seconds: %v, want the new certificate's %d", got, newCert.X509.NotAfter.Unix())
	}
	if got := listenerMetric(t, r, "vbproxy_listener_certificate_reload_failing", 0, ""); got != 0 {
		t.Errorf("certificate_reload_failing: %v, want 0 after the rotation", got)
	}
	t.Logf("%d set+get pairs, %d after the new certificate", ops.Load(), ops.Load()-before)
}
