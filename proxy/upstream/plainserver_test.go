package upstream

import (
	"io"
	"net"
	"sync"
	"testing"

	"github.com/vbproxy/vbproxy/memcached"
)

// startPlainServer is a scriptable server for what fakeKV's request loop
// hides (how the bytes arrive, arbitrary response bytes): it accepts
// connections, answers the bootstrap of a client without credentials as
// plain memcached does (the empty HELLO probe: UNKNOWN_COMMAND), and hands
// each connection to serve on a goroutine of its own. Cleanup closes the
// listener and the connections and waits for the goroutines.
func startPlainServer(t testing.TB, serve func(nc net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		conns  = map[net.Conn]bool{}
		closed bool
	)
	wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			if closed {
				mu.Unlock()
				nc.Close()
				return
			}
			conns[nc] = true
			mu.Unlock()
			wg.Go(func() {
				defer func() {
					nc.Close()
					mu.Lock()
					delete(conns, nc)
					mu.Unlock()
				}()
				if plainHello(nc) {
					serve(nc)
				}
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		closed = true
		for nc := range conns {
			nc.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// plainHello reads the bootstrap's HELLO probe (a bare header) and answers
// UNKNOWN_COMMAND. It reports whether the client can go on.
func plainHello(nc net.Conn) bool {
	var b [memcached.HeaderLen]byte
	if _, err := io.ReadFull(nc, b[:]); err != nil {
		return false
	}
	var h memcached.Header
	h.Decode(b[:])
	if h.Magic != memcached.MagicRequest || h.Opcode != memcached.OpHello || h.BodyLen != 0 {
		return false
	}
	_, err := nc.Write(memcached.AppendError(nil, &h, memcached.StatusUnknownCommand, "Unknown command"))
	return err == nil
}

// answerAll frames the whole requests at the start of buf and appends a
// response to each (GET: the key as the value; anything else: success) to
// out. It returns out and the bytes consumed.
func answerAll(buf, out []byte) ([]byte, int) {
	off := 0
	for {
		h, n, _, err := memcached.Frame(buf[off:], memcached.MagicRequest, memcached.MaxKeyLen, memcached.DefaultMaxBody)
		if err != nil || n == 0 {
			return out, off
		}
		pkt := buf[off : off+n]
		key := pkt[memcached.HeaderLen+int(h.ExtrasLen) : memcached.HeaderLen+int(h.ExtrasLen)+int(h.KeyLen)]
		if h.Opcode == memcached.OpGet {
			out = memcached.AppendResponse(out, &h, memcached.StatusSuccess, 1, []byte{0, 0, 0, 0}, nil, key)
		} else {
			out = memcached.AppendResponse(out, &h, memcached.StatusSuccess, 1, nil, nil, nil)
		}
		off += n
	}
}
