package bench

import (
	"cmp"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
)

// fakeServer is a binary-protocol server whose replies a test scripts.
// reply returns the bytes to write for a request, or nil to close the
// connection, or errNoReply to stay silent.
type fakeServer struct {
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns []net.Conn
}

var errNoReply = errors.New("no reply")

func startFake(t *testing.T, reply func(req *memcached.Packet) ([]byte, error)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	s := &fakeServer{ln: ln}
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			s.wg.Go(func() { serveFake(c, reply) })
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			_ = c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return ln.Addr().String()
}

func serveFake(c net.Conn, reply func(req *memcached.Packet) ([]byte, error)) {
	defer c.Close()
	r := memcached.NewReader(c, memcached.ReaderOptions{})
	var p memcached.Packet
	for {
		if err := r.ReadRequest(&p); err != nil {
			return
		}
		b, err := reply(&p)
		if errors.Is(err, errNoReply) {
			continue
		}
		if b == nil {
			return
		}
		if _, err := c.Write(b); err != nil {
			return
		}
	}
}

func TestErrorsCountedByKind(t *testing.T) {
	for _, tc := range []struct {
		name     string
		reply    func(req *memcached.Packet) ([]byte, error)
		wantKind string
		timeout  time.Duration
	}{
		{"status EINVAL", func(req *memcached.Packet) ([]byte, error) {
			return memcached.AppendError(nil, &req.Header, memcached.StatusEINVAL, "nope"), nil
		}, "EINVAL", 0},
		{"status NOT_MY_VBUCKET", func(req *memcached.Packet) ([]byte, error) {
			return memcached.AppendError(nil, &req.Header, memcached.StatusNotMyVBucket, ""), nil
		}, "NOT_MY_VBUCKET", 0},
		{"unknown status", func(req *memcached.Packet) ([]byte, error) {
			return memcached.AppendError(nil, &req.Header, memcached.Status(0x7777), ""), nil
		}, "unknown_status", 0},
		{"wrong opaque", func(req *memcached.Packet) ([]byte, error) {
			h := req.Header
			h.Opaque++
			return memcached.AppendResponse(nil, &h, memcached.StatusSuccess, 0, nil, nil, nil), nil
		}, KindProtocol, 0},
		{"wrong value size", func(req *memcached.Packet) ([]byte, error) {
			return memcached.AppendResponse(nil, &req.Header, memcached.StatusSuccess, 0, make([]byte, 4), nil, []byte("short")), nil
		}, "bad_value", 0},
		{"connection closed", func(req *memcached.Packet) ([]byte, error) { return nil, nil }, KindIO, 0},
		{"no reply", func(req *memcached.Packet) ([]byte, error) { return nil, errNoReply }, KindTimeout, 100 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := startFake(t, tc.reply)
			res, err := Run(context.Background(), Config{Addr: addr, Duration: 400 * time.Millisecond, Conns: 2,
				Pipeline: 4, Keys: 10, Ratio: 1, NoPopulate: true, Timeout: cmp.Or(tc.timeout, 5*time.Second)})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if res.Errors == 0 {
				t.Fatalf("errors = 0, want > 0 (%+v)", res)
			}
			if got := res.ErrorsByKind[tc.wantKind]; got != res.Errors {
				t.Errorf("errors_by_kind = %v, want all %d under %q", res.ErrorsByKind, res.Errors, tc.wantKind)
			}
			if res.Hits != 0 {
				t.Errorf("hits = %d, want 0", res.Hits)
			}
		})
	}
}

func TestAbortedAfterReconnectsFail(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	// Accept the first connection, then stop listening: the worker's
	// reconnects are refused.
	go func() {
		c, err := ln.Accept()
		_ = ln.Close()
		if err == nil {
			_, _ = io.CopyN(io.Discard, c, 1)
			_ = c.Close()
		}
	}()
	res, err := Run(context.Background(), Config{Addr: addr, Duration: 5 * time.Second, Conns: 1, Keys: 10,
		NoPopulate: true, Timeout: time.Second})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(res.Aborted) != 1 || !strings.Contains(res.Aborted[0], "gave up") {
		t.Errorf("aborted = %q, want one 'gave up' entry", res.Aborted)
	}
	if res.ErrorsByKind[KindConnect] != maxReconnects || res.ErrorsByKind[KindIO] != 1 {
		t.Errorf("errors_by_kind = %v, want connect %d and io 1", res.ErrorsByKind, maxReconnects)
	}
}

func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
