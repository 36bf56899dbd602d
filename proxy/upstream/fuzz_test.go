package upstream

import (
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
)

func fuzzResp(op memcached.Opcode, opaque uint32, st memcached.Status, value string) []byte {
	return memcached.AppendResponse(nil, &memcached.Header{Opcode: op, Opaque: opaque}, st, 0, nil, nil, []byte(value))
}

func cat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

// connFuzzCase is what the fuzz server sends on its next connection.
type connFuzzCase struct {
	data  []byte
	early bool // with the HELLO reply (the bytes the bootstrap read past), not after the requests
}

// The connection survives any response bytes from a server over a real
// socket: nothing panics, every Send that returned nil completes exactly
// once (a response with its own opaque and a valid RespBuf, or ErrProtocol,
// ErrConnClosed, ErrTimeout), and the connection closes cleanly.
func FuzzConnResponses(f *testing.F) {
	const queue, sends = 8, 8
	// A fresh connection's wire opaques: slot i of the 8-slot table, first
	// generation: 1<<3 | i.
	op := func(i int) uint32 { return 1<<3 | uint32(i) }
	var valid, reversed []byte
	for i := range sends {
		valid = append(valid, fuzzResp(memcached.OpGet, op(i), memcached.StatusSuccess, "v")...)
		reversed = append(reversed, fuzzResp(memcached.OpGet, op(sends-1-i), memcached.StatusKeyENOENT, "Not found")...)
	}
	huge := fuzzResp(memcached.OpGet, op(0), memcached.StatusSuccess, "")
	huge[8], huge[9], huge[10], huge[11] = 0x02, 0x00, 0x00, 0x00 // body 32 MiB: over the limit, skipped
	f.Add(valid, false)
	f.Add(reversed, false)
	f.Add(valid, true)
	f.Add(cat(valid[:len(valid)/2], valid[:30]), false)
	f.Add(cat(fuzzResp(memcached.OpGet, op(0), memcached.StatusSuccess, "a"), fuzzResp(memcached.OpGet, op(0), memcached.StatusSuccess, "again")), false)
	f.Add(fuzzResp(memcached.OpSet, op(0), memcached.StatusSuccess, ""), false)
	f.Add(cat(huge, valid), false)
	f.Add([]byte{0x80, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8}, false)
	f.Add([]byte{0x81, 0x00, 0, 3, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 'x'}, false)

	var next atomic.Pointer[connFuzzCase]
	reqBytes := sends * len(getPacket(0, "k"))
	addr := startPlainServer(f, func(nc net.Conn) {
		fc := next.Load()
		if !fc.early {
			if _, err := io.ReadFull(nc, make([]byte, reqBytes)); err != nil {
				return
			}
		}
		_, _ = nc.Write(fc.data)
		// Returning closes the connection: the client reads EOF after data.
	})
	h := newHarness(f)
	shared := h.loop()

	f.Fuzz(func(t *testing.T, data []byte, early bool) {
		next.Store(&connFuzzCase{data: data, early: early})
		l := &testLoop{t: t, lp: shared.lp}
		n := NewNode(addr, Options{QueueSize: queue, OperationTimeout: 5 * time.Second, MinBackoff: time.Hour, MaxBackoff: time.Hour})
		defer n.Close()
		c := &testConn{l: l, closed: make(chan struct{})}
		l.do(func() {
			c.Conn = NewConn(n, l.lp, func() {
				if c.closes.Add(1) == 1 {
					close(c.closed)
				}
			})
		})
		waitFor(t, "the dial's result", func() bool {
			var s connState
			l.do(func() { s = c.state })
			return s != connDialing
		})
		done := newRecorder(t, sends)
		reqs := getRequests(sends, "k", done, 0)
		accepted := 0
		l.do(func() {
			for _, r := range reqs {
				if c.Send(r) == nil {
					accepted++
				}
			}
		})
		if !early && accepted != sends {
			t.Fatalf("%d of %d Sends accepted on a fresh connection, want all", accepted, sends)
		}
		for _, r := range done.wait(t, accepted) {
			switch {
			case r.err == nil:
				if r.resp.Opcode != memcached.OpGet || r.resp.Opaque != wireOpaque(r.req.Packet) {
					t.Errorf("response %s opaque %#x to GET with opaque %#x", r.resp.Opcode, r.resp.Opaque, wireOpaque(r.req.Packet))
				}
			case errors.Is(r.err, ErrProtocol), r.err == ErrConnClosed, r.err == ErrTimeout:
			default:
				t.Errorf("completion error %v, want ErrProtocol, ErrConnClosed or ErrTimeout", r.err)
			}
		}
		c.close()
		c.waitClosed(t)
		done.none(t)
		var pending int
		l.do(func() { pending = c.Pending() })
		if pending != 0 {
			t.Errorf("Pending after Close = %d, want 0", pending)
		}
	})
}
