package memcached

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// serverResponse builds a client's reply (magic 0x83) to a server request.
func serverResponse(op Opcode, status Status, opaque uint32) []byte {
	b := make([]byte, HeaderLen)
	h := Header{Magic: MagicServerResponse, Opcode: op, Status: status, Opaque: opaque}
	h.Encode(b)
	return b
}

func TestReadClientPacketDuplex(t *testing.T) {
	var in []byte
	in = AppendRequest(in, OpGet, 3, 1, 0, nil, []byte("a"), nil)
	in = append(in, serverResponse(OpClustermapChangeNotification, StatusSuccess, 9)...)
	in = AppendRequest(in, OpNoop, 0, 2, 0, nil, nil, nil)
	r := NewReader(bytes.NewReader(in), ReaderOptions{})
	var p Packet
	want := []struct {
		magic  byte
		op     Opcode
		opaque uint32
	}{{MagicRequest, OpGet, 1}, {MagicServerResponse, OpClustermapChangeNotification, 9}, {MagicRequest, OpNoop, 2}}
	for i, w := range want {
		if err := r.ReadClientPacket(&p, 0, true); err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if p.Magic != w.magic || p.Opcode != w.op || p.Opaque != w.opaque {
			t.Errorf("packet %d: magic 0x%02x %s opaque %d, want 0x%02x %s %d", i, p.Magic, p.Opcode, p.Opaque, w.magic, w.op, w.opaque)
		}
	}
	if err := r.ReadClientPacket(&p, 0, true); err != io.EOF {
		t.Errorf("at the end: %v, want io.EOF", err)
	}

	// Without Duplex a reply to a server request is a bad magic.
	r = NewReader(bytes.NewReader(serverResponse(OpClustermapChangeNotification, 0, 1)), ReaderOptions{})
	err := r.ReadClientPacket(&p, 0, false)
	if !errors.Is(err, ErrBadMagic) || IsRecoverable(err) {
		t.Errorf("0x83 without duplex: %v, want an unrecoverable ErrBadMagic", err)
	}
}

func TestServerResponseHeaderCarriesStatus(t *testing.T) {
	b := serverResponse(OpClustermapChangeNotification, StatusEINVAL, 4)
	var h Header
	h.Decode(b)
	if h.Status != StatusEINVAL || h.VBucket != 0 {
		t.Errorf("decoded status %s vbucket %d, want EINVAL and 0", h.Status, h.VBucket)
	}
}

func TestReadClientPacketKeyLimit(t *testing.T) {
	next := AppendRequest(nil, OpNoop, 0, 7, 0, nil, nil, nil)
	key251 := bytes.Repeat([]byte("k"), 251)
	in := append(AppendRequest(nil, OpGet, 0, 1, 0, nil, key251, nil), next...)

	r := NewReader(bytes.NewReader(in), ReaderOptions{})
	var p Packet
	if err := r.ReadClientPacket(&p, 251, false); err != nil || len(p.Key) != 251 {
		t.Fatalf("251-byte key with maxKey 251: %v, key %d bytes", err, len(p.Key))
	}

	r = NewReader(bytes.NewReader(in), ReaderOptions{})
	err := r.ReadClientPacket(&p, 0, false)
	var pe *ProtocolError
	if !errors.As(err, &pe) || !errors.Is(err, ErrKeyTooLong) || !pe.Recoverable || pe.Status != StatusEINVAL {
		t.Fatalf("251-byte key with the default limit: %v, want a recoverable ErrKeyTooLong (EINVAL)", err)
	}
	if err := r.ReadClientPacket(&p, 0, false); err != nil || p.Opaque != 7 {
		t.Errorf("after the skipped packet: %v opaque %d, want the NOOP (7)", err, p.Opaque)
	}
}

func TestReadServerPacket(t *testing.T) {
	var in []byte
	in = AppendResponse(in, &Header{Opcode: OpGet, Opaque: 1}, StatusSuccess, 5, []byte{0, 0, 0, 0}, nil, []byte("v"))
	in = AppendServerRequest(in, OpClustermapChangeNotification, 0, make([]byte, 16), []byte("default"), []byte(`{"rev":2}`))
	in = AppendResponse(in, &Header{Opcode: OpNoop, Opaque: 2}, StatusSuccess, 0, nil, nil, nil)
	r := NewReader(bytes.NewReader(in), ReaderOptions{})
	var p Packet
	if err := r.ReadServerPacket(&p); err != nil || p.Magic != MagicResponse || string(p.Value) != "v" {
		t.Fatalf("first: %v magic 0x%02x value %q", err, p.Magic, p.Value)
	}
	if err := r.ReadServerPacket(&p); err != nil || p.Magic != MagicServerRequest ||
		p.Opcode != OpClustermapChangeNotification || string(p.Key) != "default" ||
		len(p.Extras) != 16 || string(p.Value) != `{"rev":2}` {
		t.Fatalf("push: %v %+v key %q value %q", err, p.Header, p.Key, p.Value)
	}
	if err := r.ReadServerPacket(&p); err != nil || p.Opcode != OpNoop || p.Opaque != 2 {
		t.Fatalf("last: %v %+v", err, p.Header)
	}
	r = NewReader(bytes.NewReader(AppendRequest(nil, OpGet, 0, 0, 0, nil, []byte("k"), nil)), ReaderOptions{})
	if err := r.ReadServerPacket(&p); !errors.Is(err, ErrBadMagic) {
		t.Errorf("a client request from a server: %v, want ErrBadMagic", err)
	}
	r = NewReader(bytes.NewReader(in[:10]), ReaderOptions{})
	if err := r.ReadServerPacket(&p); err != io.ErrUnexpectedEOF {
		t.Errorf("a cut header: %v, want io.ErrUnexpectedEOF", err)
	}
}

// FuzzReadDuplex feeds arbitrary bytes to both duplex reads: they must never
// panic and must return only the magics they accept.
func FuzzReadDuplex(f *testing.F) {
	f.Add(append(AppendRequest(nil, OpGet, 0, 1, 0, nil, []byte("k"), nil), serverResponse(OpClustermapChangeNotification, 0, 2)...))
	f.Add(AppendServerRequest(nil, OpClustermapChangeNotification, 0, make([]byte, 16), []byte("b"), nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		var p Packet
		r := NewReader(bytes.NewReader(data), ReaderOptions{MaxBody: 4096, BufSize: 64})
		for range 100 {
			err := r.ReadClientPacket(&p, 251, true)
			if err != nil {
				if IsRecoverable(err) {
					continue
				}
				break
			}
			if p.Magic != MagicRequest && p.Magic != MagicServerResponse || p.Magic == MagicRequest && len(p.Key) > 251 {
				t.Fatalf("client read accepted magic 0x%02x key %d", p.Magic, len(p.Key))
			}
		}
		r = NewReader(bytes.NewReader(data), ReaderOptions{MaxBody: 4096, BufSize: 64})
		for range 100 {
			err := r.ReadServerPacket(&p)
			if err != nil {
				if IsRecoverable(err) {
					continue
				}
				break
			}
			if p.Magic != MagicResponse && p.Magic != MagicServerRequest {
				t.Fatalf("server read accepted magic 0x%02x", p.Magic)
			}
		}
	})
}
