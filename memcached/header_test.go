package memcached

import (
	"bytes"
	"testing"
)

func TestHeaderDecode(t *testing.T) {
	tests := []struct {
		name string
		wire []byte
		want Header
	}{
		{
			name: "GET request for key foo on vBucket 115",
			wire: []byte{
				0x80, 0x00, 0x00, 0x03, // magic, GET, key length 3
				0x00, 0x00, 0x00, 0x73, // extras 0, datatype 0, vBucket 115
				0x00, 0x00, 0x00, 0x03, // body length 3
				0xde, 0xad, 0xbe, 0xef, // opaque
				0, 0, 0, 0, 0, 0, 0, 0, // CAS
			},
			want: Header{Magic: MagicRequest, Opcode: OpGet, KeyLen: 3, VBucket: 115, BodyLen: 3, Opaque: 0xdeadbeef},
		},
		{
			name: "NOT_MY_VBUCKET response with a CAS",
			wire: []byte{
				0x81, 0x01, 0x00, 0x00, // magic, SET, no key
				0x00, 0x00, 0x00, 0x07, // extras 0, datatype 0, status NOT_MY_VBUCKET
				0x00, 0x00, 0x01, 0x00, // body 256
				0x00, 0x00, 0x00, 0x2a, // opaque 42
				0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
			},
			want: Header{Magic: MagicResponse, Opcode: OpSet, Status: StatusNotMyVBucket, BodyLen: 256, Opaque: 42, CAS: 0x0102030405060708},
		},
		{
			name: "SET request with extras, datatype and big key length",
			wire: []byte{
				0x80, 0x01, 0x00, 0xfa, // SET, key 250
				0x08, 0x01, 0x03, 0xff, // extras 8, datatype JSON, vBucket 1023
				0x00, 0x00, 0x01, 0x06, // body 262 = 8+250+4
				0x00, 0x00, 0x00, 0x00,
				0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
			},
			want: Header{Magic: MagicRequest, Opcode: OpSet, KeyLen: 250, ExtrasLen: 8, DataType: 1, VBucket: 1023, BodyLen: 262, CAS: ^uint64(0)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Header
			got.Decode(tt.wire)
			if got != tt.want {
				t.Fatalf("Decode:\n got %+v\nwant %+v", got, tt.want)
			}
			enc := make([]byte, HeaderLen)
			got.Encode(enc)
			if !bytes.Equal(enc, tt.wire) {
				t.Fatalf("Encode round trip:\n got % x\nwant % x", enc, tt.wire)
			}
		})
	}
}

func TestHeaderValueLen(t *testing.T) {
	h := Header{KeyLen: 3, ExtrasLen: 8, BodyLen: 20}
	if got := h.ValueLen(); got != 9 {
		t.Fatalf("ValueLen = %d, want 9", got)
	}
	h.BodyLen = 5
	if got := h.ValueLen(); got != -6 {
		t.Fatalf("ValueLen with contradicting lengths = %d, want -6", got)
	}
}

func TestInPlaceRewrites(t *testing.T) {
	pkt := AppendRequest(nil, OpGetKQ, 0, 7, 0, nil, []byte("k"), nil)
	SetOpaque(pkt, 0x01020304)
	SetVBucket(pkt, 999)
	SetOpcode(pkt, OpGetK)
	SetCAS(pkt, 0xfeedface)
	var h Header
	h.Decode(pkt)
	want := Header{Magic: MagicRequest, Opcode: OpGetK, KeyLen: 1, VBucket: 999, BodyLen: 1, Opaque: 0x01020304, CAS: 0xfeedface}
	if h != want {
		t.Fatalf("after rewrites got %+v, want %+v", h, want)
	}
}
