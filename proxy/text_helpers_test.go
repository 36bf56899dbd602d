package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// textClient is a raw text-protocol client: it writes command bytes and
// reads reply bytes exactly, so tests can assert on every byte.
type textClient struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
}

func dialText(t testing.TB, addr string) *textClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return &textClient{t: t, conn: c, r: bufio.NewReaderSize(c, 64<<10)}
}

func (c *textClient) send(s string) {
	c.t.Helper()
	_ = c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c.conn, s); err != nil {
		c.t.Fatalf("write %q: %v", clipStr(s), err)
	}
}

// readN reads exactly n reply bytes (what it got on an error).
func (c *textClient) readN(n int) (string, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	b := make([]byte, n)
	m, err := io.ReadFull(c.r, b)
	return string(b[:m]), err
}

// expect reads len(want) bytes and fails unless they are want.
func (c *textClient) expect(want string) {
	c.t.Helper()
	got, err := c.readN(len(want))
	if err != nil || got != want {
		c.t.Fatalf("reply:\n got %q (err %v)\nwant %q", clipStr(got), err, clipStr(want))
	}
}

// do sends cmd followed by the barrier "mn" and checks that the replies up
// to the barrier's are exactly want: nothing missing, nothing extra.
func (c *textClient) do(cmd, want string) {
	c.t.Helper()
	c.send(cmd + "mn\r\n")
	c.expect(want + "MN\r\n")
}

// line reads one reply line, its \r\n included.
func (c *textClient) line() string {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	l, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read line (got %q): %v", l, err)
	}
	return l
}

// expectClosed checks that the server closes the connection after exactly
// the reply bytes want.
func (c *textClient) expectClosed(want string) {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(c.r)
	if err != nil && !isConnReset(err) {
		c.t.Fatalf("connection not closed after %q: %v", clipStr(string(got)), err)
	}
	if string(got) != want {
		c.t.Fatalf("replies before the close:\n got %q\nwant %q", clipStr(string(got)), clipStr(want))
	}
}

// set stores key=value and checks STORED.
func (c *textClient) set(key, value string) {
	c.t.Helper()
	c.send(fmt.Sprintf("set %s 0 0 %d\r\n%s\r\n", key, len(value), value))
	c.expect("STORED\r\n")
}

// gets returns the value and CAS of key (ok false on a miss).
func (c *textClient) gets(key string) (value string, cas uint64, ok bool) {
	c.t.Helper()
	c.send("gets " + key + "\r\n")
	l := c.line()
	if l == "END\r\n" {
		return "", 0, false
	}
	f := strings.Fields(l)
	if len(f) != 5 || f[0] != "VALUE" || f[1] != key {
		c.t.Fatalf("gets %s: reply line %q", key, l)
	}
	n, err1 := strconv.Atoi(f[3])
	cas, err2 := strconv.ParseUint(f[4], 10, 64)
	if err1 != nil || err2 != nil {
		c.t.Fatalf("gets %s: reply line %q", key, l)
	}
	data, err := c.readN(n + 2)
	if err != nil || !strings.HasSuffix(data, "\r\n") {
		c.t.Fatalf("gets %s: data %q: %v", key, data, err)
	}
	c.expect("END\r\n")
	return data[:n], cas, true
}

// value is the reply to "get key" for a hit with flags 0.
func value(key, v string) string {
	return fmt.Sprintf("VALUE %s 0 %d\r\n%s\r\n", key, len(v), v)
}

func clipStr(s string) string {
	if len(s) > 400 {
		return s[:200] + fmt.Sprintf("...(%d bytes)...", len(s)) + s[len(s)-200:]
	}
	return s
}

// textRun numbers the runs of the text tables in one process (key prefixes).
var textRun atomic.Int64
