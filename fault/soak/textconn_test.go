package soak

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/fault"
	"github.com/vbproxy/vbproxy/internal/mctest"
	"github.com/vbproxy/vbproxy/memcached"
)

func dialText(t *testing.T, addr string, timeout time.Duration) *textConn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c := newTextConn(conn, timeout)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func expect(t *testing.T, what string, r fault.Response, err error, st memcached.Status, value string) fault.Response {
	t.Helper()
	if err != nil || r.Status != st || string(r.Value) != value {
		t.Fatalf("%s: got %v %q %v, want %v %q", what, r.Status, r.Value, err, st, value)
	}
	return r
}

// TestTextConnMemcached runs every request of the text client against a
// real memcached: the replies it parses are memcached's own.
func TestTextConnMemcached(t *testing.T) {
	c := dialText(t, mctest.Start(t), 5*time.Second)
	r, err := c.Get("k")
	expect(t, "get of a missing key", r, err, memcached.StatusKeyENOENT, "")
	r, err = c.Set("k", []byte("k:1"), 0)
	if r = expect(t, "set", r, err, memcached.StatusSuccess, ""); r.CAS != 0 {
		t.Errorf("set: CAS %d, want 0 (STORED carries none)", r.CAS)
	}
	r, err = c.Get("k")
	if r = expect(t, "get", r, err, memcached.StatusSuccess, "k:1"); r.CAS != 0 {
		t.Errorf("get: CAS %d, want 0 (get has none)", r.CAS)
	}
	r, err = c.Gets("k")
	cas1 := expect(t, "gets", r, err, memcached.StatusSuccess, "k:1").CAS
	if cas1 == 0 {
		t.Fatalf("gets: CAS 0")
	}
	r, err = c.Set("k", []byte("k:2"), cas1+1000)
	expect(t, "cas with a wrong CAS", r, err, memcached.StatusKeyEEXISTS, "")
	r, err = c.Set("k", []byte("k:2"), cas1)
	expect(t, "cas", r, err, memcached.StatusSuccess, "")
	r, err = c.Gets("k")
	if cas2 := expect(t, "gets after cas", r, err, memcached.StatusSuccess, "k:2").CAS; cas2 == cas1 || cas2 == 0 {
		t.Errorf("gets after cas: CAS %d (before %d)", cas2, cas1)
	}
	r, err = c.Delete("k")
	expect(t, "delete", r, err, memcached.StatusSuccess, "")
	r, err = c.Delete("k")
	expect(t, "delete of a missing key", r, err, memcached.StatusKeyENOENT, "")
	r, err = c.Set("k", []byte("x"), cas1)
	expect(t, "cas of a missing key", r, err, memcached.StatusKeyENOENT, "")

	for want := range uint64(3) { // created at 0 by add, then 1, 2
		r, n, err := c.Incr("n")
		if err != nil || r.Status != memcached.StatusSuccess || n != want {
			t.Fatalf("incr %d: got %v %d %v", want, r.Status, n, err)
		}
	}
	r, err = c.Get("n")
	expect(t, "get of the counter", r, err, memcached.StatusSuccess, "2")

	r, err = c.Set("s", []byte("abc"), 0)
	expect(t, "set", r, err, memcached.StatusSuccess, "")
	_, _, err = c.Incr("s")
	var re *replyError
	if !errors.As(err, &re) || re.Line != "CLIENT_ERROR cannot increment or decrement non-numeric value" {
		t.Fatalf("incr of a non-number: %v, want a replyError with memcached's CLIENT_ERROR", err)
	}
	for _, key := range []string{"a b", "", string(make([]byte, 251)), "a\x7f"} {
		if _, err := c.Get(key); err == nil {
			t.Errorf("get %q: no error", key)
		}
	}
	r, err = c.Get("n") // still in step: nothing was sent for the bad keys
	expect(t, "get after the refused keys", r, err, memcached.StatusSuccess, "2")
}

// exchange is one request a scripted server expects and its reply.
type exchange struct{ req, reply string }

