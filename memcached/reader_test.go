package memcached

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestReadRequestRoundTrip(t *testing.T) {
	extras := []byte{0xde, 0xad, 0xbe, 0xef, 0, 0, 0x0e, 0x10} // flags, expiry 3600
	in := AppendRequest(nil, OpSet, 17, 99, 12345, extras, []byte("user:42"), []byte("hello world"))
	in = AppendRequest(in, OpGetKQ, 0, 100, 0, nil, []byte("a"), nil)
	in = AppendRequest(in, OpNoop, 0, 101, 0, nil, nil, nil)

	r := NewReader(bytes.NewReader(in), ReaderOptions{})
	var p Packet
	if err := r.ReadRequest(&p); err != nil {
		t.Fatalf("first ReadRequest: %v", err)
	}
	if p.Opcode != OpSet || p.VBucket != 17 || p.Opaque != 99 || p.CAS != 12345 {
		t.Fatalf("header = %+v", p.Header)
	}
	if !bytes.Equal(p.Extras, extras) || string(p.Key) != "user:42" || string(p.Value) != "hello world" {
		t.Fatalf("body: extras % x key %q value %q", p.Extras, p.Key, p.Value)
	}
	first := HeaderLen + len(extras) + len("user:42") + len("hello world")
	if !bytes.Equal(p.Bytes(), in[:first]) {
		t.Fatalf("Bytes() differs from the wire packet")
	}
	if err := r.ReadRequest(&p); err != nil || p.Opcode != OpGetKQ || string(p.Key) != "a" || len(p.Value) != 0 || len(p.Extras) != 0 {
		t.Fatalf("second packet: err %v header %+v key %q", err, p.Header, p.Key)
	}
	if err := r.ReadRequest(&p); err != nil || p.Opcode != OpNoop || p.Opaque != 101 || len(p.Key) != 0 {
		t.Fatalf("third packet: err %v header %+v", err, p.Header)
	}
	if err := r.ReadRequest(&p); err != io.EOF {
		t.Fatalf("at the end: err = %v, want io.EOF", err)
	}
}

func TestReadResponse(t *testing.T) {
	req := Header{Opcode: OpGetK, Opaque: 7}
	in := AppendResponse(nil, &req, StatusSuccess, 88, []byte{0, 0, 0, 1}, []byte("key"), []byte("val"))
	in = AppendError(in, &req, StatusKeyENOENT, "Not found")
	r := NewReader(bytes.NewReader(in), ReaderOptions{})
	var p Packet
	if err := r.ReadResponse(&p); err != nil {
		t.Fatal(err)
	}
	if p.Status != StatusSuccess || p.CAS != 88 || string(p.Key) != "key" || string(p.Value) != "val" || p.Opaque != 7 {
		t.Fatalf("got %+v key %q value %q", p.Header, p.Key, p.Value)
	}
	if err := r.ReadResponse(&p); err != nil {
		t.Fatal(err)
	}
	if p.Status != StatusKeyENOENT || string(p.Value) != "Not found" {
		t.Fatalf("error reply: status %s value %q", p.Status, p.Value)
	}
	// A request where a response is expected is a bad magic.
	r = NewReader(bytes.NewReader(AppendRequest(nil, OpGet, 0, 0, 0, nil, []byte("k"), nil)), ReaderOptions{})
	if err := r.ReadResponse(&p); !errors.Is(err, ErrBadMagic) {
		t.Fatalf("request read as response: err = %v, want ErrBadMagic", err)
	}
}

// header builds a request header with arbitrary (possibly inconsistent) lengths.
func header(magic byte, op Opcode, keyLen uint16, extrasLen uint8, bodyLen uint32) []byte {
	b := make([]byte, HeaderLen)
	h := Header{Magic: magic, Opcode: op, KeyLen: keyLen, ExtrasLen: extrasLen, BodyLen: bodyLen, Opaque: 5}
	h.Encode(b)
	return b
}

