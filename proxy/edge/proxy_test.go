package edge

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Headers a trusted load balancer sends, each followed by the first client
// bytes, which must come back in Buffered (or on the connection).
func TestProxyHeaderAccepted(t *testing.T) {
	awsVPCE := tlv(0xEA, append([]byte{0x01}, "vpce-0a1b2c3d4e5f"...)) // AWS: subtype 1, VPC endpoint id
	for _, tc := range []struct {
		name    string
		parts   [][]byte // written with a pause between them
		remote  string   // "" = the socket's
		local   string
		version byte
		tlvs    []TLV
	}{
		{name: "v2 TCP over IPv4",
			parts:  [][]byte{append(v2(cmdProxy, famTCP4, addr4("198.18.0.7", "198.18.0.1", 51234, 11211)), "get k\r\n"...)},
			remote: "198.18.0.7:51234", local: "198.18.0.1:11211", version: 2},
		{name: "v2 TCP over IPv6",
			parts:  [][]byte{append(v2(cmdProxy, famTCP6, addr6("2001:db8::7", "2001:db8::1", 40000, 11211)), "get k\r\n"...)},
			remote: "[2001:db8::7]:40000", local: "[2001:db8::1]:11211", version: 2},
		{name: "v2 with TLVs",
			parts: [][]byte{append(v2(cmdProxy, famTCP4, addr4("198.18.0.7", "198.18.0.1", 51234, 11211),
				tlv(0x01, []byte("memcached")), tlv(0x04, make([]byte, 5)), awsVPCE), "get k\r\n"...)},
			remote: "198.18.0.7:51234", local: "198.18.0.1:11211", version: 2,
			tlvs: []TLV{{0x01, []byte("memcached")}, {0xEA, append([]byte{0x01}, "vpce-0a1b2c3d4e5f"...)}}},
		{name: "v2 LOCAL (a health check) keeps the socket's addresses",
			parts:   [][]byte{append(v2(cmdLocal, famUnspec), "get k\r\n"...)},
			version: 2},
		{name: "v2 LOCAL with an address block",
			parts:   [][]byte{append(v2(cmdLocal, famTCP4, addr4("198.18.0.7", "198.18.0.1", 1, 2)), "get k\r\n"...)},
			version: 2},
		{name: "v2 header split across reads",
			parts: [][]byte{v2(cmdProxy, famTCP4, addr4("198.18.0.7", "198.18.0.1", 51234, 11211))[:10],
				append(v2(cmdProxy, famTCP4, addr4("198.18.0.7", "198.18.0.1", 51234, 11211))[10:], "get k\r\n"...)},
			remote: "198.18.0.7:51234", local: "198.18.0.1:11211", version: 2},
		{name: "v1 TCP4",
			parts:  [][]byte{[]byte("PROXY TCP4 198.18.0.7 198.18.0.1 51234 11211\r\nget k\r\n")},
			remote: "198.18.0.7:51234", local: "198.18.0.1:11211", version: 1},
		{name: "v1 TCP6",
			parts:  [][]byte{[]byte("PROXY TCP6 2001:db8::7 2001:db8::1 40000 11211\r\nget k\r\n")},
			remote: "[2001:db8::7]:40000", local: "[2001:db8::1]:11211", version: 1},
		{name: "v1 UNKNOWN keeps the socket's addresses",
			parts:   [][]byte{[]byte("PROXY UNKNOWN ffff:f::1 ffff:f::2 65535 65535\r\nget k\r\n")},
			version: 1},
		{name: "v1 line split across reads",
			parts:  [][]byte{[]byte("PROXY TCP4 198.18."), []byte("0.7 198.18.0.1 51234 11211\r\nget k\r\n")},
			remote: "198.18.0.7:51234", local: "198.18.0.1:11211", version: 1},
		{name: "header alone, the client's bytes come later",
			parts:  [][]byte{[]byte("PROXY TCP4 198.18.0.7 198.18.0.1 51234 11211\r\n"), []byte("get k\r\n")},
			remote: "198.18.0.7:51234", local: "198.18.0.1:11211", version: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEdge(t, Options{ProxyProtocol: ProxyRequired, TrustedCIDRs: trustedCIDRs})
			l := serve(t, e)
			c := send(t, trustedIP, l.addr, tc.parts...)
			a := l.admitted(t)
			if _, ok := a.Conn.(*net.TCPConn); !ok {
				t.Errorf("Conn is %T, want *net.TCPConn", a.Conn)
			}
			wantRemote, wantLocal := tc.remote, tc.local
			if wantRemote == "" {
				wantRemote, wantLocal = c.LocalAddr().String(), c.RemoteAddr().String()
			}
			if a.Remote.String() != wantRemote || a.Local.String() != wantLocal {
				t.Errorf("Remote %s Local %s, want %s %s", a.Remote, a.Local, wantRemote, wantLocal)
			}
			if !a.ProxyHeader || a.ProxyVersion != tc.version {
				t.Errorf("ProxyHeader %v version %d, want true %d", a.ProxyHeader, a.ProxyVersion, tc.version)
			}
			if !reflect.DeepEqual(a.TLVs, tc.tlvs) {
				t.Errorf("TLVs %q, want %q", a.TLVs, tc.tlvs)
			}
			if got := readAll(t, a, len("get k\r\n")); got != "get k\r\n" {
				t.Errorf("client bytes after the header: %q, want %q", got, "get k\r\n")
			}
			st := e.Stats()
			if st.Admitted != 1 || st.WithHeader != 1 || st.Admitting != 0 {
				t.Errorf("Stats %+v, want Admitted 1 WithHeader 1 Admitting 0", st)
			}
		})
	}
}

