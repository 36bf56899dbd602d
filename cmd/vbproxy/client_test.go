package main

import (
	"net"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
)

// mcClient is a minimal memcached binary-protocol client for the tests.
type mcClient struct {
	t    testing.TB
	conn net.Conn
	r    *memcached.Reader
	buf  []byte
}

func dialMC(t testing.TB, addr string) *mcClient {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return &mcClient{t: t, conn: conn, r: memcached.NewReader(conn, memcached.ReaderOptions{})}
}

// do sends one request and reads its reply; a deadline guards against a
// hang (it is not a timing assertion).
func (c *mcClient) do(op memcached.Opcode, extras, key, value []byte) (memcached.Status, []byte) {
	c.t.Helper()
	c.buf = memcached.AppendRequest(c.buf[:0], op, 0, 0x1234, 0, extras, key, value)
	_ = c.conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := c.conn.Write(c.buf); err != nil {
		c.t.Fatalf("%s write: %v", op, err)
	}
	var p memcached.Packet
	if err := c.r.ReadResponse(&p); err != nil {
		c.t.Fatalf("%s read: %v", op, err)
	}
	if p.Opaque != 0x1234 || p.Opcode != op {
		c.t.Fatalf("%s reply: got opcode %s opaque %#x, want %s 0x1234", op, p.Opcode, p.Opaque, op)
	}
	return p.Status, append([]byte(nil), p.Value...)
}

func (c *mcClient) set(key, value string) memcached.Status {
	c.t.Helper()
	st, _ := c.do(memcached.OpSet, make([]byte, 8), []byte(key), []byte(value))
	return st
}

func (c *mcClient) get(key string) (memcached.Status, string) {
	c.t.Helper()
	st, v := c.do(memcached.OpGet, nil, []byte(key), nil)
	return st, string(v)
}

// setGet stores and reads back n keys, failing the test on any mismatch.
func setGet(t testing.TB, addr string, n int) {
	t.Helper()
	c := dialMC(t, addr)
	for i := range n {
		k, v := keyN(i), "value-"+keyN(i)
		if st := c.set(k, v); st != memcached.StatusSuccess {
			t.Fatalf("SET %s: got %s, want SUCCESS", k, st)
		}
		if st, got := c.get(k); st != memcached.StatusSuccess || got != v {
			t.Fatalf("GET %s: got %s %q, want SUCCESS %q", k, st, got, v)
		}
	}
}

func keyN(i int) string { return "key-" + string(rune('a'+i%26)) + "-" + itoa(i) }

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}
