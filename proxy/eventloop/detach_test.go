//go:build linux

package eventloop

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// wrapped hides the *net.TCPConn type, as a *tls.Conn would.
type wrapped struct{ net.Conn }

func TestDetach(t *testing.T) {
	for _, tc := range []struct {
		name   string
		wrap   func(net.Conn) net.Conn
		bridge bool
	}{
		{"tcp", func(c net.Conn) net.Conn { return c }, false},
		{"bridged", func(c net.Conn) net.Conn { return wrapped{c} }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			client, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			server, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			fd, bridged, err := Detach(tc.wrap(server))
			if err != nil || bridged != tc.bridge {
				t.Fatalf("Detach: fd %d bridged %v err %v", fd, bridged, err)
			}
			if fl, _ := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); fl&unix.O_NONBLOCK == 0 {
				t.Error("descriptor is blocking")
			}
			// client -> fd
			msg := bytes.Repeat([]byte("abc"), 100000)
			go func() { _, _ = client.Write(msg) }()
			got := readAll(t, fd, len(msg))
			if !bytes.Equal(got, msg) {
				t.Fatalf("read %d bytes through the descriptor, want %d", len(got), len(msg))
			}
			// fd -> client
			if _, err := unix.Write(fd, []byte("reply")); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 5)
			_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.ReadFull(client, buf); err != nil || string(buf) != "reply" {
				t.Fatalf("client read %q, %v", buf, err)
			}
			// Closing the loop's end closes the client's connection.
			_ = unix.Close(fd)
			if n, err := client.Read(buf); err != io.EOF {
				t.Fatalf("after close: read %d, %v; want EOF", n, err)
			}
		})
	}
}

func readAll(t *testing.T, fd, n int) []byte {
	t.Helper()
	got := make([]byte, 0, n)
	buf := make([]byte, 64<<10)
	deadline := time.Now().Add(5 * time.Second)
	for len(got) < n && time.Now().Before(deadline) {
		k, err := unix.Read(fd, buf)
		switch {
		case k > 0:
			got = append(got, buf[:k]...)
		case err == unix.EAGAIN:
			time.Sleep(time.Millisecond)
		default:
			t.Fatalf("read: %d, %v", k, err)
		}
	}
	return got
}