// scripted serves one connection that must send exactly the script's
// requests, in order, and answers each with its reply.
func scripted(t *testing.T, script []exchange) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		_ = ln.Close()
		if err != nil {
			done <- err
			return
		}
		defer conn.Close()
		for i, x := range script {
			got := make([]byte, len(x.req))
			if _, err := io.ReadFull(conn, got); err != nil {
				done <- err
				return
			}
			if string(got) != x.req {
				done <- fmt.Errorf("request %d: got %q, want %q", i, got, x.req)
				return
			}
			if _, err := conn.Write([]byte(x.reply)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	t.Cleanup(func() {
		if err := <-done; err != nil {
			t.Errorf("scripted server: %v", err)
		}
	})
	return ln.Addr().String()
}

// TestTextConnWire pins the requests the client writes and how it reads
// the replies memcached never gives: vbproxy's temporary failures, and a
// counter that appears between incr and add.
func TestTextConnWire(t *testing.T) {
	addr := scripted(t, []exchange{
		{"incr c 1\r\n", "NOT_FOUND\r\n"},
		{"add c 0 0 1\r\n0\r\n", "NOT_STORED\r\n"},
		{"incr c 1\r\n", "7\r\n"},
		{"set k 0 0 3\r\nk:1\r\n", "SERVER_ERROR temporary failure: node down\r\n"},
		{"cas k 0 0 3 99\r\nk:2\r\n", "EXISTS\r\n"},
		{"gets k\r\n", "SERVER_ERROR temporary failure\r\nEND\r\n"},
		{"get k\r\n", "VALUE k 0 3\r\nk:1\r\nEND\r\n"},
		{"delete k\r\n", "SERVER_ERROR temporary failure: node timed out\r\n"},
		{"incr d 1\r\n", "NOT_FOUND\r\n"},
		{"add d 0 0 1\r\n0\r\n", "SERVER_ERROR temporary failure: node down\r\n"},
		{"incr e 1\r\n", "NOT_FOUND\r\n"},
		{"add e 0 0 1\r\n0\r\n", "NOT_STORED\r\n"},
		{"incr e 1\r\n", "NOT_FOUND\r\n"},
		{"add e 0 0 1\r\n0\r\n", "NOT_STORED\r\n"},
	})
	c := dialText(t, addr, 5*time.Second)
	if r, n, err := c.Incr("c"); err != nil || r.Status != memcached.StatusSuccess || n != 7 {
		t.Errorf("incr after a lost add: got %v %d %v, want SUCCESS 7", r.Status, n, err)
	}
	r, err := c.Set("k", []byte("k:1"), 0)
	expect(t, "set", r, err, memcached.StatusETMPFAIL, "")
	r, err = c.Set("k", []byte("k:2"), 99)
	expect(t, "cas", r, err, memcached.StatusKeyEEXISTS, "")
	r, err = c.Gets("k")
	expect(t, "gets", r, err, memcached.StatusETMPFAIL, "")
	r, err = c.Get("k")
	expect(t, "get", r, err, memcached.StatusSuccess, "k:1")
	r, err = c.Delete("k")
	expect(t, "delete", r, err, memcached.StatusETMPFAIL, "")
	if r, _, err := c.Incr("d"); err != nil || r.Status != memcached.StatusETMPFAIL {
		t.Errorf("incr whose add failed: got %v %v, want ETMPFAIL", r.Status, err)
	}
	var re *replyError
	if _, _, err := c.Incr("e"); !errors.As(err, &re) || re.Reason != "counter missing again after add said it exists" {
		t.Errorf("incr of a counter that keeps vanishing: %v", err)
	}
}

// TestTextConnTimeout: a server that does not answer gives the deadline
// error, which the worker counts as a client timeout.
func TestTextConnTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	held := make(chan net.Conn, 1)
	go func() {
		conn, err := ln.Accept()
		if err == nil {
			held <- conn
		}
	}()
	c := dialText(t, ln.Addr().String(), 100*time.Millisecond)
	start := time.Now()
	if _, err := c.Gets("k"); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("gets of a silent server: %v, want a deadline error", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("gets took %v with a 100ms timeout", d)
	}
	if conn := <-held; conn != nil {
		_ = conn.Close()
	}
}
