package memcached

import "fmt"

// Framing over bytes already read: the event-loop data path reads a socket
// into its own buffer and cuts packets out of it, with the same limits and
// errors as Reader.

// Frame inspects the start of buf for one packet of the given magic.
//
//   - n > 0, err nil: buf holds the whole packet, buf[:n].
//   - n == 0, err nil: buf holds less than a whole packet; want is the total
//     number of bytes the packet needs (HeaderLen while the header itself is
//     incomplete).
//   - err is a *ProtocolError: when it is Recoverable, the packet (header and
//     body, want bytes in all, possibly more than buf holds) must be skipped
//     and answered with its Status; otherwise the stream cannot go on.
//
// maxKey and maxBody are the limits Reader applies (MaxKeyLen and
// ReaderOptions.MaxBody for requests). Frame does not allocate unless it
// returns an error.
func Frame(buf []byte, magic byte, maxKey, maxBody int) (h Header, n, want int, err error) {
	if len(buf) < HeaderLen {
		return h, 0, HeaderLen, nil
	}
	h.Decode(buf)
	want = HeaderLen + int(h.BodyLen)
	if err := checkHeader(&h, magic, maxKey, maxBody); err != nil {
		return h, 0, want, err
	}
	if len(buf) < want {
		return h, 0, want, nil
	}
	return h, want, want, nil
}

// checkHeader applies the limits shared by Reader and Frame.
func checkHeader(h *Header, magic byte, maxKey, maxBody int) *ProtocolError {
	if h.Magic != magic {
		return &ProtocolError{Header: *h, Err: ErrBadMagic,
			Reason: fmt.Sprintf("magic 0x%02x, want 0x%02x", h.Magic, magic)}
	}
	if int(h.KeyLen)+int(h.ExtrasLen) > int(h.BodyLen) {
		return &ProtocolError{Header: *h, Err: ErrBadLengths,
			Reason: fmt.Sprintf("key %d + extras %d > body %d", h.KeyLen, h.ExtrasLen, h.BodyLen)}
	}
	if int64(h.BodyLen) > int64(maxBody) {
		return &ProtocolError{Header: *h, Status: StatusE2BIG, Err: ErrTooLarge, Recoverable: true,
			Reason: fmt.Sprintf("body %d bytes exceeds the limit of %d", h.BodyLen, maxBody)}
	}
	if int(h.KeyLen) > maxKey {
		return &ProtocolError{Header: *h, Status: StatusEINVAL, Err: ErrKeyTooLong, Recoverable: true,
			Reason: fmt.Sprintf("key %d bytes exceeds the limit of %d", h.KeyLen, maxKey)}
	}
	return nil
}

// Load copies one whole packet (as framed by Frame: header and body) into
// p's own buffer and points Extras, Key and Value into it. The buffer is
// reused; one grown past 64 KiB for a large value is dropped by the next
// small packet, so that an idle connection does not pin it.
func (p *Packet) Load(pkt []byte) {
	p.Header.Decode(pkt)
	n := HeaderLen + int(p.BodyLen)
	p.grow(n)
	copy(p.buf, pkt[:n])
	p.slice(n)
}

// grow makes p.buf exactly n bytes long, reusing it when it fits.
func (p *Packet) grow(n int) {
	if cap(p.buf) < n || (cap(p.buf) > retainLimit && n <= retainLimit) {
		p.buf = make([]byte, n, max(n, 256))
	}
	p.buf = p.buf[:n]
}

// slice points Extras, Key and Value into the n bytes of p.buf.
func (p *Packet) slice(n int) {
	e := HeaderLen + int(p.ExtrasLen)
	k := e + int(p.KeyLen)
	p.Extras = p.buf[HeaderLen:e:e]
	p.Key = p.buf[e:k:k]
	p.Value = p.buf[k:n:n]
}

// Release drops p's buffer (so that a pooled, idle holder keeps no memory).
func (p *Packet) Release() { *p = Packet{} }

// Cap is the capacity of p's buffer (what it holds on to between packets).
func (p *Packet) Cap() int { return cap(p.buf) }

// Reuse returns p's buffer emptied, to build the next packet into (a
// buffer grown past 64 KiB is not reused); pass the result to Adopt.
func (p *Packet) Reuse() []byte {
	if cap(p.buf) > retainLimit {
		return nil
	}
	return p.buf[:0]
}

// Adopt makes pkt, one whole packet built by the caller (typically into
// Reuse's buffer), p's buffer without copying it, and points Extras, Key
// and Value into it.
func (p *Packet) Adopt(pkt []byte) {
	p.Header.Decode(pkt)
	n := HeaderLen + int(p.BodyLen)
	p.buf = pkt[:n]
	p.slice(n)
}
