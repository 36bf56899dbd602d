package tlsconf

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/internal/certs"
)

// tlsServer is a real TLS server on a free loopback port. Each accepted
// connection completes the handshake, reports the client's certificate
// (nil when none) on peers, writes "ok" and waits for the client to close:
// the write makes a TLS 1.3 client read the session ticket.
type tlsServer struct {
	addr  string
	peers chan *tls.ConnectionState
}

func startTLSServer(t *testing.T, cfg *tls.Config) *tlsServer {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := &tlsServer{addr: ln.Addr().String(), peers: make(chan *tls.ConnectionState, 16)}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				tc := c.(*tls.Conn)
				_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
				if err := tc.Handshake(); err != nil {
					return
				}
				st := tc.ConnectionState()
				select {
				case s.peers <- &st:
				default:
				}
				_, _ = tc.Write([]byte("ok"))
				_, _ = io.Copy(io.Discard, tc)
			})
		}
	})
	return s
}

// serverConfig serves cert.
func serverConfig(cert *certs.Cert) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{cert.TLSCertificate()}}
}

// dial connects to addr with ForAddr(base, addr), completes the handshake
// and reads the server's "ok" (which, in TLS 1.3, also takes in the session
// ticket). The error is the first that happened.
func dial(t *testing.T, base *tls.Config, addr string) (tls.ConnectionState, error) {
	t.Helper()
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: ForAddr(base, addr)}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer c.Close()
	tc := c.(*tls.Conn)
	_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 2)
	if _, err := io.ReadFull(tc, buf); err != nil {
		return tc.ConnectionState(), err
	}
	if string(buf) != "ok" {
		return tc.ConnectionState(), errors.New("server said " + string(buf))
	}
	return tc.ConnectionState(), nil
}

func newCA(t *testing.T, name string) *certs.CA {
	t.Helper()
	ca, err := certs.NewCA(name)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// writeCAFile writes ca's certificate to DIR/ca.pem.
func writeCAFile(t *testing.T, dir string, ca *certs.CA) string {
	t.Helper()
	p := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(p, ca.CertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
