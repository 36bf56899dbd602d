package memcached

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzReader feeds arbitrary bytes to the Reader. It must never panic, must
// never hold a buffer larger than the body limit, and must end every read in
// a valid packet, io.EOF/io.ErrUnexpectedEOF or a *ProtocolError.
func FuzzReader(f *testing.F) {
	f.Add(AppendRequest(nil, OpGet, 0, 1, 0, nil, []byte("foo"), nil))
	f.Add(AppendRequest(nil, OpSet, 3, 2, 0, make([]byte, 8), []byte("k"), []byte("v")))
	f.Add(append(header(0x80, OpSet, 10, 8, 12), make([]byte, 12)...))
	f.Add(append(header(0x80, OpGet, 251, 0, 251), make([]byte, 251)...))
	f.Add(header(0x80, OpSet, 0, 0, 0xffffffff))
	f.Add([]byte("get foo\r\n"))
	const maxBody = 4096
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data), ReaderOptions{MaxBody: maxBody, BufSize: 64})
		var p Packet
		for i := 0; i < 1000; i++ {
			err := r.ReadRequest(&p)
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return
			}
			var pe *ProtocolError
			if errors.As(err, &pe) {
				if !pe.Recoverable {
					return
				}
				continue
			}
			if err != nil {
				t.Fatalf("untyped error %T: %v", err, err)
			}
			if cap(p.buf) > HeaderLen+maxBody+256 {
				t.Fatalf("buffer of %d bytes exceeds the body limit", cap(p.buf))
			}
			if p.Magic != MagicRequest || len(p.Key) > MaxKeyLen ||
				len(p.Extras)+len(p.Key)+len(p.Value) != int(p.BodyLen) {
				t.Fatalf("invalid packet accepted: %+v", p.Header)
			}
		}
	})
}
