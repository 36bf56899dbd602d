package upstream

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
)

// fuzzServer answers whatever the client writes with data, then closes.
func fuzzServer(data []byte) (client net.Conn, wait func()) {
	client, server := net.Pipe()
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = io.Copy(io.Discard, server) })
	wg.Go(func() {
		_, _ = server.Write(data)
		server.Close()
	})
	return client, func() { client.Close(); wg.Wait() }
}

// The handshake survives any server bytes: it returns (an error, usually)
// and never panics or hangs.
func FuzzBootstrap(f *testing.F) {
	resp := func(op memcached.Opcode, opaque uint32, st memcached.Status, value string) []byte {
		return memcached.AppendResponse(nil, &memcached.Header{Opcode: op, Opaque: opaque}, st, 0, nil, nil, []byte(value))
	}
	cat := func(bs ...[]byte) []byte {
		var out []byte
		for _, b := range bs {
			out = append(out, b...)
		}
		return out
	}
	f.Add(cat(resp(memcached.OpHello, 1, memcached.StatusUnknownCommand, "")), false)
	f.Add(cat(resp(memcached.OpHello, 1, memcached.StatusSuccess, ""), resp(memcached.OpHello, 2, memcached.StatusSuccess, "\x00\x07"),
		resp(memcached.OpSelectBucket, 3, memcached.StatusSuccess, "")), false)
	f.Add(cat(resp(memcached.OpHello, 1, memcached.StatusSuccess, "\x00\x07\x00\x08"), resp(memcached.OpSASLList, 2, memcached.StatusSuccess, "PLAIN"),
		resp(memcached.OpSASLAuth, 3, memcached.StatusSuccess, ""), resp(memcached.OpSelectBucket, 4, memcached.StatusSuccess, "")), true)
	f.Add(cat(resp(memcached.OpHello, 1, memcached.StatusSuccess, ""), resp(memcached.OpSASLList, 2, memcached.StatusSuccess, "SCRAM-SHA1"),
		resp(memcached.OpSASLAuth, 3, memcached.StatusAuthContinue, "r=abc,s=c2FsdA==,i=4096")), true)
	f.Add([]byte{0x81, 0x1f, 0xff, 0xff, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}, true)
	f.Fuzz(func(t *testing.T, data []byte, auth bool) {
		o := Options{Bucket: "default", Agent: "fuzz"}
		if auth {
			o.User, o.Password = "user", "password"
		}
		nc, wait := fuzzServer(data)
		defer wait()
		_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
		b := &bootstrapper{w: nc, rd: memcached.NewReader(nc, memcached.ReaderOptions{MaxBody: 1 << 16}), o: &o, scram: &scramClients{}}
		_ = b.run()
	})
}

// The connection reader survives any server bytes: every request in flight
// completes at most once, and only a response with its opaque completes it.
func FuzzReadLoop(f *testing.F) {
	p := &Pool{addr: "fuzz", o: Options{QueueSize: 8}.withDefaults()}
	f.Add(memcached.AppendResponse(nil, &memcached.Header{Opcode: memcached.OpGet, Opaque: 1 << 3}, memcached.StatusSuccess, 0, nil, nil, []byte("v")))
	f.Add([]byte{0x81, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9})
	f.Fuzz(func(t *testing.T, data []byte) {
		c := newConn(p)
		c.failed = make(chan struct{})
		var mu sync.Mutex
		count := map[*Request]int{}
		done := CompleterFunc(func(r *Request) {
			mu.Lock()
			count[r]++
			mu.Unlock()
		})
		for i := range 8 {
			r := &Request{Packet: getPacket(uint32(i), "k"), Done: done}
			c.pending.Add(1)
			c.tab.add(r, 1<<62, false)
		}
		nc, wait := fuzzServer(data)
		c.cr.nc = nc
		c.rd.Reset(&c.cr)
		c.readLoop() // returns at EOF or on a fatal error
		wait()
		for r, n := range count {
			if n != 1 {
				t.Fatalf("request %p completed %d times", r, n)
			}
		}
		if got := len(count) + c.tab.Len(); got != 8 {
			t.Fatalf("completed %d + in flight %d = %d, want 8", len(count), c.tab.Len(), got)
		}
	})
}
