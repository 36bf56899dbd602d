package tlsconf

import (
	"crypto/tls"
	"errors"
	"net"
	"testing"
	"time"
)

// plainServer accepts on a free loopback port and runs serve on each
// connection (then closes it).
func plainServer(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			serve(c)
			c.Close()
		}
	}()
	return ln.Addr().String()
}

func TestDescribeTLSErrorTransport(t *testing.T) {
	base, err := BuildClusterTLS(ClusterTLS{Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	handshake := func(addr string, timeout time.Duration) error {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		tc := tls.Client(c, ForAddr(base, addr))
		_ = tc.SetDeadline(time.Now().Add(timeout))
		return tc.Handshake()
	}
	for _, tc := range []struct {
		name    string
		timeout time.Duration // the client's handshake deadline
		serve   func(net.Conn)
		want    string
	}{
		{"plain-text port", 5 * time.Second, func(c net.Conn) {
			buf := make([]byte, 512)
			_, _ = c.Read(buf)
			_, _ = c.Write([]byte("ERROR\r\n"))
		}, "peer did not answer with TLS (a plain-text port?)"},
		{"silent", 300 * time.Millisecond, func(c net.Conn) {
			buf := make([]byte, 512)
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			for {
				if _, err := c.Read(buf); err != nil {
					return
				}
			}
		}, "TLS handshake timed out"},
		{"closes", 5 * time.Second, func(c net.Conn) {
			// FIN, not RST: shut the write side, then read until the client gives up.
			_ = c.(*net.TCPConn).CloseWrite()
			buf := make([]byte, 4096)
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			for {
				if _, err := c.Read(buf); err != nil {
					return
				}
			}
		}, "connection closed during the TLS handshake"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := handshake(plainServer(t, tc.serve), tc.timeout)
			if got := DescribeTLSError(err); got != tc.want {
				t.Fatalf("DescribeTLSError(%v) = %q, want %q", err, got, tc.want)
			}
		})
	}
}

func TestDescribeTLSErrorPlain(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{errors.New("tls: no renegotiation"), "no renegotiation"},
		{errors.New("dial tcp 127.0.0.1:1: connect: connection refused"), "dial tcp 127.0.0.1:1: connect: connection refused"},
	} {
		if got := DescribeTLSError(tc.err); got != tc.want {
			t.Errorf("DescribeTLSError(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
