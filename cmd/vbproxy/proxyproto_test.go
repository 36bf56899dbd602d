package main

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
	"github.com/vbproxy/vbproxy/sim"
)

// PROXY protocol v2 headers built by hand from the specification
// (haproxy's proxy-protocol.txt, section 2.2), not by the library the
// proxy reads them with.

// proxyV2 is a v2 PROXY command for a TCP over IPv4 connection from src to
// dst: the 12-byte signature, version 2 and command PROXY (0x21), family
// AF_INET and protocol STREAM (0x11), the address block's length (12), then
// the source and destination addresses and ports, big-endian.
func proxyV2(src, dst netip.AddrPort) []byte {
	b := []byte("\r\n\r\n\x00\r\nQUIT\n")
	b = append(b, 0x21, 0x11, 0, 12)
	s, d := src.Addr().As4(), dst.Addr().As4()
	b = append(b, s[:]...)
	b = append(b, d[:]...)
	b = binary.BigEndian.AppendUint16(b, src.Port())
	return binary.BigEndian.AppendUint16(b, dst.Port())
}

// dialFrom connects to addr from the local address from ("127.0.0.2"),
// all on loopback.
func dialFrom(t *testing.T, from, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, from, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// refusedSilently reports whether the connection is closed without a reply
// after sending req.
func refusedSilently(t *testing.T, conn net.Conn, req []byte) bool {
	t.Helper()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second)) // hang guard
	_, _ = conn.Write(req)
	got, err := io.ReadAll(conn)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("connection still open after 20s")
		return false
	}
	return len(got) == 0
}

// TestProxyProtocolV2: with proxy_protocol required and trusted_cidrs, a
// trusted source's v2 header sets the client's address; the same header
// from an untrusted source, and a trusted connection without a header, are
// refused without a reply and counted by reason. A header in front of a
// TLS handshake works on a TLS listener.
func TestProxyProtocolV2(t *testing.T) {
	c := startSim(t, sim.Options{Nodes: 2})
	ca := newCA(t, "CA")
	tl, _ := tlsListener(t, ca, t.TempDir())
	tl.ProxyProtocol, tl.TrustedCIDRs = "optional", []string{"127.0.0.1"}
	cfg, sec := listenersConfig(t, c, nil,
		ListenerConfig{Address: "127.0.0.1:0", Bucket: "default", ProxyProtocol: "required", TrustedCIDRs: []string{"127.0.0.1/32"}},
		tl)
	r := startApp(t, cfg, sec)
	waitFor(t, "readyz 200", func() bool { code, _ := r.readyz(t); return code == 200 })
	dst := netip.MustParseAddrPort(r.addr(0))
	claimed := netip.MustParseAddrPort("127.1.2.3:5555")
	noop := memcached.AppendRequest(nil, memcached.OpNoop, 0, 1, 0, nil, nil, nil)
	remotes := func() []string {
		var out []string
		for _, cs := range r.app.buckets[0].srv.Clients() {
			out = append(out, cs.Remote)
		}
		return out
	}

	// Trusted: the header, then the session in the same segment.
	conn := dialFrom(t, "127.0.0.1", r.addr(0))
	if _, err := conn.Write(proxyV2(claimed, dst)); err != nil {
		t.Fatal(err)
	}
	cl := newMC(t, conn)
	if st := cl.set("pp", "v2"); st != memcached.StatusSuccess {
		t.Fatalf("SET after a trusted v2 header: %s", st)
	}
	if got := remotes(); !slices.Contains(got, claimed.String()) {
		t.Errorf("client addresses %q, want the header's %s", got, claimed)
	}

	// Untrusted source: the same header is refused.
	if !refusedSilently(t, dialFrom(t, "127.0.0.2", r.addr(0)), append(proxyV2(claimed, dst), noop...)) {
		t.Error("a v2 header from 127.0.0.2 (not in trusted_cidrs) was answered, want the connection closed")
	}
	// Trusted, but no header with proxy_protocol required.
	if !refusedSilently(t, dialFrom(t, "127.0.0.1", r.addr(0)), noop) {
		t.Error("a trusted connection without a header was answered, want it refused (proxy_protocol required)")
	}
	waitFor(t, "the refusals counted", func() bool {
		return listenerMetric(t, r, "vbproxy_listener_connections_refused_total", 0, `reason="untrusted_source"`) == 1 &&
			listenerMetric(t, r, "vbproxy_listener_connections_refused_total", 0, `reason="no_proxy_header"`) == 1
	})
	if got := listenerMetric(t, r, "vbproxy_listener_proxy_headers_total", 0, ""); got != 1 {
		t.Errorf("proxy_headers_total: %v, want 1", got)
	}

	// A header, then TLS, on the TLS listener.
	raw := dialFrom(t, "127.0.0.1", r.addr(1))
	tlsClaimed := netip.MustParseAddrPort("127.4.5.6:6666")
	if _, err := raw.Write(proxyV2(tlsClaimed, netip.MustParseAddrPort(r.addr(1)))); err != nil {
		t.Fatal(err)
	}
	tc := tls.Client(raw, clientTLS(ca, nil))
	if st, v := newMC(t, tc).get("pp"); st != memcached.StatusSuccess || v != "v2" {
		t.Errorf("GET over TLS after a v2 header: %s %q, want SUCCESS \"v2\"", st, v)
	}
	if got := remotes(); !slices.Contains(got, tlsClaimed.String()) {
		t.Errorf("client addresses %q, want the TLS client's header address %s", got, tlsClaimed)
	}
	// proxy_protocol optional: an untrusted source without a header is
	// served with its own address.
	plain := tls.Client(dialFrom(t, "127.0.0.2", r.addr(1)), clientTLS(ca, nil))
	if st, _ := newMC(t, plain).get("pp"); st != memcached.StatusSuccess {
		t.Errorf("optional, untrusted source without a header: GET %s, want SUCCESS", st)
	}
}