func TestReaderErrors(t *testing.T) {
	next := AppendRequest(nil, OpGet, 0, 77, 0, nil, []byte("next"), nil)
	tests := []struct {
		name        string
		in          []byte
		maxBody     int
		sentinel    error
		recoverable bool
		status      Status
	}{
		{
			name:     "bad magic: a response byte from a client",
			in:       append(header(0x81, OpGet, 0, 0, 0), next...),
			sentinel: ErrBadMagic,
		},
		{
			name:     "flexible framing magic is refused",
			in:       append(header(0x08, OpGet, 0, 0, 0), next...),
			sentinel: ErrBadMagic,
		},
		{
			name:     "ASCII protocol bytes",
			in:       []byte("get foo\r\nget bar baz qux quux\r\n"),
			sentinel: ErrBadMagic,
		},
		{
			name:     "key and extras longer than the body",
			in:       append(header(0x80, OpSet, 10, 8, 12), make([]byte, 12)...),
			sentinel: ErrBadLengths,
		},
		{
			name:        "body over the limit is skipped",
			in:          append(append(header(0x80, OpSet, 3, 8, 1000), make([]byte, 1000)...), next...),
			maxBody:     999,
			sentinel:    ErrTooLarge,
			recoverable: true,
			status:      StatusE2BIG,
		},
		{
			name:        "key of 251 bytes is skipped with EINVAL",
			in:          append(append(header(0x80, OpGet, 251, 0, 251), make([]byte, 251)...), next...),
			sentinel:    ErrKeyTooLong,
			recoverable: true,
			status:      StatusEINVAL,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(bytes.NewReader(tt.in), ReaderOptions{MaxBody: tt.maxBody})
			var p Packet
			err := r.ReadRequest(&p)
			if !errors.Is(err, tt.sentinel) {
				t.Fatalf("err = %v, want %v", err, tt.sentinel)
			}
			var pe *ProtocolError
			if !errors.As(err, &pe) {
				t.Fatalf("err %T is not a *ProtocolError", err)
			}
			if pe.Recoverable != tt.recoverable || IsRecoverable(err) != tt.recoverable {
				t.Fatalf("Recoverable = %v, want %v", pe.Recoverable, tt.recoverable)
			}
			if pe.Header.Opaque != 5 && tt.sentinel != ErrBadMagic {
				t.Fatalf("error carries opaque %d, want 5", pe.Header.Opaque)
			}
			if !tt.recoverable {
				return
			}
			if pe.Status != tt.status {
				t.Fatalf("Status = %s, want %s", pe.Status, tt.status)
			}
			if err := r.ReadRequest(&p); err != nil || string(p.Key) != "next" || p.Opaque != 77 {
				t.Fatalf("after a skipped packet: err %v key %q opaque %d, want the next request", err, p.Key, p.Opaque)
			}
		})
	}
}

func TestReaderTruncated(t *testing.T) {
	full := AppendRequest(nil, OpSet, 0, 1, 0, make([]byte, 8), []byte("key"), []byte("value"))
	for cut := 1; cut < len(full); cut++ {
		r := NewReader(bytes.NewReader(full[:cut]), ReaderOptions{})
		var p Packet
		if err := r.ReadRequest(&p); err != io.ErrUnexpectedEOF {
			t.Fatalf("cut at %d: err = %v, want io.ErrUnexpectedEOF", cut, err)
		}
	}
	// A truncated oversized body is also an unexpected EOF, not a hang.
	in := append(header(0x80, OpSet, 0, 0, 5000), make([]byte, 100)...)
	r := NewReader(bytes.NewReader(in), ReaderOptions{MaxBody: 1000})
	var p Packet
	if err := r.ReadRequest(&p); err != io.ErrUnexpectedEOF {
		t.Fatalf("truncated oversized body: err = %v, want io.ErrUnexpectedEOF", err)
	}
}

// TestLargeBufferReleased pins the fix for a session keeping a 20 MiB buffer
// after one large SET: the next small packet gets a small buffer again.
func TestLargeBufferReleased(t *testing.T) {
	big := strings.Repeat("v", 1<<20)
	in := AppendRequest(nil, OpSet, 0, 1, 0, make([]byte, 8), []byte("big"), []byte(big))
	in = AppendRequest(in, OpGet, 0, 2, 0, nil, []byte("small"), nil)
	r := NewReader(bytes.NewReader(in), ReaderOptions{})
	var p Packet
	if err := r.ReadRequest(&p); err != nil || len(p.Value) != 1<<20 {
		t.Fatalf("big read: err %v len %d", err, len(p.Value))
	}
	if err := r.ReadRequest(&p); err != nil || string(p.Key) != "small" {
		t.Fatalf("small read: err %v key %q", err, p.Key)
	}
	if cap(p.buf) > retainLimit {
		t.Fatalf("buffer kept at %d bytes after a small packet, want <= %d", cap(p.buf), retainLimit)
	}
}

func TestBuffered(t *testing.T) {
	in := AppendRequest(nil, OpGet, 0, 1, 0, nil, []byte("a"), nil)
	in = AppendRequest(in, OpGet, 0, 2, 0, nil, []byte("b"), nil)
	r := NewReader(bytes.NewReader(in), ReaderOptions{})
	var p Packet
	if err := r.ReadRequest(&p); err != nil {
		t.Fatal(err)
	}
	if got, want := r.Buffered(), HeaderLen+1; got != want {
		t.Fatalf("Buffered = %d, want %d", got, want)
	}
}
