package upstream

import (
	"github.com/vbproxy/vbproxy/memcached"
)

// Request is one forwarded request. The session owns it and reuses it: from a
// Send that returns nil until Done.Complete the connection owns it, and the
// session must not touch it.
type Request struct {
	// Packet is the full request packet to send (header and body), with the
	// session's own opaque. Send copies it into the connection's output,
	// with the connection's own opaque on the wire; Packet itself is never
	// modified and may be reused as soon as Send returns.
	Packet []byte
	// Deadline (loop time, eventloop.Loop.Now's clock) fails the request
	// with ErrTimeout when it passes. 0 means Options.OperationTimeout from
	// Send.
	Deadline int64
	// Done is called exactly once per Send that returned nil, on the loop's
	// thread. It may Send again (to any connection of the loop).
	Done Completer
	// Collection is the ID of the key's collection (0: _default). On a
	// connection that negotiated collections, Send writes it before the key
	// as unsigned LEB128; elsewhere only 0 may be sent (ErrNoCollections).
	Collection uint32

	// Filled by the connection before Done.Complete.

	// Resp is the response header, its Opaque restored to the packet's
	// original opaque. Valid only when Err is nil.
	Resp memcached.Header
	// RespBuf is the response packet (header and body, opaque restored),
	// a slice of the connection's read buffer: valid only until Complete
	// returns. Copy what must outlive it.
	RespBuf []byte
	// Err is nil on a response, whatever its status, or ErrTimeout,
	// ErrConnClosed, ErrProtocol (possibly wrapped). Send's own errors are
	// returned, not set here.
	Err error
	// Node is the address of the node that answered (or failed).
	Node string

	// Owned by the connection between Send and Complete.
	opaque uint32 // the packet's original opaque
}

// Completer receives completed requests.
type Completer interface{ Complete(r *Request) }

// CompleterFunc adapts a function to Completer.
type CompleterFunc func(r *Request)

// Complete calls f(r).
func (f CompleterFunc) Complete(r *Request) { f(r) }
