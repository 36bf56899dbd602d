// Package proxy serves memcached clients, binary and text protocol, on
// behalf of one Couchbase bucket: it hashes each key to its vBucket,
// forwards the request to the node that owns it and writes the replies back
// exactly as one memcached server would.
//
// # API
//
// New(Options) returns a Server for one bucket; Serve(ln) accepts on a
// listener (call it once per listener); Shutdown(ctx) drains. Ready, Nodes,
// Clients and Stats feed the admin endpoints. The map comes from a
// MapSource (*vbmap.Source); metrics go to an Observer. Options.Edge
// admits connections (PROXY protocol v1/v2 from trusted sources, TLS,
// client certificates: package proxy/edge) before they join a loop.
//
// # Event loops
//
// The data path runs on Options.Loops event loops (package
// proxy/eventloop): each is one goroutine locked to its OS thread, blocked
// in epoll_wait, that owns a share of the client connections and its own
// connections to every node (Options.PoolSize sets; package
// proxy/upstream). A request never leaves its loop, and nothing on the path
// from a client's read to the node's write and back takes a lock, a channel
// operation, a goroutine wake-up or an allocation:
//
//   - Serve's goroutine accepts; a connection that needs admission (a PROXY
//     header, a TLS handshake) gets a goroutine of its own for that, with
//     blocking I/O. The socket is then handed to the next loop
//     (eventloop.Detach; a TLS connection is bridged through a socket pair)
//     as a posted task.
//   - On a readable client, the loop reads until EAGAIN, frames each
//     request in the bytes read, copies it into the next slot of the
//     session's ring (slot.go), routes it on the current map (one atomic
//     load) and appends it to the owner's connection output.
//   - At the end of the round every node connection, then every client,
//     with something to write is written once: everything a round parsed
//     and routed leaves in one write per connection. EPOLLOUT is only
//     waited for after a write returned EAGAIN (the descriptors are
//     registered once, edge-triggered, and never modified).
//   - On a readable node connection, each reply is matched by opaque to its
//     request; if its slot is next in line the reply is written into the
//     client's output straight from the node connection's read buffer,
//     otherwise copied into the slot until the earlier ones are done.
//   - Retries, NOT_MY_VBUCKET and down-node backoffs, the reply hold, idle
//     and write timeouts are timers of the loop (one heap, feeding
//     epoll_wait's timeout). Map changes, shutdown and new connections
//     reach a loop as posted tasks (an eventfd wake-up).
//   - Dialing a node and its HELLO/SASL/SELECT_BUCKET bootstrap run on a
//     goroutine with blocking I/O; the ready socket is then handed over.
//
// # Sessions and slots
//
// Each client connection is a session with a bounded ring of slots
// (Options.PipelineDepth, default 128; the ring starts small and grows). A
// slot holds one request from the moment it is parsed until its reply is
// written: the request (copied, so that it can be resent), the forwarded
// upstream.Request and room for a reply, so steady state allocates
// nothing. When the ring is full, or the session holds more than its byte
// budget (4 MiB of requests in flight, 1 MiB of unwritten replies), it
// stops reading that client: backpressure, not failure, and a client that
// does not read its replies never holds up the others of its loop; it is
// closed after WriteTimeout.
//
// The first byte a client sends decides its protocol: 0x80 is the binary
// protocol, anything else the text protocol, classic and meta (text.go;
// Options.Protocols can restrict a listener to one). A text command becomes
// one slot per binary request (a multi-get one per key, then one for END),
// so both protocols share the routing, ordering and failure handling below.
// Only loud opcodes are forwarded: quiet opcodes go as their loud twins
// and GETK as GET (the proxy puts the key back), so every forwarded request
// gets exactly one reply and any node that serves the core commands works.
//
// An idle session holds no read or write buffer: a loop reads into its one
// shared buffer first, and a session keeps bytes of its own only for a
// request cut in half by a read; its output buffer is taken from the loop's
// free list when a reply is ready and given back once written. The reply
// hold: when the replies of a pipelined batch (requests of one client
// read) are ready but a later request of the batch is still in flight, the
// write waits for it, at most Options.ReplyHold (500µs by default), so the
// batch's replies leave in one write rather than one per node.
//
// # Ordering and the quiet rules
//
// Replies leave in request order whatever nodes the requests touched.
// Execution follows request order too, per vBucket, as on one memcached
// server (a pipelined "SET k; GET k" reads its own write): a session sends
// everything through one connection set, so its requests to a node stay in
// order on one connection. When a request would go to another node than
// the earlier requests of its vBucket still in flight (the map changed), or
// behind a request being resent, it is parked and sent once they have
// settled (order.go). The quiet rules are applied when writing
// (memcached.Opcode.Suppress; for text, noreply and meta q by the codec): a
// quiet mutation's success and a quiet read's miss are not written, every
// error is. Because NOOP (and mn) is answered in its own slot, its reply is
// written only after the outcome of every earlier request: it is the
// barrier that ends a quiet pipeline. QUIT flushes the earlier replies,
// then closes.
//
// # Answered by the proxy
//
// NOOP, VERSION, VERBOSITY (Couchbase applies it server-wide), HELLO (no
// feature is negotiated; the key is echoed), SASL (PLAIN against
// Options.Users; any attempt succeeds when no users are configured; a
// verified client certificate mapped to a user stands in for it), text
// authentication (a "set" whose data is "user password"), SELECT_BUCKET
// (the listener's bucket only), STAT and "stats" (the proxy's own counters;
// an unknown group is KEY_ENOENT / ERROR), and refusals: GATK/GATKQ (IOCTL
// on Couchbase), server administration and unknown opcodes get
// UNKNOWN_COMMAND; FLUSH gets NOT_SUPPORTED (flush_all "CLIENT_ERROR
// flush_all not allowed") unless Options.AllowFlush; a malformed key
// request (wrong extras, no key, a datatype) gets EINVAL before it can
// reach a shared upstream connection; an oversized body gets E2BIG and is
// skipped; a bad magic or contradictory header lengths close the
// connection. The text protocol's errors are memcached 1.6's own.
//
// # NOT_MY_VBUCKET and failures
//
// A NOT_MY_VBUCKET reply is never shown to the client. Its body (the node's
// config) is offered to the MapSource; then the request is routed again: at
// once if the map now names another owner, else to the forward owner of a
// rebalance in progress, else after a backoff (10ms doubling to 100ms). The
// whole request, retries included, is bounded by Options.OperationTimeout;
// past it the client gets ETMPFAIL (text: SERVER_ERROR temporary failure:
// ...). Upstream failures (timeout, node down, queue full, connection lost)
// become ETMPFAIL replies with a short message at once; a request for a
// node that is down waits about 30ms for the map to move its vBucket
// first. Every send is routed on the map current at that moment, so when
// the map moves vBuckets away from a failed node, traffic follows at once.
// Map changes open connections to new nodes on every loop and drain the
// connections of removed ones (requests in flight are answered); a request
// routed to a node whose connection is not up yet waits for it within the
// timeout.
//
// # Limits and lifecycle
//
// Options.MaxConns refuses (closes at once, counts) extra connections,
// those still being admitted included; IdleTimeout closes silent clients;
// WriteTimeout closes clients that do not read; MaxRequestSize bounds a
// request body (and a text value). Shutdown stops accepting, stops each
// session's reading, lets the loops write the outcome of every request
// already read, then closes the client and upstream connections and stops
// the loops; when its context ends first, the remaining connections are
// closed at once.
//
// The package needs Linux (epoll); it does not build elsewhere.
package proxy
