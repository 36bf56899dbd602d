package bench

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/vbproxy/vbproxy/memcached"
)

func binReply(op memcached.Opcode, opaque uint32, status memcached.Status, value []byte) []byte {
	req := memcached.Header{Magic: memcached.MagicRequest, Opcode: op, Opaque: opaque}
	var extras []byte
	if op == memcached.OpGet && status == memcached.StatusSuccess {
		extras = make([]byte, 4)
	}
	return memcached.AppendResponse(nil, &req, status, 0, extras, nil, value)
}

func TestBinaryCodecRead(t *testing.T) {
	val := []byte("12345")
	for _, tc := range []struct {
		name      string
		wire      []byte
		isGet     bool
		opaque    uint32
		out       outcome
		label     string
		protoErr  bool
		transport error
	}{
		{"get hit", binReply(memcached.OpGet, 7, memcached.StatusSuccess, val), true, 7, outHit, "", false, nil},
		{"get miss", binReply(memcached.OpGet, 7, memcached.StatusKeyENOENT, []byte("Not found")), true, 7, outMiss, "", false, nil},
		{"set stored", binReply(memcached.OpSet, 9, memcached.StatusSuccess, nil), false, 9, outStored, "", false, nil},
		{"set E2BIG", binReply(memcached.OpSet, 9, memcached.StatusE2BIG, []byte("Too large")), false, 9, outError, "E2BIG", false, nil},
		{"set KEY_ENOENT is an error", binReply(memcached.OpSet, 9, memcached.StatusKeyENOENT, nil), false, 9, outError, "KEY_ENOENT", false, nil},
		{"get NMVB", binReply(memcached.OpGet, 1, memcached.StatusNotMyVBucket, nil), true, 1, outError, "NOT_MY_VBUCKET", false, nil},
		{"unknown status", binReply(memcached.OpGet, 1, 0x4242, nil), true, 1, outError, "unknown_status", false, nil},
		{"short value", binReply(memcached.OpGet, 1, memcached.StatusSuccess, []byte("1")), true, 1, outError, "bad_value", false, nil},
		{"wrong opaque", binReply(memcached.OpGet, 2, memcached.StatusSuccess, val), true, 1, outError, "", true, nil},
		{"wrong opcode", binReply(memcached.OpSet, 1, memcached.StatusSuccess, nil), true, 1, outError, "", true, nil},
		{"request magic", memcached.AppendRequest(nil, memcached.OpGet, 0, 1, 0, nil, []byte("k"), nil), true, 1, outError, "", true, nil},
		{"truncated", binReply(memcached.OpGet, 1, memcached.StatusSuccess, val)[:30], true, 1, outError, "", false, io.ErrUnexpectedEOF},
		{"empty", nil, true, 1, outError, "", false, io.EOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newBinaryCodec(bytes.NewReader(tc.wire), len(val))
			out, label, err := c.read(tc.isGet, tc.opaque)
			checkRead(t, out, label, err, tc.out, tc.label, tc.protoErr, tc.transport)
		})
	}
}

func checkRead(t *testing.T, out outcome, label string, err error, wantOut outcome, wantLabel string, protoErr bool, transport error) {
	t.Helper()
	switch {
	case protoErr:
		if !errors.Is(err, errProtocol) {
			t.Fatalf("err = %v, want a protocol error", err)
		}
		return
	case transport != nil:
		if !errors.Is(err, transport) {
			t.Fatalf("err = %v, want %v", err, transport)
		}
		return
	case err != nil:
		t.Fatalf("err = %v, want nil", err)
	}
	if out != wantOut || label != wantLabel {
		t.Errorf("read = (%d, %q), want (%d, %q)", out, label, wantOut, wantLabel)
	}
}

func TestBinaryCodecAppend(t *testing.T) {
	c := newBinaryCodec(nil, 3)
	b := c.appendSet(nil, []byte("key"), []byte("val"), 5)
	b = c.appendGet(b, []byte("key"), 6)
	r := memcached.NewReader(bytes.NewReader(b), memcached.ReaderOptions{})
	var p memcached.Packet
	if err := r.ReadRequest(&p); err != nil {
		t.Fatal(err)
	}
	if p.Opcode != memcached.OpSet || p.Opaque != 5 || string(p.Key) != "key" || string(p.Value) != "val" || len(p.Extras) != 8 {
		t.Errorf("set = %s opaque %d key %q value %q extras %d; want SET 5 key val 8",
			p.Opcode, p.Opaque, p.Key, p.Value, len(p.Extras))
	}
	if err := r.ReadRequest(&p); err != nil {
		t.Fatal(err)
	}
	if p.Opcode != memcached.OpGet || p.Opaque != 6 || string(p.Key) != "key" || len(p.Value) != 0 || len(p.Extras) != 0 {
		t.Errorf("get = %s opaque %d key %q; want GET 6 key", p.Opcode, p.Opaque, p.Key)
	}
}

