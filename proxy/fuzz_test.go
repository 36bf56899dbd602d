package proxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
)

// FuzzSession sends arbitrary client bytes to a proxy in front of a real
// memcached server. Whatever the bytes, the session answers with well-formed
// responses and closes when the client stops sending (it never hangs or
// crashes), and other clients are unaffected.
func FuzzSession(f *testing.F) {
	seeds := [][]byte{
		req(memcached.OpGet, 1, nil, []byte("k"), nil),
		append(req(memcached.OpSet, 1, setExtras(0, 0), []byte("k"), []byte("v")), req(memcached.OpGetKQ, 2, nil, []byte("k"), nil)...),
		append(req(memcached.OpGetKQ, 1, nil, []byte("missing"), nil), req(memcached.OpNoop, 2, nil, nil, nil)...),
		req(memcached.OpStat, 1, nil, nil, nil),
		req(memcached.OpHello, 1, nil, []byte("agent"), []byte{0, 7}),
		req(memcached.OpSASLAuth, 1, nil, []byte("PLAIN"), []byte("\x00a\x00b")),
		req(memcached.OpFlush, 1, []byte{0, 0, 0, 1}, nil, nil),
		req(memcached.OpIncrement, 1, make([]byte, 20), []byte("n"), nil),
		req(memcached.OpQuit, 1, nil, nil, nil),
		req(memcached.OpGATK, 1, []byte{0, 0, 0, 0}, []byte("k"), nil),
		req(0xfe, 1, nil, nil, nil),
		{0x80, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff},          // huge body, truncated
		{0x81, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0, 0, 0}, // response magic
		[]byte("get foo\r\n"),
		{},
	}
	for _, s := range seeds {
		f.Add(s)
	}
	nodes := []string{startMemcached(f)}
	src := newTestSource(staticMap(f, 1, nodes, 64))
	_, addr := startProxy(f, Options{Map: src, MaxRequestSize: 4096, OperationTimeout: 2 * time.Second})
	f.Fuzz(func(t *testing.T, data []byte) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
		go func() {
			_, _ = conn.Write(data)
			_ = conn.(*net.TCPConn).CloseWrite()
		}()
		out, err := io.ReadAll(conn)
		if err != nil && !isConnReset(err) {
			t.Fatalf("session did not end: %v (after %d bytes)", err, len(out))
		}
		if err := validResponses(out); err != nil {
			t.Fatalf("invalid reply stream: %v\n%x", err, out)
		}
		// Another client still works.
		c := dial(t, addr)
		c.write(req(memcached.OpNoop, 7, nil, nil, nil))
		if h, _ := c.read(); h.Opcode != memcached.OpNoop || h.Opaque != 7 {
			t.Fatalf("another client's NOOP: %s opaque %d", h.Opcode, h.Opaque)
		}
	})
}

// validResponses checks that b is a sequence of whole response packets
// (a connection reset may cut the last one).
func validResponses(b []byte) error {
	r := memcached.NewReader(bytes.NewReader(b), memcached.ReaderOptions{})
	var p memcached.Packet
	for {
		err := r.ReadResponse(&p)
		switch {
		case err == nil:
		case errors.Is(err, io.EOF):
			return nil
		case errors.Is(err, io.ErrUnexpectedEOF):
			return nil
		default:
			return err
		}
	}
}
