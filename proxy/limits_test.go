package proxy

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
	"github.com/vbproxy/vbproxy/proxy/edge"
	"github.com/vbproxy/vbproxy/sim"
)

// TestRegressionReadYourWritesAcrossPoolConnections pins a bug: with two
// upstream connections per node picked by load, a pipelined "SET k; GET k"
// could travel on different connections and the GET could run first. Each
// session now uses one connection per node.
func TestRegressionReadYourWritesAcrossPoolConnections(t *testing.T) {
	_, _, addr, _ := simCluster(t, sim.Options{}, Options{PoolSize: 4})
	c := dial(t, addr)
	var p []byte
	for i := range 300 {
		key := fmt.Sprintf("ryw-%d", i%7)
		p = append(p, req(memcached.OpSetQ, uint32(2*i), setExtras(0, 0), []byte(key), []byte(fmt.Sprint(i)))...)
		p = append(p, req(memcached.OpGet, uint32(2*i+1), nil, []byte(key), nil)...)
	}
	c.write(p)
	for i := range 300 {
		h, b := c.read()
		if h.Opaque != uint32(2*i+1) || h.Status != memcached.StatusSuccess {
			t.Fatalf("reply %d: opaque %d status %v, want %d SUCCESS", i, h.Opaque, h.Status, 2*i+1)
		}
		if got := string(b[memcached.HeaderLen+int(h.ExtrasLen):]); got != fmt.Sprint(i) {
			t.Fatalf("GET after SETQ %d read %q: a later request overtook an earlier one", i, got)
		}
	}
}

func TestOversizedBodySkipped(t *testing.T) {
	_, _, addr, _ := simCluster(t, sim.Options{}, Options{MaxRequestSize: 1024})
	c := dial(t, addr)
	var p []byte
	p = append(p, req(memcached.OpSet, 1, setExtras(0, 0), []byte("big"), make([]byte, 2000))...)
	p = append(p, req(memcached.OpSet, 2, setExtras(0, 0), []byte("small"), []byte("ok"))...)
	p = append(p, req(memcached.OpGet, 3, nil, []byte("small"), nil)...)
	c.write(p)
	if h, b := c.read(); h.Opaque != 1 || h.Status != memcached.StatusE2BIG || h.Opcode != memcached.OpSet {
		t.Fatalf("oversized SET: %s opaque %d %v (%q), want SET opaque 1 E2BIG", h.Opcode, h.Opaque, h.Status, b[memcached.HeaderLen:])
	}
	if h, _ := c.read(); h.Opaque != 2 || h.Status != memcached.StatusSuccess {
		t.Fatalf("next SET: opaque %d %v, want 2 SUCCESS", h.Opaque, h.Status)
	}
	if h, _ := c.read(); h.Opaque != 3 || h.Status != memcached.StatusSuccess {
		t.Fatalf("GET: opaque %d %v, want 3 SUCCESS", h.Opaque, h.Status)
	}
}

func TestLongKeyEINVAL(t *testing.T) {
	_, _, addr, _ := simCluster(t, sim.Options{}, Options{})
	c := dial(t, addr)
	c.write(req(memcached.OpSet, 1, setExtras(0, 0), []byte(strings.Repeat("k", 251)), []byte("v")))
	if h, _ := c.read(); h.Status != memcached.StatusEINVAL || h.Opaque != 1 {
		t.Fatalf("251-byte key: %v opaque %d, want EINVAL opaque 1", h.Status, h.Opaque)
	}
	c.set(strings.Repeat("k", 250), "v") // the longest key works, on the same connection
}

func TestBadHeaderCloses(t *testing.T) {
	_, _, addr, _ := simCluster(t, sim.Options{}, Options{})
	tests := []struct {
		name string
		pkt  func() []byte
	}{
		{"bad magic", func() []byte { b := req(memcached.OpNoop, 1, nil, nil, nil); b[0] = 0x81; return b }},
		{"flexible framing magic", func() []byte { b := req(memcached.OpNoop, 1, nil, nil, nil); b[0] = 0x08; return b }},
		{"key longer than body", func() []byte { b := req(memcached.OpGet, 1, nil, []byte("abc"), nil); b[11] = 1; return b }},
		{"text protocol", func() []byte { return []byte("get foo bar baz quux quuz\r\n") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, addr)
			c.set("before", "1") // a working connection first
			c.write(tt.pkt())
			c.expectClosed()
			c2 := dial(t, addr) // other clients are unaffected
			c2.set("after", "1")
		})
	}
}