// TestProxyProtocolFlagTrustsEveryone: -proxy-protocol keeps working as
// proxy_protocol optional trusting every source, with a warning at start
// and on /readyz.
func TestProxyProtocolFlagTrustsEveryone(t *testing.T) {
	c := startSim(t, sim.Options{Nodes: 1})
	dir := t.TempDir()
	file := writeFile(t, dir, "vbproxy.yaml", `listeners: [{address: "127.0.0.1:0", bucket: default}]
cluster: {seeds: [`+c.SeedURL()+`], user: Administrator, password_env: PW}
admin: {address: "127.0.0.1:0"}
`)
	opts, err := parseFlags([]string{"-config", file, "-proxy-protocol"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cfg, sec, errs := loadConfig(opts, envMap(map[string]string{"PW": "password"}))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	logs := &logCapture{t: t}
	r := startAppLog(t, cfg, sec, logs.logger())
	waitFor(t, "readyz 200", func() bool { code, _ := r.readyz(t); return code == 200 })
	const warning = "listeners[0] (127.0.0.1:0): trusted_cidrs trusts every source: any client can claim any address in a PROXY header"
	if code, body := r.readyz(t); code != 200 || body != "ok\nwarning: "+warning+"\n" {
		t.Errorf("/readyz: got %d %q, want 200 with the warning", code, body)
	}
	if n := logs.count("WARN", map[string]string{"msg": warning}); n != 1 {
		t.Errorf("start log: %d %q warnings, want 1", n, warning)
	}
	conn := dialFrom(t, "127.0.0.3", r.addr(0))
	if _, err := conn.Write(proxyV2(netip.MustParseAddrPort("127.9.9.9:1"), netip.MustParseAddrPort(r.addr(0)))); err != nil {
		t.Fatal(err)
	}
	if st := newMC(t, conn).set("flag", "v"); st != memcached.StatusSuccess {
		t.Errorf("SET after a header from any source: %s", st)
	}
}
