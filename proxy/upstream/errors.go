package upstream

import "errors"

// Sentinel errors. A Request that fails carries one of them in Err (possibly
// wrapped); check with errors.Is.
var (
	// ErrTimeout: no response before the request's deadline, or the
	// connection stopped answering and was closed as hung.
	ErrTimeout = errors.New("upstream: operation timed out")
	// ErrNodeDown: none of the pool's connections is up. Send returns it at
	// once; the pool is reconnecting in the background.
	ErrNodeDown = errors.New("upstream: node is down")
	// ErrConnClosed: the connection carrying the request was lost (the
	// server closed it, an I/O error, or the pool was closed while draining).
	ErrConnClosed = errors.New("upstream: connection closed")
	// ErrQueueFull: the chosen connection already has Options.QueueSize
	// requests pending. Send returns it at once.
	ErrQueueFull = errors.New("upstream: queue full")
	// ErrClosed: the pool is closed (or closing) and accepts no requests.
	ErrClosed = errors.New("upstream: pool closed")
	// ErrAuth: the node refused the configured credentials or bucket. It is
	// wrapped with the node address and the detail; Pool.LastError returns it
	// while the pool is down for that reason.
	ErrAuth = errors.New("upstream: authentication failed")
	// ErrBadRequest: Send was given something it cannot forward (no
	// Completer, a packet shorter than a header, lengths that disagree, not a
	// request magic, or a quiet opcode, whose replies the server may omit).
	ErrBadRequest = errors.New("upstream: malformed request")
	// ErrProtocol: the node sent something that is not a valid response to
	// what was asked; the connection is closed and reopened.
	ErrProtocol = errors.New("upstream: protocol error")
)

// ErrBusy: the connection already has MaxOutput bytes waiting to be
// written (large values faster than the node takes them). Nothing is
// wrong; the request may be sent again shortly.
var ErrBusy = errors.New("upstream: connection output full")

// ErrConnecting is Send's answer while the connection's first attempt is in
// progress: the node is not known to be down; the request may wait for it.
var ErrConnecting = errors.New("upstream: connection not up yet")

// ErrTLS: the TLS handshake with the node failed (untrusted certificate,
// name mismatch, expired, not a TLS port); it wraps the crypto error, which
// tlsconf.DescribeTLSError turns into a short reason.
var ErrTLS = errors.New("upstream: TLS handshake failed")

// ErrNoCollections: a request for a named collection on a connection whose
// node did not agree to collections.
var ErrNoCollections = errors.New("upstream: the node does not support collections")
