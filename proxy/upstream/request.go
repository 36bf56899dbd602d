package upstream

import (
	"time"

	"github.com/vbproxy/vbproxy/memcached"
)

// Request is one forwarded request. The session owns it and reuses it: from a
// Send that returns nil until Done.Complete the pool owns it, and the session
// must not touch it.
type Request struct {
	// Packet is the full request packet to send (header and body), with the
	// session's own opaque. The pool writes its own opaque on the wire but
	// never modifies Packet, so the same Request can be sent again, to
	// another pool, after it completes (NOT_MY_VBUCKET retry).
	Packet []byte
	// Deadline fails the request with ErrTimeout when it passes. Zero means
	// Options.OperationTimeout from Send.
	Deadline time.Time
	// Done is called exactly once per Send that returned nil, from a pool
	// goroutine, with no pool lock held. It must not block.
	Done Completer

	// Filled by the pool before Done.Complete.

	// Resp is the response header, its Opaque restored to the packet's
	// original opaque. Valid only when Err is nil.
	Resp memcached.Header
	// RespBuf is the response packet (header and body, opaque restored). It
	// is reused across sends and grown only when a response does not fit.
	RespBuf []byte
	// Err is nil on a response, whatever its status, or ErrTimeout,
	// ErrConnClosed (possibly wrapped). Send's own errors (ErrNodeDown,
	// ErrQueueFull, ErrClosed, ErrBadRequest) are returned, not set here.
	Err error
	// Node is the address of the node that answered (or failed).
	Node string

	// Owned by the pool between Send and Complete.
	opaque   uint32 // the packet's original opaque
	deadline int64  // nanoseconds since the pool's epoch
}

// Completer receives completed requests.
type Completer interface{ Complete(r *Request) }

// CompleterFunc adapts a function to Completer.
type CompleterFunc func(r *Request)

// Complete calls f(r).
func (f CompleterFunc) Complete(r *Request) { f(r) }
