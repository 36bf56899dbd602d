package proxy

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
	"github.com/vbproxy/vbproxy/proxy/eventloop"
)

// BenchmarkRoutingPath measures a loop's per-request work for a key
// request up to the upstream write: frame it in the read buffer and copy it
// into its slot, classify and validate it, load the map and route the key,
// patch the header in place, and the per-vBucket ordering bookkeeping of
// sending and completing it. (The copy into the connection's output buffer
// and the syscalls are in BenchmarkEndToEnd.)
func BenchmarkRoutingPath(b *testing.B) {
	servers := []string{"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"}
	src := newTestSource(staticMap(b, 1, servers, 1024))
	srv, err := New(Options{Map: src})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = srv.Shutdown(context.Background()) }()
	var stream []byte
	for i := range 1000 {
		stream = append(stream, req(memcached.OpGetKQ, uint32(i), nil, []byte(fmt.Sprintf("user:%08d", i)), nil)...)
	}
	lp, err := eventloop.New(eventloop.Options{Name: "bench"}) // not running: this goroutine owns it
	if err != nil {
		b.Fatal(err)
	}
	ls := newLoopState(srv, lp, 0, 1)
	lst, err := srv.newListener(srv.o.listener())
	if err != nil {
		b.Fatal(err)
	}
	s := newSession(ls, lst, -1, "bench", "bench")
	sl := &slot{sess: s}
	sl.req.Done = sl
	off := 0
	b.ReportAllocs()
	b.SetBytes(int64(len(stream) / 1000))
	b.ResetTimer()
	for range b.N {
		if off == len(stream) {
			off = 0
		}
		h, n, _, err := memcached.Frame(stream[off:], memcached.MagicRequest, memcached.MaxKeyLen, srv.o.MaxRequestSize)
		if err != nil || n == 0 {
			b.Fatal(n, err)
		}
		sl.pkt.Load(stream[off : off+n])
		off += n
		info := h.Opcode.Info()
		if info.Route != memcached.RouteKey || !validKeyRequest(&sl.pkt.Header) || needsAuth(info.Route, h.Opcode) && !s.authed {
			b.Fatal("not a routable key request")
		}
		sl.op, sl.opaque, sl.start = h.Opcode, h.Opaque, lp.Now()
		pkt := sl.pkt.Bytes()
		memcached.SetOpcode(pkt, sl.op.Loud())
		m := srv.o.Map.Current()
		vb, node := m.Route(sl.pkt.Key)
		memcached.SetVBucket(pkt, vb)
		sl.vb, sl.ordVB = vb, vb
		if !s.admit(sl, m.Nodes()[node].Addr) {
			b.Fatal("parked")
		}
		s.settle(sl)
	}
}

// e2e starts a proxy over one real memcached server and returns a client
// connection to it.
func e2e(b *testing.B) net.Conn {
	nodes := []string{startMemcached(b)}
	src := newTestSource(staticMap(b, 1, nodes, 1024))
	_, addr := startProxy(b, Options{Map: src})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

// benchRoundTrips sends batch copies of one request per round trip and reads
// the replies; each request is one op.
func benchRoundTrips(b *testing.B, c net.Conn, one []byte, batch int) {
	var p []byte
	for range batch {
		p = append(p, one...)
	}
	r := memcached.NewReader(c, memcached.ReaderOptions{BufSize: 64 << 10})
	var pkt memcached.Packet
	round := func() {
		if _, err := c.Write(p); err != nil {
			b.Fatal(err)
		}
		for range batch {
			if err := r.ReadResponse(&pkt); err != nil {
				b.Fatal(err)
			}
			if pkt.Status != memcached.StatusSuccess {
				b.Fatalf("status %v", pkt.Status)
			}
		}
	}
	for range 100 { // warm the buffers up
		round()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += batch {
		round()
	}
}

// BenchmarkEndToEnd measures GET and SET through the proxy to a real
// memcached server (100-byte values), one request per round trip (serial)
// and 100 per round trip (pipelined). allocs/op counts the whole process:
// client, proxy session and upstream pool.
func BenchmarkEndToEnd(b *testing.B) {
	value := make([]byte, 100)
	set := req(memcached.OpSet, 1, setExtras(0, 0), []byte("bench-key"), value)
	get := req(memcached.OpGet, 2, nil, []byte("bench-key"), nil)
	for _, bc := range []struct {
		name  string
		req   []byte
		batch int
	}{
		{"Set/serial", set, 1},
		{"Get/serial", get, 1},
		{"Set/pipelined", set, 100},
		{"Get/pipelined", get, 100},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := e2e(b)
			_ = c.SetDeadline(time.Time{})
			if _, err := c.Write(set); err != nil {
				b.Fatal(err)
			}
			var pkt memcached.Packet
			if err := memcached.NewReader(c, memcached.ReaderOptions{}).ReadResponse(&pkt); err != nil {
				b.Fatal(err)
			}
			benchRoundTrips(b, c, bc.req, bc.batch)
		})
	}
}
