package upstream

import (
	"bytes"
	"crypto/tls"
	"errors"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/internal/certs"
)

// tlsFake starts a fakeKV speaking TLS with a certificate for 127.0.0.1
// from a new CA, and returns it with a client config trusting that CA.
func tlsFake(t *testing.T) (*fakeKV, *tls.Config) {
	t.Helper()
	ca, err := certs.NewCA("upstream test CA")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.Server("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	f := startFakeKV(t, fakeConfig{Mechs: "SCRAM-SHA512 SCRAM-SHA256 PLAIN", Users: testUsers, Buckets: []string{"default"},
		TLS: &tls.Config{Certificates: []tls.Certificate{srv.TLSCertificate()}}})
	return f, &tls.Config{RootCAs: ca.Pool()}
}

// Over TLS the handshake authenticates with PLAIN (SCRAM with
// SCRAMOverTLS), and the loop's data path runs through the socket-pair
// bridge: round trips, a value larger than the buffers, a lost connection
// and its reconnection, and a Close that leaves no bridge goroutine.
func TestTLS(t *testing.T) {
	for _, tc := range []struct {
		name     string
		scram    bool
		wantMech string
	}{
		{"PLAIN by default", false, "PLAIN"},
		{"SCRAMOverTLS", true, "SCRAM-SHA512"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, cfg := tlsFake(t)
			check := checkGoroutines(t)
			h := newHarness(t)
			n := h.node(f.addr, Options{User: "Administrator", Password: testUsers["Administrator"], Bucket: "default",
				TLS: cfg, SCRAMOverTLS: tc.scram, OperationTimeout: time.Minute, MinBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
			c := h.conn(h.loop(), n)
			c.waitUp(t)
			mustSetGet(t, c, "tls-key", "over TLS")
			if got := f.mechsUsed(); len(got) != 1 || got[0] != tc.wantMech {
				t.Errorf("mechanisms used = %v, want [%s]", got, tc.wantMech)
			}

			large := string(bytes.Repeat([]byte("0123456789abcdef"), 1<<16)) // 1 MiB
			mustSetGet(t, c, "tls-large", large)

			f.setDropData(true)
			done := newRecorder(t, 8)
			c.sendAll(t, getRequests(4, "k", done, 0))
			waitFor(t, "requests at the server", func() bool { _, d := f.counts(); return d == 8 })
			f.setDropData(false)
			f.closeConns()
			for _, r := range done.wait(t, 4) {
				if r.err != ErrConnClosed {
					t.Errorf("err = %v, want ErrConnClosed", r.err)
				}
			}
			c.waitUp(t)
			mustSetGet(t, c, "tls-key", "after the reconnection")
			h.teardown()
			f.close()
			check()
		})
	}
}

// A node whose certificate the client does not trust: every attempt fails
// with ErrTLS, the node is Down and says why.
func TestTLSUntrusted(t *testing.T) {
	f, _ := tlsFake(t)
	other, err := certs.NewCA("another CA")
	if err != nil {
		t.Fatal(err)
	}
	log := newStateLog()
	h := newHarness(t)
	n := h.node(f.addr, log.options(Options{User: "Administrator", Password: "password", Bucket: "default",
		TLS: &tls.Config{RootCAs: other.Pool()}, MinBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}))
	c := h.conn(h.loop(), n)
	waitState(t, n, StateDown)
	if err := n.LastError(); !errors.Is(err, ErrTLS) {
		t.Errorf("LastError = %v, want ErrTLS", err)
	}
	if err := c.send(&Request{Packet: getPacket(1, "k"), Done: newRecorder(t, 1)}); err != ErrNodeDown {
		t.Errorf("Send = %v, want ErrNodeDown", err)
	}
	waitFor(t, "retries", func() bool { return log.errCount(KindIO) >= 3 })
	if got := log.errCount(KindAuth); got != 0 {
		t.Errorf("auth errors = %d, want 0 (a TLS failure is not a refusal of credentials)", got)
	}
	if hs, _ := f.counts(); hs != 0 {
		t.Errorf("the server read %d handshake requests, want 0 (no bytes before TLS is up)", hs)
	}
}
