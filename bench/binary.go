package bench

import (
	"errors"
	"io"

	"github.com/vbproxy/vbproxy/memcached"
)

// binaryCodec speaks the memcached binary protocol.
type binaryCodec struct {
	r         *memcached.Reader
	pkt       memcached.Packet
	valueSize int
}

// setExtras are SET's extras: flags 0, expiry 0 (never).
var setExtras = make([]byte, 8)

func newBinaryCodec(r io.Reader, valueSize int) *binaryCodec {
	return &binaryCodec{
		// Replies are bounded by the values we store; allow some slack for
		// error messages and other writers' values.
		r:         memcached.NewReader(r, memcached.ReaderOptions{MaxBody: max(valueSize+1024, 1<<20)}),
		valueSize: valueSize,
	}
}

func (c *binaryCodec) appendGet(dst, key []byte, opaque uint32) []byte {
	return memcached.AppendRequest(dst, memcached.OpGet, 0, opaque, 0, nil, key, nil)
}

func (c *binaryCodec) appendSet(dst, key, value []byte, opaque uint32) []byte {
	return memcached.AppendRequest(dst, memcached.OpSet, 0, opaque, 0, setExtras, key, value)
}

func (c *binaryCodec) buffered() int { return c.r.Buffered() }

func (c *binaryCodec) read(isGet bool, opaque uint32) (outcome, string, error) {
	p := &c.pkt
	if err := c.r.ReadResponse(p); err != nil {
		var pe *memcached.ProtocolError
		if errors.As(err, &pe) {
			return outError, "", protocolErrorf("%s", pe.Error())
		}
		return outError, "", err
	}
	want := memcached.OpSet
	if isGet {
		want = memcached.OpGet
	}
	if p.Opcode != want || p.Opaque != opaque {
		return outError, "", protocolErrorf("reply %s opaque %d, want %s opaque %d (out of order)",
			p.Opcode, p.Opaque, want, opaque)
	}
	switch {
	case p.Status == memcached.StatusSuccess && isGet:
		if len(p.Value) != c.valueSize {
			return outError, "bad_value", nil
		}
		return outHit, "", nil
	case p.Status == memcached.StatusSuccess:
		return outStored, "", nil
	case p.Status == memcached.StatusKeyENOENT && isGet:
		return outMiss, "", nil
	case p.Status.Known():
		return outError, p.Status.String(), nil
	default:
		return outError, "unknown_status", nil
	}
}
