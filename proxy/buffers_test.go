package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
)

// TestIdleReader checks the stream a session's pooled reader reads: the
// idle read's bytes, then the error that came with them, then the
// connection.
func TestIdleReader(t *testing.T) {
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	errPending := errors.New("pending")
	r := &idleReader{cc: &clientConn{Conn: a, obs: nopObserver{}}, pre: []byte("abcde"), err: errPending}
	buf := make([]byte, 3)
	for _, want := range []string{"abc", "de"} {
		n, err := r.Read(buf)
		if err != nil || string(buf[:n]) != want {
			t.Fatalf("Read = %q, %v; want %q, nil", buf[:n], err, want)
		}
	}
	if n, err := r.Read(buf); n != 0 || err != errPending {
		t.Fatalf("Read after the idle bytes = %d, %v; want 0, %v", n, err, errPending)
	}
	go func() { _, _ = b.Write([]byte("xy")) }()
	if n, err := r.Read(buf); err != nil || string(buf[:n]) != "xy" {
		t.Fatalf("Read from the connection = %q, %v; want %q, nil", buf[:n], err, "xy")
	}
}

// TestRequestsAcrossIdleReads sends requests that do not fit in (or are
// split across) the read that ends an idle wait: a large SET, a pipeline
// longer than idleBufSize in one write, and a request written in pieces
// with pauses, so that the session holds and releases its buffers between
// them. Every reply must come back whole and in order.
func TestRequestsAcrossIdleReads(t *testing.T) {
	_, addr, _, _ := memcachedCluster(t, 2, Options{})
	c := dial(t, addr)

	big := bytes.Repeat([]byte("v"), 3*idleBufSize+17)
	c.write(req(memcached.OpSet, 1, setExtras(0, 0), []byte("big"), big))
	if h, _ := c.read(); h.Status != memcached.StatusSuccess || h.Opaque != 1 {
		t.Fatalf("SET big: status %v opaque %d, want SUCCESS 1", h.Status, h.Opaque)
	}

	// A pipeline of GETs several times longer than the idle read.
	var pipe []byte
	n := 0
	for len(pipe) < 4*idleBufSize {
		key := "big"
		if n%2 == 1 {
			key = fmt.Sprintf("missing-%d", n)
		}
		pipe = append(pipe, req(memcached.OpGet, uint32(100+n), nil, []byte(key), nil)...)
		n++
	}
	c.write(pipe)
	for i := range n {
		h, pkt := c.read()
		if h.Opaque != uint32(100+i) {
			t.Fatalf("reply %d: opaque %d, want %d", i, h.Opaque, 100+i)
		}
		if i%2 == 0 {
			if h.Status != memcached.StatusSuccess || !bytes.Equal(pkt[memcached.HeaderLen+int(h.ExtrasLen):], big) {
				t.Fatalf("reply %d: status %v, %d-byte value, want SUCCESS and %d bytes", i, h.Status, len(pkt)-memcached.HeaderLen-int(h.ExtrasLen), len(big))
			}
		} else if h.Status != memcached.StatusKeyENOENT {
			t.Fatalf("reply %d: status %v, want KEY_ENOENT", i, h.Status)
		}
	}

	// One request in pieces: inside the header, inside the key, then the
	// rest, each after a pause so that the session waits idle in between.
	set := req(memcached.OpSet, 7, setExtras(0, 0), []byte("pieces"), []byte("value"))
	for _, piece := range [][]byte{set[:5], set[5:30], set[30:]} {
		c.write(piece)
		time.Sleep(20 * time.Millisecond)
	}
	if h, _ := c.read(); h.Status != memcached.StatusSuccess || h.Opaque != 7 {
		t.Fatalf("SET in pieces: status %v opaque %d, want SUCCESS 7", h.Status, h.Opaque)
	}
	if v, st := c.get("pieces"); st != memcached.StatusSuccess || v != "value" {
		t.Fatalf("GET pieces = %q, %v; want %q, SUCCESS", v, st, "value")
	}

	// A request cut short by the client's end: the session ends without a
	// reply, as before.
	c.write(req(memcached.OpGet, 8, nil, []byte("big"), nil)[:10])
	if err := c.conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if got, err := io.ReadAll(c.conn); err != nil || len(got) != 0 {
		t.Fatalf("after a truncated request: read %d bytes, %v; want 0 and EOF", len(got), err)
	}
}

// TestWriteTimeoutClosesNonReader checks that a client that sends requests
// but never reads the replies is closed once a reply write has been blocked
// for WriteTimeout, also after earlier writes armed the deadline, and that a
// reading client on the same proxy is not affected.
func TestWriteTimeoutClosesNonReader(t *testing.T) {
	srv, addr, _, _ := memcachedCluster(t, 1, Options{WriteTimeout: 200 * time.Millisecond})
	good := dial(t, addr)
	good.set("big", string(bytes.Repeat([]byte("x"), 256<<10)))

	bad := dial(t, addr)
	// Replies that are read arm the write deadline first.
	for range 3 {
		if _, st := bad.get("big"); st != memcached.StatusSuccess {
			t.Fatalf("GET big: %v, want SUCCESS", st)
		}
	}
	// Then 200 replies of 256 KiB that nobody reads: far more than the
	// socket buffers hold, so the proxy's write blocks.
	var pipe []byte
	for i := range 200 {
		pipe = append(pipe, req(memcached.OpGet, uint32(i), nil, []byte("big"), nil)...)
	}
	go func() { _, _ = bad.conn.Write(pipe) }() // may block once the proxy stops reading
	waitFor(t, func() bool { return srv.Stats().ConnsCurrent == 1 })

	if v, st := good.get("big"); st != memcached.StatusSuccess || len(v) != 256<<10 {
		t.Fatalf("reading client: GET big = %d bytes, %v; want %d, SUCCESS", len(v), st, 256<<10)
	}
	_ = bad.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := io.Copy(io.Discard, bad.conn)
	if err != nil && !isConnReset(err) {
		t.Fatalf("non-reading client: read %d bytes, then %v; want the connection closed", n, err)
	}
	if full := int64(200 * (memcached.HeaderLen + 4 + 256<<10)); n >= full {
		t.Errorf("non-reading client got all %d bytes, want the connection closed before", n)
	}
}
