package memcached

import (
	"bytes"
	"testing"
)

func BenchmarkHeaderDecode(b *testing.B) {
	wire := AppendRequest(nil, OpGet, 115, 42, 0, nil, []byte("0123456789abcdef"), nil)
	var h Header
	b.ReportAllocs()
	for b.Loop() {
		h.Decode(wire)
	}
	if h.KeyLen != 16 {
		b.Fatal("bad decode")
	}
}

func BenchmarkHeaderEncode(b *testing.B) {
	h := Header{Magic: MagicRequest, Opcode: OpGet, KeyLen: 16, VBucket: 115, BodyLen: 16, Opaque: 42}
	buf := make([]byte, HeaderLen)
	b.ReportAllocs()
	for b.Loop() {
		h.Encode(buf)
	}
}

// loopReader replays the same bytes forever, so the benchmark measures the
// Reader and not a growing input.
type loopReader struct {
	data []byte
	off  int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], l.data[l.off:])
		n += c
		l.off = (l.off + c) % len(l.data)
	}
	return n, nil
}

func BenchmarkReadGetRequest(b *testing.B) {
	pkt := AppendRequest(nil, OpGet, 0, 1, 0, nil, []byte("0123456789abcdef"), nil)
	r := NewReader(&loopReader{data: bytes.Repeat(pkt, 64)}, ReaderOptions{})
	var p Packet
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	for b.Loop() {
		if err := r.ReadRequest(&p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadSetRequest1KiB(b *testing.B) {
	pkt := AppendRequest(nil, OpSet, 0, 1, 0, make([]byte, 8), []byte("0123456789abcdef"), make([]byte, 1024))
	r := NewReader(&loopReader{data: bytes.Repeat(pkt, 16)}, ReaderOptions{})
	var p Packet
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	for b.Loop() {
		if err := r.ReadRequest(&p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendResponse(b *testing.B) {
	req := Header{Opcode: OpGet, Opaque: 9}
	buf := make([]byte, 0, 256)
	val := make([]byte, 100)
	flags := []byte{0, 0, 0, 0}
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendResponse(buf[:0], &req, StatusSuccess, 1, flags, nil, val)
	}
}
