// Package upstream keeps vbproxy's connections to the cluster's KV nodes
// (Couchbase data nodes, or plain memcached servers). It is used only by
// package proxy.
//
// # API
//
// A Node is the shared state of one node address: options, dialer, SASL
// caches and the node's aggregate state (Up while any of its connections
// is, Down once none is after a failure, Connecting before). A Conn is one
// connection to a node, owned by one event loop (proxy/eventloop): every
// loop has its own connections to every node, so a request never leaves
// its loop. Conn's methods run only on that loop's thread.
//
// A session fills a Request (the packet, a Completer, optionally a
// deadline) and calls Conn.Send, which never blocks: it registers the
// request in the connection's in-flight table, copies the packet into the
// output buffer with the connection's own opaque, and marks the connection
// for the loop's end-of-round flush. It fails at once with ErrQueueFull
// (QueueSize requests pending), ErrNodeDown (the connection is down and
// reconnecting), ErrConnecting (its first connection is not up yet: the
// request may wait for it) or ErrClosed (draining). When Send returns nil,
// Done.Complete is called exactly once, later, on the loop, with the
// response in Resp and RespBuf (a slice of the connection's read buffer,
// valid during the call) or an error in Err (ErrTimeout, ErrConnClosed,
// ErrProtocol).
//
// # One connection
//
//   - Output: everything Sent in a loop round leaves in one write at the
//     end of the round (eventloop.StageUpstream). A write that returns
//     EAGAIN keeps the rest and resumes on the socket's Out edge.
//   - Input: the socket is read until EAGAIN into a 64 KiB buffer (grown
//     for a larger response, then dropped); each whole response is matched
//     by opaque and completed in arrival order. An opaque is a table index
//     plus a generation, so lookup is one array load and a late response
//     (to a request that already timed out) matches nothing and is
//     discarded: no request completes twice.
//
// In steady state Send → write → read → Complete allocates nothing.
//
// # Timeouts and failure
//
// Every request has a deadline: Request.Deadline, or Send's time plus
// OperationTimeout. A loop timer per connection, armed while it has
// requests (every OperationTimeout/10, at least 5ms), fails expired
// requests with ErrTimeout and detects a hung server: one that owes
// responses and has sent no byte for OperationTimeout is closed and
// everything on it fails with ErrTimeout. A connection that breaks (EOF,
// reset, protocol error) fails what it carried with ErrConnClosed at once.
//
// A lost connection reconnects after a capped, jittered exponential backoff
// (MinBackoff doubling up to MaxBackoff, each delay drawn from [d/2, d]),
// restarting from MinBackoff once a connection has stayed up for
// MaxBackoff. Dialing and the bootstrap below run on a goroutine with
// ordinary blocking I/O; the ready socket is then handed to the loop
// (eventloop.Detach), so the loop never blocks on a slow node.
//
// Node's OnState reports each transition, the log gets one line per
// transition and one per change of connection error (a node refusing the
// same way on every retry logs once), and OnError counts every error by
// kind. Nothing is logged per request above debug level.
//
// Drain stops taking requests, lets those in flight finish for up to
// OperationTimeout, then closes (a node that left the map); Close closes
// at once.
//
// # Bootstrap
//
// Each connection is set up by internal/kvconn (the one implementation of
// the handshake, shared with vbmap's config connection), pipelined as the
// Couchbase SDKs do it, within ConnectTimeout:
//
//	HELLO (XERROR, SELECT_BUCKET) + SASL_LIST_MECHS
//	SASL_AUTH                      (PLAIN: + SELECT_BUCKET)
//	SASL_STEP + SELECT_BUCKET      (SCRAM only)
//
// HELLO asks only for features that change nothing a plain memcached client
// sees (and Collections with Options.Collections). The mechanism is the
// best the server lists, in the order SCRAM-SHA512, SCRAM-SHA256,
// SCRAM-SHA1, PLAIN (PLAIN first over TLS unless SCRAMOverTLS); SCRAM
// verifies the server's final signature, and each Node caches the salted
// password across reconnects. A refusal (AUTH_ERROR, EACCESS, or KEY_ENOENT
// for an unknown bucket) is an ErrAuth naming the node and the step (a
// failed TLS handshake ErrTLS); the connection goes down and retries with
// backoff.
//
// Without credentials (Options.User empty) the node may be a plain memcached
// server. memcached 1.6 answers an unknown command that carries a body and
// then loses the commands that follow, so the first HELLO is empty:
// UNKNOWN_COMMAND means plain memcached and the handshake ends there (no
// SELECT_BUCKET). Otherwise HELLO is sent again with the features, followed by
// SELECT_BUCKET when Options.Bucket is set.
//
// The same memcached behaviour means a plain memcached node must not be sent
// opcodes it does not know (GET_REPLICA, ...): the connection would stop
// answering and be closed as hung.
//
// # Contract notes
//
// Every forwarded request must get exactly one response: quiet opcodes are
// refused (ErrBadRequest; the session sends their loud twins) and
// multi-packet replies (STAT) are not supported.
package upstream