// crcHeader is a v2 header with a PP2_TYPE_CRC32C TLV computed as the
// specification says: CRC32c over the whole header with the field zeroed.
func crcHeader(corrupt bool) []byte {
	h := v2(cmdProxy, famTCP4, addr4("198.18.0.7", "198.18.0.1", 51234, 11211), tlv(0x03, make([]byte, 4)))
	sum := crc32.Checksum(h, crc32.MakeTable(crc32.Castagnoli))
	if corrupt {
		sum ^= 1
	}
	binary.BigEndian.PutUint32(h[len(h)-4:], sum)
	return h
}

func TestProxyHeaderCRC32C(t *testing.T) {
	e := newEdge(t, Options{ProxyProtocol: ProxyRequired, TrustedCIDRs: trustedCIDRs})
	l := serve(t, e)
	send(t, trustedIP, l.addr, crcHeader(false))
	if a := l.admitted(t); a.Remote.String() != "198.18.0.7:51234" {
		t.Fatalf("Remote %s", a.Remote)
	}
	send(t, trustedIP, l.addr, crcHeader(true))
	re := l.refused(t, ReasonBadHeader)
	if !strings.Contains(re.Err.Error(), "CRC32C mismatch") {
		t.Fatalf("err %v, want a CRC32C mismatch", re.Err)
	}
}

