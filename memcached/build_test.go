package memcached

import (
	"bytes"
	"testing"
)

func TestAppendError(t *testing.T) {
	req := Header{Magic: MagicRequest, Opcode: OpSet, Opaque: 0x0a0b0c0d}
	got := AppendError(nil, &req, StatusE2BIG, "Too large")
	want := []byte{
		0x81, 0x01, 0x00, 0x00, // response, SET, no key
		0x00, 0x00, 0x00, 0x03, // no extras, raw, E2BIG
		0x00, 0x00, 0x00, 0x09, // body 9
		0x0a, 0x0b, 0x0c, 0x0d, // opaque echoed
		0, 0, 0, 0, 0, 0, 0, 0,
		'T', 'o', 'o', ' ', 'l', 'a', 'r', 'g', 'e',
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("AppendError:\n got % x\nwant % x", got, want)
	}
}

func TestAppendStatSeries(t *testing.T) {
	req := Header{Magic: MagicRequest, Opcode: OpStat, Opaque: 3}
	b := AppendStat(nil, &req, "pid", "42")
	b = AppendStat(b, &req, "curr_connections", "7")
	b = AppendResponse(b, &req, StatusSuccess, 0, nil, nil, nil)
	r := NewReader(bytes.NewReader(b), ReaderOptions{})
	var p Packet
	want := [][2]string{{"pid", "42"}, {"curr_connections", "7"}, {"", ""}}
	for i, w := range want {
		if err := r.ReadResponse(&p); err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if p.Opcode != OpStat || p.Opaque != 3 || string(p.Key) != w[0] || string(p.Value) != w[1] {
			t.Fatalf("packet %d: %+v key %q value %q, want %q=%q", i, p.Header, p.Key, p.Value, w[0], w[1])
		}
	}
}

func TestAppendNoAllocWithRoom(t *testing.T) {
	buf := make([]byte, 0, 256)
	req := Header{Opcode: OpVersion, Opaque: 1}
	allocs := testing.AllocsPerRun(100, func() {
		b := AppendResponse(buf[:0], &req, StatusSuccess, 0, nil, nil, []byte("1.6.0"))
		b = AppendRequest(b, OpGet, 5, 9, 0, nil, []byte("key"), nil)
		_ = AppendError(b, &req, StatusEINVAL, "Invalid arguments")
	})
	if allocs != 0 {
		t.Fatalf("builders allocated %.1f times with room in dst, want 0", allocs)
	}
}
