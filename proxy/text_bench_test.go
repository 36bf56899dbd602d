package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
	"github.com/vbproxy/vbproxy/proxy/eventloop"
)

// BenchmarkTextParsePath measures a loop's per-command work for a text
// "get k" and "set k 0 0 10" up to the upstream write, as
// BenchmarkRoutingPath does for binary: frame the line in the read buffer,
// parse it, check the data block, build the binary request in the slot
// (memcached.AppendTextToBinary) with its reply context, load the map and
// route the key, and the per-vBucket ordering bookkeeping of sending and
// completing it. Steady state allocates nothing.
func BenchmarkTextParsePath(b *testing.B) {
	for _, bc := range []struct {
		name string
		cmd  func(i int) string
	}{
		{"Get", func(i int) string { return fmt.Sprintf("get user:%08d\r\n", i) }},
		{"Set", func(i int) string { return fmt.Sprintf("set user:%08d 0 0 10\r\n0123456789\r\n", i) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var stream []byte
			for i := range 1000 {
				stream = append(stream, bc.cmd(i)...)
			}
			s, sl, lp := benchTextSession(b)
			off := 0
			b.ReportAllocs()
			b.SetBytes(int64(len(stream) / 1000))
			b.ResetTimer()
			for range b.N {
				if off == len(stream) {
					off = 0
				}
				off += textParseOne(b, s, sl, lp, stream[off:])
			}
		})
	}
}

// benchTextSession is a text session on a loop that is not running (the
// benchmark's goroutine owns it), in front of a proxy whose map spreads
// 1024 vBuckets over three nodes.
func benchTextSession(b testing.TB) (*session, *slot, *eventloop.Loop) {
	servers := []string{"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"}
	srv, err := New(Options{Map: newTestSource(staticMap(b, 1, servers, 1024))})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	lp, err := eventloop.New(eventloop.Options{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	ls := newLoopState(srv, lp, 0, 1)
	lst := &listener{Listener: srv.o.listener()}
	lst.setUsers(nil)
	s := newSession(ls, lst, -1, "bench", "bench")
	if !s.detect('g') {
		b.Fatal("text not detected")
	}
	sl := &slot{sess: s}
	sl.req.Done = sl
	return s, sl, lp
}

// textParseOne does textCommand's work for the command at the start of
// buf, with textKeyed and forward's routing up to the upstream send, and
// returns the bytes consumed.
func textParseOne(b testing.TB, s *session, sl *slot, lp *eventloop.Loop, buf []byte) int {
	lineEnd, next, st := memcached.TextFrame(buf, s.srv.maxRequestSize())
	if st != memcached.FrameLine {
		b.Fatalf("frame: %v", st)
	}
	req := &s.treq
	if err := memcached.ParseText(buf[:lineEnd], s.textValueLimit(), req); err != nil {
		b.Fatalf("parse: %q", err.Reply)
	}
	key, value, n := req.Key, []byte(nil), next
	switch {
	case req.Cmd.MultiKey():
		key, _ = req.NextKey(0)
	case req.DataLen > 0:
		n = next + req.DataLen
		var derr *memcached.TextError
		if value, derr = req.CheckData(buf[next:n]); derr != nil {
			b.Fatalf("data: %q", derr.Reply)
		}
	}
	sl.pkt.Adopt(memcached.AppendTextToBinary(sl.pkt.Reuse(), req, key, 0, value))
	sl.tr = req.Reply()
	h := &sl.pkt.Header
	sl.op, sl.opaque, sl.start = h.Opcode, h.Opaque, lp.Now()
	pkt := sl.pkt.Bytes()
	memcached.SetOpcode(pkt, upstreamOp(sl.op))
	m := s.srv.o.Map.Current()
	vb, node := m.Route(sl.pkt.Key)
	memcached.SetVBucket(pkt, vb)
	sl.vb, sl.ordVB = vb, vb
	if !s.admit(sl, m.Nodes()[node].Addr) {
		b.Fatal("parked")
	}
	s.settle(sl)
	return n
}

// TestTextParsePathAllocs pins BenchmarkTextParsePath's steady state: no
// allocation per command.
func TestTextParsePathAllocs(t *testing.T) {
	for _, cmd := range []string{"get user:00000001\r\n", "set user:00000001 0 0 10\r\n0123456789\r\n"} {
		s, sl, lp := benchTextSession(t)
		buf := []byte(cmd)
		textParseOne(t, s, sl, lp, buf) // warm the slot's buffers up
		if a := testing.AllocsPerRun(1000, func() { textParseOne(t, s, sl, lp, buf) }); a != 0 {
			t.Errorf("%q: %v allocs per command, want 0", cmd, a)
		}
	}
}

// BenchmarkTextEndToEnd measures text get and set through the proxy to a
// real memcached server (100-byte values), one command per round trip
// (serial) and 100 per round trip (pipelined), as BenchmarkEndToEnd does
// for binary. allocs/op counts the whole process: client, proxy session
// and upstream connection.
func BenchmarkTextEndToEnd(b *testing.B) {
	v := strings.Repeat("v", 100)
	set := "set bench-key 0 0 100\r\n" + v + "\r\n"
	get := "get bench-key\r\n"
	for _, bc := range []struct {
		name       string
		cmd, reply string
		batch      int
	}{
		{"Set/serial", set, "STORED\r\n", 1},
		{"Get/serial", get, "VALUE bench-key 0 100\r\n" + v + "\r\nEND\r\n", 1},
		{"Set/pipelined", set, "STORED\r\n", 100},
		{"Get/pipelined", get, "VALUE bench-key 0 100\r\n" + v + "\r\nEND\r\n", 100},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := e2e(b)
			_ = c.SetDeadline(time.Time{})
			benchTextRoundTrips(b, c, bc.cmd, bc.reply, bc.batch)
		})
	}
}

// benchTextRoundTrips writes batch copies of cmd per round trip and reads
// batch copies of reply (checked); each command is one op.
func benchTextRoundTrips(b *testing.B, c net.Conn, cmd, reply string, batch int) {
	p := []byte(strings.Repeat(cmd, batch))
	want := strings.Repeat(reply, batch)
	got := make([]byte, len(want))
	r := bufio.NewReaderSize(c, 64<<10)
	if _, err := io.WriteString(c, "set bench-key 0 0 100\r\n"+strings.Repeat("v", 100)+"\r\n"); err != nil {
		b.Fatal(err)
	}
	if l, err := r.ReadString('\n'); l != "STORED\r\n" {
		b.Fatalf("set bench-key: %q %v", l, err)
	}
	round := func() {
		if _, err := c.Write(p); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(r, got); err != nil {
			b.Fatal(err)
		}
		if string(got) != want {
			b.Fatalf("reply %q, want %q", got[:min(len(got), 200)], want[:min(len(want), 200)])
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