func TestProxyHeaderRefused(t *testing.T) {
	long := append([]byte("PROXY TCP4 "), bytes.Repeat([]byte("1"), 120)...)
	for _, tc := range []struct {
		name   string
		parts  [][]byte
		closeW bool // close the write side after the parts (a truncated header)
		reason Reason
		errHas string
	}{
		{"v2 truncated: closed inside the address block",
			[][]byte{v2(cmdProxy, famTCP4, addr4("198.18.0.7", "198.18.0.1", 1, 2))[:20]}, true,
			ReasonBadHeader, "connection closed in a PROXY header after 20 bytes"},
		{"v2 truncated: stalls inside the address block",
			[][]byte{v2(cmdProxy, famTCP4, addr4("198.18.0.7", "198.18.0.1", 1, 2))[:20]}, false,
			ReasonBadHeader, "incomplete PROXY header (20 bytes) after header_timeout 300ms"},
		{"v2 signature prefix then silence",
			[][]byte{v2Sig[:6]}, false, ReasonBadHeader, "incomplete PROXY header (6 bytes)"},
		{"v1 truncated: no line end",
			[][]byte{[]byte("PROXY TCP4 198.18.0.7")}, true, ReasonBadHeader, "connection closed in a PROXY header after 21 bytes"},
		{"v2 oversized length", [][]byte{append(v2Sig, cmdProxy, famTCP4, 0x10, 0x01)}, false,
			ReasonBadHeader, "header too long: v2 length 4097 > 4096"},
		{"v2 at the largest length is read", [][]byte{v2(cmdProxy, famTCP4, addr4("198.18.0.7", "198.18.0.1", 1, 2),
			tlv(0x04, make([]byte, 4096-12-3)))[:2000]}, true, ReasonBadHeader, "connection closed in a PROXY header after 2000 bytes"},
		{"v1 oversized line", [][]byte{long}, false, ReasonBadHeader, "header too long: v1 line without \\n in 107 bytes"},
		{"v1 bad address", [][]byte{[]byte("PROXY TCP4 198.18.0.7 nope 1 2\r\n")}, false, ReasonBadHeader, "proxyproto: invalid address"},
		{"v1 missing fields", [][]byte{[]byte("PROXY TCP4 198.18.0.7\r\n")}, false, ReasonBadHeader, "proxyproto: can't read address family or protocol"},
		{"v1 without CR", [][]byte{[]byte("PROXY TCP4 198.18.0.7 198.18.0.1 1 2\n")}, false, ReasonBadHeader, "must end with \\r\\n"},
		{"v2 version 3", [][]byte{append(v2Sig, 0x31, famTCP4, 0, 0)}, false, ReasonBadHeader, "unsupported proxy protocol version and command"},
		{"v2 UDP", [][]byte{v2(cmdProxy, famUDP4, addr4("198.18.0.7", "198.18.0.1", 1, 2))}, false,
			ReasonBadHeader, "transport 0x12 is not a stream"},
		{"v2 length shorter than the address block", [][]byte{v2(cmdProxy, famTCP4, make([]byte, 6))}, false,
			ReasonBadHeader, "proxyproto: invalid length"},
		{"v2 malformed TLV", [][]byte{v2(cmdProxy, famTCP4, addr4("198.18.0.7", "198.18.0.1", 1, 2), []byte{0x01, 0x00, 0x09, 'x'})}, false,
			ReasonBadHeader, "proxyproto: truncated TLV"},
		{"no header at all", [][]byte{[]byte("get k\r\n")}, false, ReasonNoHeader, "does not start with a PROXY header"},
		{"binary request, no header", [][]byte{{0x80, 0x00, 0x00, 0x01}}, false, ReasonNoHeader, "does not start with a PROXY header"},
		{"nothing sent", nil, false, ReasonNoHeader, "nothing received within header_timeout 300ms"},
		{"closed at once (a TCP health check)", nil, true, ReasonClosed, "EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEdge(t, Options{ProxyProtocol: ProxyRequired, TrustedCIDRs: trustedCIDRs, HeaderTimeout: 300 * time.Millisecond})
			l := serve(t, e)
			c := send(t, trustedIP, l.addr, tc.parts...)
			if tc.closeW {
				_ = c.CloseWrite()
			}
			re := l.refused(t, tc.reason)
			if !strings.Contains(re.Err.Error(), tc.errHas) {
				t.Errorf("err %q, want it to contain %q", re.Err, tc.errHas)
			}
			// The connection was closed: the client reads EOF.
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil {
				t.Errorf("client read %d, %v after the refusal; want EOF", n, err)
			}
			if st := e.Stats(); st.Refused[tc.reason] != 1 || st.Admitted != 0 || st.Admitting != 0 {
				t.Errorf("Stats %+v, want one refusal for %s", st, tc.reason)
			}
		})
	}
}

// Only trusted sources may send a header: anyone else would choose the
// address the proxy logs and limits by.
func TestProxyHeaderUntrustedSource(t *testing.T) {
	header := v2(cmdProxy, famTCP4, addr4("198.18.0.7", "198.18.0.1", 51234, 11211))
	t.Run("optional: header refused", func(t *testing.T) {
		e := newEdge(t, Options{ProxyProtocol: ProxyOptional, TrustedCIDRs: trustedCIDRs})
		l := serve(t, e)
		send(t, untrustedIP, l.addr, header)
		re := l.refused(t, ReasonUntrusted)
		if want := "PROXY v2 header from a source not in trusted_cidrs"; re.Err.Error() != want {
			t.Fatalf("err %q, want %q", re.Err, want)
		}
		if !strings.HasPrefix(re.Remote, untrustedIP+":") {
			t.Fatalf("Remote %q, want the socket's %s", re.Remote, untrustedIP)
		}
		send(t, untrustedIP, l.addr, []byte("PROXY TCP4 198.18.0.7 198.18.0.1 51234 11211\r\n"))
		l.refused(t, ReasonUntrusted)
	})
	t.Run("optional: no header served with the socket's address", func(t *testing.T) {
		e := newEdge(t, Options{ProxyProtocol: ProxyOptional, TrustedCIDRs: trustedCIDRs})
		l := serve(t, e)
		c := send(t, untrustedIP, l.addr, []byte("get k\r\n"))
		a := l.admitted(t)
		if a.Remote.String() != c.LocalAddr().String() || a.ProxyHeader {
			t.Fatalf("Remote %s ProxyHeader %v, want %s false", a.Remote, a.ProxyHeader, c.LocalAddr())
		}
		if got := readAll(t, a, 7); got != "get k\r\n" {
			t.Fatalf("client bytes %q", got)
		}
	})
	t.Run("required: refused before reading", func(t *testing.T) {
		e := newEdge(t, Options{ProxyProtocol: ProxyRequired, TrustedCIDRs: trustedCIDRs})
		l := serve(t, e)
		dialFrom(t, untrustedIP, l.addr) // sends nothing: refused at once, no header_timeout wait
		start := time.Now()
		re := l.refused(t, ReasonUntrusted)
		if d := time.Since(start); d > time.Second {
			t.Fatalf("refused after %s, want at once", d)
		}
		if want := "source not in trusted_cidrs and proxy_protocol is required"; re.Err.Error() != want {
			t.Fatalf("err %q, want %q", re.Err, want)
		}
	})
}

