package edge

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// Sources on loopback: clients dial from trustedIP (in the trusted
// prefix of the tests) or from untrustedIP.
const (
	trustedIP   = "127.0.0.2"
	untrustedIP = "127.0.0.3"
)

var trustedCIDRs = []netip.Prefix{netip.MustParsePrefix(trustedIP + "/32")}

// result is one Admit outcome.
type result struct {
	a   *Admitted
	err error
}

// listener accepts on a free 127.0.0.1 port and runs Admit for each
// connection on its own goroutine, as the proxy does.
type listener struct {
	addr    string
	results chan result
	ctx     context.Context
	cancel  context.CancelFunc
}

func serve(t *testing.T, e *Edge) *listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &listener{addr: ln.Addr().String(), results: make(chan result, 64), ctx: ctx, cancel: cancel}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var admitted []net.Conn
	t.Cleanup(func() {
		ln.Close()
		cancel()
		wg.Wait()
		mu.Lock()
		for _, c := range admitted {
			c.Close()
		}
		mu.Unlock()
		e.Close()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				a, err := e.Admit(ctx, c)
				if a != nil {
					mu.Lock()
					admitted = append(admitted, a.Conn)
					mu.Unlock()
				}
				l.results <- result{a, err}
			})
		}
	})
	return l
}

// next waits for the next Admit outcome.
func (l *listener) next(t *testing.T) result {
	t.Helper()
	select {
	case r := <-l.results:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no Admit result within 10s")
		return result{}
	}
}

// admitted waits for the next outcome and fails unless it is a success.
func (l *listener) admitted(t *testing.T) *Admitted {
	t.Helper()
	r := l.next(t)
	if r.err != nil {
		t.Fatalf("Admit: %v", r.err)
	}
	return r.a
}

// refused waits for the next outcome and checks it is a refusal for want.
func (l *listener) refused(t *testing.T, want Reason) *RefusedError {
	t.Helper()
	r := l.next(t)
	var re *RefusedError
	if !errors.As(r.err, &re) {
		t.Fatalf("Admit = %+v, %v; want a refusal (%s)", r.a, r.err, want)
	}
	if re.Reason != want {
		t.Fatalf("refused for %s (%v), want %s", re.Reason, re.Err, want)
	}
	return re
}

// dialFrom connects to addr from the loopback address src.
func dialFrom(t *testing.T, src, addr string) *net.TCPConn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// send dials from src and writes each part, pausing between parts so
// that they arrive as separate reads.
func send(t *testing.T, src, addr string, parts ...[]byte) *net.TCPConn {
	t.Helper()
	c := dialFrom(t, src, addr)
	for i, p := range parts {
		if i > 0 {
			time.Sleep(50 * time.Millisecond)
		}
		if _, err := c.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// newEdge is New that fails the test.
func newEdge(t *testing.T, o Options) *Edge {
	t.Helper()
	e, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return e
}

// PROXY v2 headers built by hand from the specification
// (haproxy.org/download/3.4/doc/proxy-protocol.txt, section 2.2), never
// by the library under test.
var v2Sig = []byte{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A}

const (
	cmdLocal = 0x20 // version 2 << 4 | LOCAL
	cmdProxy = 0x21 // version 2 << 4 | PROXY

	famUnspec = 0x00
	famTCP4   = 0x11 // AF_INET << 4 | STREAM
	famUDP4   = 0x12 // AF_INET << 4 | DGRAM
	famTCP6   = 0x21 // AF_INET6 << 4 | STREAM
	famUnix   = 0x31 // AF_UNIX << 4 | STREAM
)

// v2 builds a header: signature, version/command, family/transport, the
// 16-bit big-endian length of what follows, then body.
func v2(cmd, fam byte, body ...[]byte) []byte {
	b := append([]byte{}, v2Sig...)
	rest := bytes.Join(body, nil)
	b = append(b, cmd, fam)
	b = binary.BigEndian.AppendUint16(b, uint16(len(rest)))
	return append(b, rest...)
}

// addr4 is the IPv4 address block: src, dst, src port, dst port.
func addr4(src, dst string, sport, dport uint16) []byte {
	b := append(netip.MustParseAddr(src).AsSlice(), netip.MustParseAddr(dst).AsSlice()...)
	b = binary.BigEndian.AppendUint16(b, sport)
	return binary.BigEndian.AppendUint16(b, dport)
}

// addr6 is the IPv6 address block.
func addr6(src, dst string, sport, dport uint16) []byte {
	s, d := netip.MustParseAddr(src).As16(), netip.MustParseAddr(dst).As16()
	b := append(s[:], d[:]...)
	b = binary.BigEndian.AppendUint16(b, sport)
	return binary.BigEndian.AppendUint16(b, dport)
}

// tlv is one type-length-value field.
func tlv(typ byte, val []byte) []byte {
	b := []byte{typ}
	b = binary.BigEndian.AppendUint16(b, uint16(len(val)))
	return append(b, val...)
}

// readAll reads exactly n bytes from a.Buffered and then a.Conn.
func readAll(t *testing.T, a *Admitted, n int) string {
	t.Helper()
	_ = a.Conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(io.LimitReader(io.MultiReader(bytes.NewReader(a.Buffered), a.Conn), int64(n)))
	if err != nil {
		t.Fatal(err)
	}
	return string(got)
}

// waitFor polls cond every 10ms for at most 10s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
