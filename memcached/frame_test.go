package memcached

import (
	"bytes"
	"errors"
	"testing"
)

func TestFrame(t *testing.T) {
	get := AppendRequest(nil, OpGet, 7, 9, 0, nil, []byte("key"), nil)
	set := AppendRequest(nil, OpSet, 0, 1, 0, make([]byte, 8), []byte("k"), []byte("value"))
	long := AppendRequest(nil, OpGet, 0, 1, 0, nil, bytes.Repeat([]byte("k"), MaxKeyLen+1), nil)
	bad := bytes.Clone(get)
	bad[0] = 0x42
	contradict := bytes.Clone(get)
	contradict[2], contradict[3] = 0, 200 // key 200 > body 3

	for _, tc := range []struct {
		name        string
		buf         []byte
		n, want     int
		err         error
		recoverable bool
		status      Status
	}{
		{"empty", nil, 0, HeaderLen, nil, false, 0},
		{"partial header", get[:10], 0, HeaderLen, nil, false, 0},
		{"partial body", get[:HeaderLen+1], 0, len(get), nil, false, 0},
		{"whole", get, len(get), len(get), nil, false, 0},
		{"whole plus next", append(bytes.Clone(get), set...), len(get), len(get), nil, false, 0},
		{"set", set, len(set), len(set), nil, false, 0},
		{"bad magic", bad, 0, len(get), ErrBadMagic, false, 0},
		{"lengths", contradict, 0, len(get), ErrBadLengths, false, 0},
		{"key too long", long, 0, len(long), ErrKeyTooLong, true, StatusEINVAL},
		{"too large header only", set[:HeaderLen], 0, len(set), nil, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, n, want, err := Frame(tc.buf, MagicRequest, MaxKeyLen, 1<<20)
			if n != tc.n || want != tc.want {
				t.Errorf("n, want = %d, %d; want %d, %d", n, want, tc.n, tc.want)
			}
			if !errors.Is(err, tc.err) || (err == nil) != (tc.err == nil) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			var pe *ProtocolError
			if errors.As(err, &pe) && (pe.Recoverable != tc.recoverable || pe.Status != tc.status) {
				t.Errorf("recoverable %v status %v, want %v %v", pe.Recoverable, pe.Status, tc.recoverable, tc.status)
			}
		})
	}
	// A body over the limit is refused as soon as the header is there.
	_, _, want, err := Frame(set[:HeaderLen], MagicRequest, MaxKeyLen, 4)
	var pe *ProtocolError
	if !errors.As(err, &pe) || !pe.Recoverable || pe.Status != StatusE2BIG || want != len(set) {
		t.Errorf("over the limit: err %v want %d", err, want)
	}
}

func TestPacketLoad(t *testing.T) {
	pkt := AppendRequest(nil, OpSet, 3, 4, 5, []byte{1, 2, 3, 4, 5, 6, 7, 8}, []byte("key"), []byte("value"))
	var p Packet
	p.Load(pkt)
	pkt[30] = 'X' // Load copied: the source may be reused
	if p.Opcode != OpSet || p.Opaque != 4 || p.CAS != 5 || string(p.Key) != "key" || string(p.Value) != "value" || len(p.Extras) != 8 {
		t.Fatalf("loaded %+v key %q value %q", p.Header, p.Key, p.Value)
	}
	if !bytes.Equal(p.Bytes()[:30], pkt[:30]) {
		t.Error("Bytes differs from the packet")
	}
	big := AppendRequest(nil, OpSet, 0, 1, 0, make([]byte, 8), []byte("k"), make([]byte, 100<<10))
	p.Load(big)
	p.Load(pkt)
	if cap(p.buf) > retainLimit {
		t.Errorf("buffer of %d bytes kept after a small packet", cap(p.buf))
	}
}

func BenchmarkFrameLoad(b *testing.B) {
	pkt := AppendRequest(nil, OpGet, 0, 1, 0, nil, []byte("user:00000001"), nil)
	var p Packet
	b.ReportAllocs()
	for range b.N {
		_, n, _, err := Frame(pkt, MagicRequest, MaxKeyLen, DefaultMaxBody)
		if err != nil || n == 0 {
			b.Fatal(n, err)
		}
		p.Load(pkt[:n])
	}
}