func TestProxyOptional(t *testing.T) {
	e := newEdge(t, Options{ProxyProtocol: ProxyOptional, TrustedCIDRs: trustedCIDRs, HeaderTimeout: 200 * time.Millisecond})
	l := serve(t, e)

	// A trusted source may also connect without a header (e.g. a sidecar).
	c := send(t, trustedIP, l.addr, []byte{0x80, 0x0a, 0x00, 0x00})
	a := l.admitted(t)
	if a.ProxyHeader || a.Remote.String() != c.LocalAddr().String() || !bytes.Equal(a.Buffered, []byte{0x80, 0x0a, 0x00, 0x00}) {
		t.Fatalf("no header: ProxyHeader %v Remote %s Buffered %x", a.ProxyHeader, a.Remote, a.Buffered)
	}

	// An idle pooled connection that sends nothing is served once the
	// header timeout has passed, with nothing buffered.
	c = dialFrom(t, trustedIP, l.addr)
	a = l.admitted(t)
	if a.ProxyHeader || a.Buffered != nil || a.Remote.String() != c.LocalAddr().String() {
		t.Fatalf("idle: ProxyHeader %v Buffered %q Remote %s", a.ProxyHeader, a.Buffered, a.Remote)
	}
	if _, err := c.Write([]byte("version\r\n")); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, a, 9); got != "version\r\n" {
		t.Fatalf("idle client's later bytes: %q", got)
	}
	// Its deadline was cleared: it can stay idle past the header timeout.
	time.Sleep(300 * time.Millisecond)
	if _, err := c.Write([]byte("quit\r\n")); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, a, 6); got != "quit\r\n" {
		t.Fatalf("after idling: %q", got)
	}

	// A header still works.
	send(t, trustedIP, l.addr, []byte("PROXY TCP4 198.18.0.7 198.18.0.1 51234 11211\r\n"))
	if a := l.admitted(t); a.Remote.String() != "198.18.0.7:51234" {
		t.Fatalf("header: Remote %s", a.Remote)
	}
	if st := e.Stats(); st.Admitted != 3 || st.WithHeader != 1 {
		t.Fatalf("Stats %+v, want Admitted 3 WithHeader 1", st)
	}
}

// With proxy_protocol off nothing is read: even header-like bytes are the
// session's.
func TestProxyOff(t *testing.T) {
	e := newEdge(t, Options{})
	l := serve(t, e)
	line := "PROXY TCP4 198.18.0.7 198.18.0.1 51234 11211\r\n"
	c := send(t, untrustedIP, l.addr, []byte(line))
	a := l.admitted(t)
	if a.ProxyHeader || a.Buffered != nil || a.Remote.String() != c.LocalAddr().String() || a.TLS != nil {
		t.Fatalf("off: %+v", a)
	}
	if got := readAll(t, a, len(line)); got != line {
		t.Fatalf("read %q, want %q", got, line)
	}
}

func TestAdmitCanceled(t *testing.T) {
	e := newEdge(t, Options{ProxyProtocol: ProxyRequired, TrustedCIDRs: trustedCIDRs, HeaderTimeout: time.Minute})
	l := serve(t, e)
	dialFrom(t, trustedIP, l.addr)
	waitFor(t, "Admitting 1", func() bool { return e.Stats().Admitting == 1 })
	l.cancel()
	l.refused(t, ReasonCanceled)
	if st := e.Stats(); st.Admitting != 0 || st.Refused[ReasonCanceled] != 1 {
		t.Fatalf("Stats %+v", st)
	}
}

func TestTrustedIPv4MappedSource(t *testing.T) {
	e := newEdge(t, Options{ProxyProtocol: ProxyRequired, TrustedCIDRs: trustedCIDRs})
	for addr, want := range map[string]bool{
		"127.0.0.2:1":          true,
		"[::ffff:127.0.0.2]:1": true,
		"127.0.0.3:1":          false,
		"[::1]:1":              false,
	} {
		tcp, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.trusted(tcp); got != want {
			t.Errorf("trusted(%s) = %v, want %v", addr, got, want)
		}
	}
}
