package bench

import (
	"errors"
	"fmt"
	"io"
)

// outcome is what one reply means for the workload.
type outcome uint8

const (
	outHit    outcome = iota // get found the key
	outMiss                  // get: key not found
	outStored                // set succeeded
	outError                 // an error reply; the label says which
)

// errProtocol marks a reply that breaks the stream (wrong opaque, garbage):
// the connection is dropped.
var errProtocol = errors.New("bench: protocol error")

// codec builds requests and reads replies for one protocol on one
// connection. Replies come back in request order.
type codec interface {
	appendGet(dst, key []byte, opaque uint32) []byte
	appendSet(dst, key, value []byte, opaque uint32) []byte
	// read reads the reply to the oldest request in flight, a get when
	// isGet, sent with opaque. A non-nil error means the connection is
	// unusable; otherwise label names an outError (a bounded set).
	read(isGet bool, opaque uint32) (out outcome, label string, err error)
	// buffered reports how many reply bytes are already read from the
	// socket and not yet consumed.
	buffered() int
}

func newCodec(protocol string, r io.Reader, valueSize int) codec {
	if protocol == ProtocolASCII {
		return newASCIICodec(r, valueSize)
	}
	return newBinaryCodec(r, valueSize)
}

func protocolErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errProtocol, fmt.Sprintf(format, args...))
}