func TestASCIICodecRead(t *testing.T) {
	for _, tc := range []struct {
		name      string
		wire      string
		isGet     bool
		out       outcome
		label     string
		protoErr  bool
		transport error
	}{
		{"get hit", "VALUE k 0 5\r\n12345\r\nEND\r\n", true, outHit, "", false, nil},
		{"get hit with cas", "VALUE k 0 5 99\r\n12345\r\nEND\r\n", true, outHit, "", false, nil},
		{"get miss", "END\r\n", true, outMiss, "", false, nil},
		{"set stored", "STORED\r\n", false, outStored, "", false, nil},
		{"not stored", "NOT_STORED\r\n", false, outError, "NOT_STORED", false, nil},
		{"server error", "SERVER_ERROR out of memory\r\n", false, outError, "SERVER_ERROR", false, nil},
		{"client error on get", "CLIENT_ERROR bad command line format\r\n", true, outError, "CLIENT_ERROR", false, nil},
		{"error", "ERROR\r\n", true, outError, "ERROR", false, nil},
		{"wrong length", "VALUE k 0 2\r\n12\r\nEND\r\n", true, outError, "bad_value", false, nil},
		{"STORED to a get", "STORED\r\n", true, outError, "", true, nil},
		{"END to a set", "END\r\n", false, outError, "", true, nil},
		{"garbage", "HELLO\r\n", true, outError, "", true, nil},
		{"no CR", "END\n", true, outError, "", true, nil},
		{"bad VALUE", "VALUE k 0\r\n", true, outError, "", true, nil},
		{"negative length", "VALUE k 0 -1\r\n", true, outError, "", true, nil},
		{"no CRLF after data", "VALUE k 0 5\r\n12345xxEND\r\n", true, outError, "", true, nil},
		{"no END", "VALUE k 0 5\r\n12345\r\nVALUE\r\n", true, outError, "", true, nil},
		{"long line", strings.Repeat("x", asciiBufSize+10) + "\r\n", true, outError, "", true, nil},
		{"truncated data", "VALUE k 0 5\r\n123", true, outError, "", false, io.ErrUnexpectedEOF},
		{"truncated line", "STOR", false, outError, "", false, io.ErrUnexpectedEOF},
		{"empty", "", true, outError, "", false, io.EOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newASCIICodec(strings.NewReader(tc.wire), 5)
			out, label, err := c.read(tc.isGet, 0)
			checkRead(t, out, label, err, tc.out, tc.label, tc.protoErr, tc.transport)
		})
	}
}

func TestASCIICodecAppend(t *testing.T) {
	c := newASCIICodec(nil, 3)
	b := c.appendSet(nil, []byte("k1"), []byte("abc"), 0)
	b = c.appendGet(b, []byte("k1"), 0)
	if got, want := string(b), "set k1 0 0 3\r\nabc\r\nget k1\r\n"; got != want {
		t.Errorf("requests = %q, want %q", got, want)
	}
}

func TestASCIICodecPipelined(t *testing.T) {
	wire := "STORED\r\nVALUE a 0 3\r\nabc\r\nEND\r\nEND\r\n"
	c := newASCIICodec(strings.NewReader(wire), 3)
	for i, want := range []struct {
		isGet bool
		out   outcome
	}{{false, outStored}, {true, outHit}, {true, outMiss}} {
		out, _, err := c.read(want.isGet, 0)
		if err != nil || out != want.out {
			t.Fatalf("reply %d = %d, %v; want %d, nil", i, out, err, want.out)
		}
	}
}

// FuzzASCIIRead feeds arbitrary bytes to the ASCII reply reader: it must
// return (never panic or hang), and an error-free outcome must be a known one.
func FuzzASCIIRead(f *testing.F) {
	for _, s := range []string{"VALUE k 0 5\r\n12345\r\nEND\r\n", "END\r\n", "STORED\r\n", "SERVER_ERROR x\r\n",
		"VALUE k 0 99999999999\r\n", "VALUE k 0 5 1\r\n"} {
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, isGet bool) {
		c := newASCIICodec(bytes.NewReader(data), 5)
		for range 4 {
			out, label, err := c.read(isGet, 0)
			if err != nil {
				return
			}
			if out == outError && label == "" {
				t.Fatalf("error outcome without a label for %q", data)
			}
		}
	})
}

// FuzzBinaryRead does the same for binary replies.
func FuzzBinaryRead(f *testing.F) {
	f.Add(binReply(memcached.OpGet, 1, memcached.StatusSuccess, []byte("12345")), true)
	f.Add(binReply(memcached.OpSet, 1, memcached.StatusE2BIG, nil), false)
	f.Fuzz(func(t *testing.T, data []byte, isGet bool) {
		c := newBinaryCodec(bytes.NewReader(data), 5)
		for range 4 {
			out, label, err := c.read(isGet, 1)
			if err != nil {
				return
			}
			if out == outError && label == "" {
				t.Fatalf("error outcome without a label for %x", data)
			}
		}
	})
}

func BenchmarkBinaryRoundTrip(b *testing.B) {
	// One get request built and one hit reply parsed per op: the generator's
	// per-operation CPU cost outside the kernel.
	val := bytes.Repeat([]byte("v"), 100)
	reply := binReply(memcached.OpGet, 1, memcached.StatusSuccess, val)
	r := &repeatReader{b: reply}
	c := newBinaryCodec(r, len(val))
	buf := make([]byte, 0, 256)
	key := []byte("vbbench:000001")
	b.ReportAllocs()
	for b.Loop() {
		buf = c.appendGet(buf[:0], key, 1)
		if _, _, err := c.read(true, 1); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkASCIIRoundTrip(b *testing.B) {
	val := bytes.Repeat([]byte("v"), 100)
	reply := []byte("VALUE vbbench:000001 0 100\r\n" + string(val) + "\r\nEND\r\n")
	c := newASCIICodec(&repeatReader{b: reply}, len(val))
	buf := make([]byte, 0, 256)
	key := []byte("vbbench:000001")
	b.ReportAllocs()
	for b.Loop() {
		buf = c.appendGet(buf[:0], key, 1)
		if _, _, err := c.read(true, 1); err != nil {
			b.Fatal(err)
		}
	}
}

// repeatReader returns b over and over.
type repeatReader struct {
	b   []byte
	off int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.b[r.off:])
		n += c
		r.off = (r.off + c) % len(r.b)
	}
	return n, nil
}
