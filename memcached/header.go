package memcached

import "encoding/binary"

// HeaderLen is the size of a binary-protocol header.
const HeaderLen = 24

// Magic bytes of the plain binary protocol. A plain memcached client sends only
// MagicRequest; the flexible-framing (0x08/0x18) and server-initiated
// (0x82/0x83) magics are protocol errors from a client.
const (
	MagicRequest  byte = 0x80
	MagicResponse byte = 0x81
)

// MaxKeyLen is the longest key memcached and Couchbase accept.
const MaxKeyLen = 250

// DefaultMaxBody is the largest request body accepted by default: a 20 MiB
// value plus the largest extras (255 bytes) and key (250 bytes).
const DefaultMaxBody = 20<<20 + 255 + MaxKeyLen

// Header is a decoded request or response header. Bytes 6-7 of the wire
// header are the vBucket id in a request and the status in a response; Decode
// and Encode use VBucket or Status according to Magic (Status for
// MagicResponse and MagicServerResponse).
type Header struct {
	Magic     byte
	Opcode    Opcode
	KeyLen    uint16
	ExtrasLen uint8
	DataType  uint8
	VBucket   uint16 // requests: the vBucket id
	Status    Status // responses: the status
	BodyLen   uint32 // extras + key + value
	Opaque    uint32 // echoed unchanged by the server
	CAS       uint64
}

// Decode fills h from the first HeaderLen bytes of b. It does not validate:
// the Reader does that. b must hold at least HeaderLen bytes.
func (h *Header) Decode(b []byte) {
	_ = b[HeaderLen-1] // one bounds check
	h.Magic = b[0]
	h.Opcode = Opcode(b[1])
	h.KeyLen = binary.BigEndian.Uint16(b[2:4])
	h.ExtrasLen = b[4]
	h.DataType = b[5]
	if h.Magic == MagicResponse || h.Magic == MagicServerResponse {
		h.Status = Status(binary.BigEndian.Uint16(b[6:8]))
		h.VBucket = 0
	} else {
		h.VBucket = binary.BigEndian.Uint16(b[6:8])
		h.Status = 0
	}
	h.BodyLen = binary.BigEndian.Uint32(b[8:12])
	h.Opaque = binary.BigEndian.Uint32(b[12:16])
	h.CAS = binary.BigEndian.Uint64(b[16:24])
}

// Encode writes h into the first HeaderLen bytes of b.
func (h *Header) Encode(b []byte) {
	_ = b[HeaderLen-1]
	b[0] = h.Magic
	b[1] = byte(h.Opcode)
	binary.BigEndian.PutUint16(b[2:4], h.KeyLen)
	b[4] = h.ExtrasLen
	b[5] = h.DataType
	if h.Magic == MagicResponse || h.Magic == MagicServerResponse {
		binary.BigEndian.PutUint16(b[6:8], uint16(h.Status))
	} else {
		binary.BigEndian.PutUint16(b[6:8], h.VBucket)
	}
	binary.BigEndian.PutUint32(b[8:12], h.BodyLen)
	binary.BigEndian.PutUint32(b[12:16], h.Opaque)
	binary.BigEndian.PutUint64(b[16:24], h.CAS)
}

// ValueLen is the length of the value: the body less extras and key. It is
// negative when the lengths contradict each other.
func (h *Header) ValueLen() int {
	return int(h.BodyLen) - int(h.KeyLen) - int(h.ExtrasLen)
}

// SetOpaque rewrites the opaque of the encoded packet pkt in place.
func SetOpaque(pkt []byte, opaque uint32) {
	binary.BigEndian.PutUint32(pkt[12:16], opaque)
}

// SetVBucket rewrites the vBucket field of the encoded request pkt in place.
func SetVBucket(pkt []byte, vb uint16) {
	binary.BigEndian.PutUint16(pkt[6:8], vb)
}

// SetOpcode rewrites the opcode of the encoded packet pkt in place.
func SetOpcode(pkt []byte, op Opcode) {
	pkt[1] = byte(op)
}

// SetCAS rewrites the CAS of the encoded packet pkt in place.
func SetCAS(pkt []byte, cas uint64) {
	binary.BigEndian.PutUint64(pkt[16:24], cas)
}
