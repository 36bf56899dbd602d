package memcached

import (
	"bufio"
	"io"
)

// DefaultBufSize is the Reader's bufio size when ReaderOptions.BufSize is 0:
// large enough for a deep pipeline of small requests in one read syscall.
const DefaultBufSize = 16 << 10

// retainLimit is the largest packet buffer a Packet keeps between reads. A
// buffer grown past it for one large value is dropped on the next small read,
// so an idle connection does not pin megabytes.
const retainLimit = 64 << 10

// Packet is one whole packet in a reusable buffer. Extras, Key and Value are
// slices into that buffer and stay valid until the next read into the Packet.
type Packet struct {
	Header
	Extras, Key, Value []byte
	buf                []byte
}

// Bytes returns the packet as on the wire: header and body. Valid until the
// next read into p.
func (p *Packet) Bytes() []byte { return p.buf[:HeaderLen+int(p.BodyLen)] }

// ReaderOptions configure a Reader. The zero value works.
type ReaderOptions struct {
	// MaxBody is the largest body accepted; larger ones are skipped with a
	// recoverable ErrTooLarge. 0 means DefaultMaxBody.
	MaxBody int
	// BufSize is the bufio buffer size. 0 means DefaultBufSize.
	BufSize int
}

// Reader reads binary-protocol packets from a stream, capping every length
// field before it allocates.
type Reader struct {
	br      *bufio.Reader
	maxBody int
}

// NewReader returns a Reader over r.
func NewReader(r io.Reader, o ReaderOptions) *Reader {
	if o.MaxBody <= 0 {
		o.MaxBody = DefaultMaxBody
	}
	if o.BufSize <= 0 {
		o.BufSize = DefaultBufSize
	}
	return &Reader{br: bufio.NewReaderSize(r, o.BufSize), maxBody: o.MaxBody}
}

// Reset makes the Reader read from r, keeping its buffer.
func (r *Reader) Reset(rd io.Reader) { r.br.Reset(rd) }

// Buffered returns the number of bytes read from the stream and not yet
// consumed: a session uses it to tell whether more requests are already
// waiting before it flushes its replies.
func (r *Reader) Buffered() int { return r.br.Buffered() }

// ReadRequest reads one request (magic 0x80) into p.
//
// It returns io.EOF at a clean packet boundary, io.ErrUnexpectedEOF when the
// stream ends inside a packet, and *ProtocolError for a packet it refuses.
func (r *Reader) ReadRequest(p *Packet) error { return r.read(p, MagicRequest, MaxKeyLen) }

// ReadResponse reads one response (magic 0x81) into p. Response keys are not
// limited to MaxKeyLen (a server may return what it likes); the body limit
// applies.
func (r *Reader) ReadResponse(p *Packet) error { return r.read(p, MagicResponse, 0xffff) }

func (r *Reader) read(p *Packet, magic byte, maxKey int) error {
	hdr, err := r.br.Peek(HeaderLen)
	if err != nil {
		if err == io.EOF && len(hdr) > 0 {
			return io.ErrUnexpectedEOF
		}
		return err
	}
	p.Header.Decode(hdr)
	h := &p.Header
	if pe := checkHeader(h, magic, maxKey, r.maxBody); pe != nil {
		if pe.Recoverable {
			return r.skip(pe)
		}
		return pe
	}
	n := HeaderLen + int(h.BodyLen)
	p.grow(n)
	copy(p.buf, hdr)
	if _, err := r.br.Discard(HeaderLen); err != nil {
		return err
	}
	if _, err := io.ReadFull(r.br, p.buf[HeaderLen:n]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	p.slice(n)
	return nil
}

// skip discards a refused packet's header and body so that the stream stays
// in sync, and returns pe (recoverable).
func (r *Reader) skip(pe *ProtocolError) error {
	total := int64(HeaderLen) + int64(pe.Header.BodyLen)
	for total > 0 {
		chunk := min(total, 1<<30)
		d, err := r.br.Discard(int(chunk))
		total -= int64(d)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return pe
}

// Pending returns the bytes read from the stream and not yet consumed,
// without consuming them: what a connection handed over to an event loop
// after its handshake must process first. Valid until the next read.
func (r *Reader) Pending() []byte {
	b, _ := r.br.Peek(r.br.Buffered())
	return b
}