func TestClientAuth(t *testing.T) {
	_, srv, addr, _ := simCluster(t, sim.Options{}, Options{Users: map[string]string{"app": "s3cret"}})
	c := dial(t, addr)
	expect := func(r []byte, st memcached.Status) []byte {
		t.Helper()
		c.write(r)
		h, b := c.read()
		if h.Status != st {
			t.Fatalf("%s: %v (%q), want %v", h.Opcode, h.Status, b[memcached.HeaderLen:], st)
		}
		return b[memcached.HeaderLen+int(h.ExtrasLen)+int(h.KeyLen):]
	}
	expect(req(memcached.OpGet, 1, nil, []byte("k"), nil), memcached.StatusAuthError)
	expect(req(memcached.OpSetQ, 1, setExtras(0, 0), []byte("k"), []byte("v")), memcached.StatusAuthError)
	expect(req(memcached.OpStat, 1, nil, nil, nil), memcached.StatusAuthError)
	expect(req(memcached.OpSelectBucket, 1, nil, []byte("default"), nil), memcached.StatusEAccess)
	expect(req(memcached.OpNoop, 1, nil, nil, nil), memcached.StatusSuccess)
	if got := string(expect(req(memcached.OpSASLList, 1, nil, nil, nil), memcached.StatusSuccess)); got != "PLAIN" {
		t.Errorf("SASL_LIST_MECHS = %q, want PLAIN", got)
	}
	for _, bad := range []struct{ mech, msg string }{
		{"PLAIN", "\x00app\x00wrong"},
		{"PLAIN", "\x00nobody\x00s3cret"},
		{"PLAIN", "app\x00s3cret"},
		{"PLAIN", "other\x00app\x00s3cret"},
		{"SCRAM-SHA1", "n,,n=app,r=abc"},
	} {
		expect(req(memcached.OpSASLAuth, 2, nil, []byte(bad.mech), []byte(bad.msg)), memcached.StatusAuthError)
	}
	expect(req(memcached.OpGet, 3, nil, []byte("k"), nil), memcached.StatusAuthError)
	expect(req(memcached.OpSASLAuth, 4, nil, []byte("PLAIN"), []byte("\x00app\x00s3cret")), memcached.StatusSuccess)
	expect(req(memcached.OpGet, 5, nil, []byte("auth-missing"), nil), memcached.StatusKeyENOENT)
	expect(req(memcached.OpSelectBucket, 6, nil, []byte("default"), nil), memcached.StatusSuccess)
	c.set("authed", "yes")
	if st := srv.Stats(); st.AuthFailures != 5 {
		t.Errorf("AuthFailures = %d, want 5", st.AuthFailures)
	}
	// authzid equal to the user is accepted.
	c2 := dial(t, addr)
	c2.write(req(memcached.OpSASLAuth, 1, nil, []byte("PLAIN"), []byte("app\x00app\x00s3cret")))
	if h, _ := c2.read(); h.Status != memcached.StatusSuccess {
		t.Errorf("PLAIN with authzid=user: %v, want SUCCESS", h.Status)
	}
}

func TestMaxConnsRefused(t *testing.T) {
	_, srv, addr, _ := simCluster(t, sim.Options{}, Options{MaxConns: 2})
	a, b := dial(t, addr), dial(t, addr)
	a.set("x", "1")
	b.set("y", "1")
	c := dial(t, addr)
	c.expectClosed()
	if st := srv.Stats(); st.ConnsRefused != 1 || st.ConnsCurrent != 2 {
		t.Errorf("Stats: refused %d current %d, want 1 and 2", st.ConnsRefused, st.ConnsCurrent)
	}
	a.conn.Close()
	deadline := time.Now().Add(5 * time.Second)
	for srv.Stats().ConnsCurrent != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("ConnsCurrent = %d after a client left, want 1", srv.Stats().ConnsCurrent)
		}
		time.Sleep(5 * time.Millisecond)
	}
	d := dial(t, addr) // room again
	d.set("z", "1")
}

func TestIdleTimeout(t *testing.T) {
	_, _, addr, _ := simCluster(t, sim.Options{}, Options{IdleTimeout: 100 * time.Millisecond})
	c := dial(t, addr)
	c.set("idle", "1")
	c.expectClosed()
}

