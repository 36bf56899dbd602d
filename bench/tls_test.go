package bench

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/internal/certs"
	"github.com/vbproxy/vbproxy/internal/mctest"
)

// tlsMemcached starts a real memcached serving only TLS (-Z) with a
// certificate for hosts issued by a new CA, and returns its address and the
// CA's PEM file.
func tlsMemcached(t *testing.T, hosts ...string) (addr, caFile string) {
	t.Helper()
	ca, err := certs.NewCA("bench test CA")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.Server(hosts...)
	if err != nil {
		t.Fatal(err)
	}
	// memcached runs as nobody when the test runs as root: it must be able
	// to read the pair.
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := srv.WriteFiles(dir, "memcached")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(keyFile, 0o644); err != nil {
		t.Fatal(err)
	}
	caFile, _, err = ca.WriteFiles(dir, "ca")
	if err != nil {
		t.Fatal(err)
	}
	addr = mctest.Start(t, "-Z", "-o", "ssl_chain_cert="+certFile+",ssl_key="+keyFile)
	return addr, caFile
}

func tlsRun(t *testing.T, c Config) (*Result, error) {
	t.Helper()
	c.Duration = 500 * time.Millisecond
	c.Keys = 500
	c.Timeout = 2 * time.Second
	return Run(context.Background(), c)
}

// TestRunOverTLS drives a TLS-only memcached in both protocols: every key
// is stored, every get hits, nothing fails, and the result says TLS.
func TestRunOverTLS(t *testing.T) {
	addr, caFile := tlsMemcached(t, "127.0.0.1")
	for _, proto := range []string{ProtocolBinary, ProtocolASCII} {
		t.Run(proto, func(t *testing.T) {
			res, err := tlsRun(t, Config{Addr: addr, Protocol: proto, Conns: 3, Pipeline: 4, TLSCAFile: caFile, Prefix: proto + ":"})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if res.Populate == nil || res.Populate.Stored != 500 || res.Populate.Errors != 0 {
				t.Errorf("populate = %+v, want 500 stored, 0 errors", res.Populate)
			}
			if res.Ops <= 0 || res.Errors != 0 || res.Misses != 0 || res.Hits != res.Gets {
				t.Errorf("ops %d errors %d (%v) misses %d hits %d gets %d; want ops > 0, no errors or misses",
					res.Ops, res.Errors, res.ErrorsByKind, res.Misses, res.Hits, res.Gets)
			}
			if !res.Config.TLS {
				t.Errorf("Config.TLS = false, want true")
			}
			var b strings.Builder
			if err := res.WriteText(&b); err != nil {
				t.Fatal(err)
			}
			if want := "(" + proto + " over TLS)"; !strings.Contains(b.String(), want) {
				t.Errorf("text output lacks %q:\n%s", want, b.String())
			}
		})
	}
}

// TestRunTLSServerName: a certificate that names only memcached.test is
// refused at 127.0.0.1 and accepted with TLSServerName set to that name.
func TestRunTLSServerName(t *testing.T) {
	addr, caFile := tlsMemcached(t, "memcached.test")
	_, err := tlsRun(t, Config{Addr: addr, TLSCAFile: caFile})
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1") || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("Run without server name: %v, want a certificate error naming 127.0.0.1", err)
	}
	res, err := tlsRun(t, Config{Addr: addr, TLSCAFile: caFile, TLSServerName: "memcached.test"})
	if err != nil {
		t.Fatalf("Run with server name memcached.test: %v", err)
	}
	if res.Ops <= 0 || res.Errors != 0 {
		t.Errorf("ops %d errors %d (%v), want ops > 0 and no errors", res.Ops, res.Errors, res.ErrorsByKind)
	}
}

// TestRunTLSUntrusted: a server whose certificate another CA signed is
// refused with the reason, and so is a plain connection to a TLS port
// (the control: the TLS run above is really TLS).
func TestRunTLSUntrusted(t *testing.T) {
	addr, _ := tlsMemcached(t, "127.0.0.1")
	other, err := certs.NewCA("other CA")
	if err != nil {
		t.Fatal(err)
	}
	otherFile, _, err := other.WriteFiles(t.TempDir(), "other")
	if err != nil {
		t.Fatal(err)
	}
	_, err = tlsRun(t, Config{Addr: addr, TLSCAFile: otherFile})
	if err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Errorf("Run trusting another CA: %v, want \"certificate signed by unknown authority\"", err)
	}
	res, err := tlsRun(t, Config{Addr: addr, Conns: 1})
	if err == nil && res.Errors == 0 {
		t.Errorf("plain Run against a TLS port: no error and %d ops without errors, want failures", res.Ops)
	}
}

func TestTLSConfigErrors(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"missing file", Config{TLSCAFile: filepath.Join(dir, "absent.pem")}, "tls-ca: stat " + filepath.Join(dir, "absent.pem")},
		{"not PEM", Config{TLSCAFile: notPEM}, "tls-ca: " + notPEM + " holds no PEM certificate"},
		{"server name without CA", Config{TLSServerName: "x.test"}, `tls-server-name: "x.test" needs tls-ca`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.cfg
			c.Addr = "127.0.0.1:1"
			_, err := Run(context.Background(), c)
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Run: %v, want ErrInvalidConfig containing %q", err, tc.want)
			}
		})
	}
}
