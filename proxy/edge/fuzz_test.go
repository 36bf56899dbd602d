package edge

import (
	"bytes"
	"testing"
)

// FuzzHeader checks the framing and the parser together on arbitrary first
// bytes: scanHeader never claims more bytes than it was given, never
// frames a header longer than the limits, is stable when more bytes
// follow, and parseHeader of a framed header either fails or yields
// addresses for a PROXY command.
func FuzzHeader(f *testing.F) {
	f.Add([]byte("PROXY TCP4 198.18.0.7 198.18.0.1 51234 11211\r\nget k\r\n"))
	f.Add([]byte("PROXY UNKNOWN\r\n"))
	f.Add([]byte("PROXY TCP6 2001:db8::7 2001:db8::1 1 2\r\n"))
	f.Add(v2(cmdProxy, famTCP4, addr4("198.18.0.7", "198.18.0.1", 1, 2), tlv(0x01, []byte("h2"))))
	f.Add(v2(cmdProxy, famTCP6, addr6("2001:db8::7", "2001:db8::1", 1, 2)))
	f.Add(v2(cmdLocal, famUnspec))
	f.Add(v2(cmdProxy, famUnix, make([]byte, 216)))
	f.Add(crcHeader(false))
	f.Add([]byte{0x80, 0x00, 0x00, 0x01})
	f.Add([]byte{0x16, 0x03, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		kind, n, err := scanHeader(b)
		if n < 0 || n > len(b) || n > maxHeaderLen {
			t.Fatalf("scanHeader(%q) n = %d of %d", b, n, len(b))
		}
		if kind == kindV1 && n > maxV1Len {
			t.Fatalf("v1 header of %d bytes", n)
		}
		if err != nil || n == 0 {
			return
		}
		k2, n2, err2 := scanHeader(append(bytes.Clone(b), "trailing bytes"...))
		if k2 != kind || n2 != n || err2 != nil {
			t.Fatalf("with more bytes: %v %d %v, was %v %d", k2, n2, err2, kind, n)
		}
		h, err := parseHeader(b[:n])
		if err != nil {
			return
		}
		if !h.local && (h.src == nil || h.dst == nil) {
			t.Fatalf("PROXY header without addresses: %+v", h)
		}
		if h.version != byte(kind-kindNone) {
			t.Fatalf("version %d for kind %v", h.version, kind)
		}
	})
}