func TestProxyProtocol(t *testing.T) {
	e, err := edge.New(edge.Options{
		ProxyProtocol: edge.ProxyOptional,
		TrustedCIDRs:  []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
	})
	must(t, err)
	t.Cleanup(func() { _ = e.Close() })
	_, srv, addr, _ := simCluster(t, sim.Options{}, Options{Edge: e})
	c := dial(t, addr)
	c.write([]byte("PROXY TCP4 203.0.113.7 127.0.0.1 40001 11211\r\n"))
	c.set("pp", "1")
	clients := srv.Clients()
	if len(clients) != 1 || clients[0].Remote != "203.0.113.7:40001" {
		t.Fatalf("Clients() = %+v, want one client 203.0.113.7:40001", clients)
	}
	// Without a header, the socket address is used.
	d := dial(t, addr)
	d.set("pp2", "1")
	found := false
	for _, cl := range srv.Clients() {
		found = found || cl.Remote == d.conn.LocalAddr().String()
	}
	if !found {
		t.Errorf("Clients() = %+v, want one with %s", srv.Clients(), d.conn.LocalAddr())
	}
	// A malformed header closes the connection.
	bad := dial(t, addr)
	bad.write([]byte("PROXY TCP4 nonsense\r\n"))
	bad.expectClosed()
	// A v2 header (built by hand: signature, PROXY command, TCP over IPv4,
	// 12 address bytes) with the request right behind it in the same write.
	v2 := dial(t, addr)
	hdr := []byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c")
	hdr = append(hdr, 198, 51, 100, 9, 127, 0, 0, 1, 0x9c, 0x41, 0x2b, 0x67) // 198.51.100.9:40001 -> 127.0.0.1:11111
	v2.write(append(hdr, req(memcached.OpGet, 5, nil, []byte("pp"), nil)...))
	if h, _ := v2.read(); h.Opaque != 5 || h.Status != memcached.StatusSuccess {
		t.Fatalf("GET behind a v2 header: opaque %d %v", h.Opaque, h.Status)
	}
	found = false
	for _, cl := range srv.Clients() {
		found = found || cl.Remote == "198.51.100.9:40001"
	}
	if !found {
		t.Errorf("Clients() = %+v, want one from the v2 header's 198.51.100.9:40001", srv.Clients())
	}
}

// TestFlushAllowed checks that FLUSH reaches every node when allowed, and
// that a node refusing it fails the FLUSH.
func TestFlushAllowed(t *testing.T) {
	_, _, addr, _ := simCluster(t, sim.Options{AllowFlush: true}, Options{AllowFlush: true})
	c := dial(t, addr)
	for i := range 30 {
		c.set(fmt.Sprint("f", i), "v")
	}
	c.write(req(memcached.OpFlush, 9, nil, nil, nil))
	if h, _ := c.read(); h.Status != memcached.StatusSuccess || h.Opaque != 9 || h.Opcode != memcached.OpFlush {
		t.Fatalf("FLUSH: %s %v opaque %d", h.Opcode, h.Status, h.Opaque)
	}
	for i := range 30 {
		if _, st := c.get(fmt.Sprint("f", i)); st != memcached.StatusKeyENOENT {
			t.Fatalf("f%d after FLUSH: %v, want KEY_ENOENT", i, st)
		}
	}
	c.write(append(req(memcached.OpFlushQ, 10, nil, nil, nil), req(memcached.OpNoop, 11, nil, nil, nil)...))
	if h, _ := c.read(); h.Opcode != memcached.OpNoop || h.Opaque != 11 {
		t.Fatalf("FLUSHQ success should be silent: got %s opaque %d", h.Opcode, h.Opaque)
	}

	_, _, addr2, _ := simCluster(t, sim.Options{}, Options{AllowFlush: true}) // nodes refuse
	c2 := dial(t, addr2)
	c2.write(req(memcached.OpFlush, 12, nil, nil, nil))
	h, b := c2.read()
	if h.Status != memcached.StatusNotSupported || h.Opaque != 12 {
		t.Fatalf("FLUSH refused by nodes: %v opaque %d (%q), want NOT_SUPPORTED", h.Status, h.Opaque, b[memcached.HeaderLen:])
	}
}
