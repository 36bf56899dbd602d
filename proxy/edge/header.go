package edge

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"net"

	proxyproto "github.com/pires/go-proxyproto"
)

// PROXY protocol framing, from the specification
// (haproxy.org/download/3.4/doc/proxy-protocol.txt): v1 is one text line
// "PROXY ...\r\n" of at most 107 bytes; v2 is a 16-byte prefix (12-byte
// signature, version/command, family/transport, 16-bit big-endian length)
// followed by length bytes of addresses and TLVs.
const (
	maxV1Len     = 107
	v2PrefixLen  = 16
	maxV2BodyLen = 4096 // proxyproto.MaxV2HeaderSize; a larger header is refused
	maxHeaderLen = v2PrefixLen + maxV2BodyLen
)

var (
	sigV1 = []byte("PROXY")
	sigV2 = []byte("\r\n\r\n\x00\r\nQUIT\n")
)

// headerKind is what scanHeader found at the start of a connection.
type headerKind uint8

const (
	kindUndecided headerKind = iota // a prefix of a signature: more bytes decide
	kindNone                        // no PROXY header: the bytes belong to the session
	kindV1
	kindV2
)

func (k headerKind) String() string {
	switch k {
	case kindV1:
		return "v1"
	case kindV2:
		return "v2"
	case kindNone:
		return "none"
	}
	return "undecided"
}

// errHeaderTooLong reports a header longer than the specification (v1) or
// maxV2BodyLen (v2) allows.
var errHeaderTooLong = errors.New("header too long")

// scanHeader looks at the first bytes of a connection, without I/O. For
// kindV1 and kindV2, n is the header's length once b holds all of it and 0
// while it is incomplete. It reads at most the header's bytes.
func scanHeader(b []byte) (kind headerKind, n int, err error) {
	if isPrefix(b, sigV1) {
		if len(b) < len(sigV1) {
			return kindUndecided, 0, nil
		}
		line := b[:min(len(b), maxV1Len)]
		if i := bytes.IndexByte(line, '\n'); i >= 0 {
			return kindV1, i + 1, nil
		}
		if len(b) >= maxV1Len {
			return kindV1, 0, fmt.Errorf("%w: v1 line without \\n in %d bytes", errHeaderTooLong, maxV1Len)
		}
		return kindV1, 0, nil
	}
	if isPrefix(b, sigV2) {
		if len(b) < v2PrefixLen {
			if len(b) < len(sigV2) {
				return kindUndecided, 0, nil
			}
			return kindV2, 0, nil
		}
		body := int(binary.BigEndian.Uint16(b[14:16]))
		if body > maxV2BodyLen {
			return kindV2, 0, fmt.Errorf("%w: v2 length %d > %d", errHeaderTooLong, body, maxV2BodyLen)
		}
		if len(b) >= v2PrefixLen+body {
			return kindV2, v2PrefixLen + body, nil
		}
		return kindV2, 0, nil
	}
	return kindNone, 0, nil
}

// isPrefix reports whether b and sig agree on their common length.
func isPrefix(b, sig []byte) bool {
	k := min(len(b), len(sig))
	return bytes.Equal(b[:k], sig[:k])
}

// TLV is one type-length-value field of a PROXY v2 header (AWS VPC
// endpoint id 0xEA, GCP 0xE0, ALPN 0x01, ...). NOOP padding (0x04) is
// left out. Value aliases no buffer.
type TLV struct {
	Type  byte
	Value []byte
}

// header is a parsed PROXY header.
type header struct {
	version byte
	local   bool     // LOCAL command (v2) or UNKNOWN protocol (v1): use the socket's addresses
	src     net.Addr // the client as the load balancer saw it (nil when local)
	dst     net.Addr // the address the client connected to (nil when local)
	tlvs    []TLV
}

// parseHeader parses raw, exactly one complete header as scanHeader framed
// it, and checks what the library leaves to the receiver: a CRC32C TLV, if
// present, must match (the specification says a receiver that supports
// it drops the connection when it does not), TLVs must be well formed, and
// a PROXY command must carry stream (TCP or Unix) addresses.
func parseHeader(raw []byte) (*header, error) {
	br := bufio.NewReaderSize(bytes.NewReader(raw), max(len(raw), 16))
	h, err := proxyproto.Read(br)
	if err != nil {
		return nil, err
	}
	if br.Buffered() != 0 {
		return nil, fmt.Errorf("header of %d bytes parsed as %d", len(raw), len(raw)-br.Buffered())
	}
	out := &header{version: h.Version, local: h.Command.IsLocal() || h.TransportProtocol.IsUnspec()}
	if h.Version == 2 {
		tlvs, err := h.TLVs()
		if err != nil {
			return nil, err
		}
		for _, t := range tlvs {
			if t.Type != proxyproto.PP2_TYPE_NOOP { // padding
				out.tlvs = append(out.tlvs, TLV{Type: byte(t.Type), Value: t.Value}) // the library copied Value
			}
		}
		if err := checkCRC(raw, tlvs); err != nil {
			return nil, err
		}
	}
	if !out.local {
		if !h.TransportProtocol.IsStream() {
			return nil, fmt.Errorf("transport %#02x is not a stream (TCP or Unix)", byte(h.TransportProtocol))
		}
		out.src, out.dst = h.SourceAddr, h.DestinationAddr
		if out.src == nil || out.dst == nil {
			return nil, errors.New("header without addresses")
		}
	}
	return out, nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// checkCRC verifies a PP2_TYPE_CRC32C TLV: CRC32C over the whole header
// with the checksum field set to zero.
func checkCRC(raw []byte, tlvs []proxyproto.TLV) error {
	for _, t := range tlvs {
		if t.Type != proxyproto.PP2_TYPE_CRC32C {
			continue
		}
		if len(t.Value) != 4 {
			return fmt.Errorf("CRC32C TLV of %d bytes, want 4", len(t.Value))
		}
		// The value is a sub-slice of the header's TLV bytes, which the
		// library copied: find it in raw by its TLV framing.
		at := tlvOffset(raw, proxyproto.PP2_TYPE_CRC32C)
		if at < 0 {
			return errors.New("CRC32C TLV not found in the raw header")
		}
		want := binary.BigEndian.Uint32(raw[at : at+4])
		zeroed := bytes.Clone(raw)
		clear(zeroed[at : at+4])
		if got := crc32.Checksum(zeroed, castagnoli); got != want {
			return fmt.Errorf("CRC32C mismatch: header says %08x, computed %08x", want, got)
		}
	}
	return nil
}

// tlvOffset returns the offset in raw (a v2 header) of the value of the
// first TLV of type typ, or -1.
func tlvOffset(raw []byte, typ proxyproto.PP2Type) int {
	var addrLen int
	switch proxyproto.AddressFamilyAndProtocol(raw[13] & 0xf0) {
	case proxyproto.AddressFamilyAndProtocol(0x10):
		addrLen = 12
	case proxyproto.AddressFamilyAndProtocol(0x20):
		addrLen = 36
	case proxyproto.AddressFamilyAndProtocol(0x30):
		addrLen = 216
	}
	for i := v2PrefixLen + addrLen; i+3 <= len(raw); {
		l := int(binary.BigEndian.Uint16(raw[i+1 : i+3]))
		if proxyproto.PP2Type(raw[i]) == typ {
			if i+3+l > len(raw) {
				return -1
			}
			return i + 3
		}
		i += 3 + l
	}
	return -1
}
