// Package proxy serves memcached binary-protocol clients on behalf of one
// Couchbase bucket: it hashes each key to its vBucket, forwards the request to
// the node that owns it (through the pooled, pipelined connections of
// proxy/upstream) and writes the replies back exactly as one memcached server
// would.
//
// # API
//
// New(Options) returns a Server for one bucket; Serve(ln) accepts on a
// listener (call it once per listener; with Options.ProxyProtocol the
// listener accepts PROXY v1 headers so that logs and Clients show the real
// client); Shutdown(ctx) drains. Ready, Nodes, Clients and Stats feed the
// admin endpoints. The map comes from a MapSource (*vbmap.Source); metrics go
// to an Observer.
//
// # Sessions
//
// Each client connection is a session with two goroutines and a bounded ring
// of slots (Options.PipelineDepth, default 128). A slot holds one request
// from the moment it is read until its reply is written; it embeds the
// client's packet, the upstream.Request that forwards it (with its reusable
// response buffer) and room for a reply made by the proxy, so that steady
// state allocates nothing.
//
//   - The reader takes the next free slot, reads a request into it, and
//     classifies it by its opcode's route (memcached.Opcode.Info): key
//     requests are routed on the current map (one atomic load per request),
//     their packet patched in place (vBucket; a quiet opcode becomes its loud
//     twin, so every forwarded request gets exactly one reply) and sent to the
//     owner's pool; FLUSH fans out to every node; everything else is answered
//     by the proxy into the slot. When every slot is taken the reader stops
//     reading from the client: backpressure, not failure.
//   - Outcomes complete slots in any order (upstream replies arrive on pool
//     goroutines). The writer writes slots strictly in ring order, restoring
//     the client's opcode and opaque in the reply header, and flushes only
//     when the next slot is not ready yet. When that slot came in the same
//     client read as the reply written last (a pipelined batch, whose
//     requests the nodes answer at different moments), the buffered replies
//     wait for it, at most Options.ReplyHold (500µs by default), so that a
//     batch's replies leave in one write rather than one per node. The same
//     holds when the writer has caught up with the reader while the reader
//     still has requests of that read to parse (session.batchRead).
//   - An idle session holds no read or write buffer: the reader waits for
//     the next request with a small read (1 KiB, in the session) and takes a
//     16 KiB reader from a pool of the Server only when bytes arrive, giving
//     it back once everything read is parsed; the writer takes a 16 KiB
//     bufio.Writer for its replies and gives it back after each flush. So
//     thousands of idle clients cost little memory (buffers.go).
//
// # Ordering and the quiet rules
//
// Replies leave in request order whatever nodes the requests touched.
// Execution follows request order too, per vBucket, as on one memcached
// server (a pipelined "SET k; GET k" reads its own write): the upstream
// connections are Options.PoolSize sets of one connection per node, and a
// session sends everything through one set, so its requests to a node stay
// in order on one connection. When a request would go to another node than
// the earlier requests of its vBucket still in flight (the map changed), or
// behind a request being resent, it is parked and sent once they have
// settled (order.go). The
// quiet rules are applied by the writer (memcached.Opcode.Suppress): a quiet
// mutation's success and a quiet read's miss are not written, every error is.
// Because NOOP is answered in its own slot, its reply is written only after
// the outcome of every earlier request: it is the barrier that ends a quiet
// pipeline such as "GETKQ x 100, NOOP", which returns exactly the hits, in
// order, then the NOOP. QUIT and QUITQ flush the earlier replies, then close.
//
// # Answered by the proxy
//
// NOOP, VERSION, VERBOSITY (Couchbase applies it server-wide), HELLO (no
// feature is negotiated; the key is echoed), SASL (PLAIN against
// Options.Users; any attempt succeeds when no users are configured),
// SELECT_BUCKET (the listener's bucket only), STAT (the proxy's own counters;
// an unknown group is KEY_ENOENT), and refusals: GATK/GATKQ (IOCTL on
// Couchbase), server administration and unknown opcodes get UNKNOWN_COMMAND;
// FLUSH gets NOT_SUPPORTED unless Options.AllowFlush; a malformed key request
// (wrong extras, no key, a datatype) gets EINVAL before it can reach a shared
// upstream connection; an oversized body gets E2BIG and is skipped; a bad
// magic or contradictory header lengths close the connection.
//
// # NOT_MY_VBUCKET and failures
//
// A NOT_MY_VBUCKET reply is never shown to the client. Its body (the node's
// config) is offered to the MapSource; then the request is routed again: at
// once if the map now names another owner, else to the forward owner of a
// rebalance in progress, else after a backoff (10ms doubling to 100ms). The
// whole request, retries included, is bounded by Options.OperationTimeout;
// past it the client gets ETMPFAIL. Upstream failures (timeout, node down,
// queue full, connection lost) become ETMPFAIL replies with a short message
// at once. Every send is routed on the map current at that moment, so when
// the map moves vBuckets away from a failed node, traffic follows at once.
// Map changes open pools for new nodes and drain the pools of removed ones
// (upstream.Pools.Update); a request routed to a node whose pool is not open
// yet waits for it within the timeout.
//
// # Limits and lifecycle
//
// Options.MaxConns refuses (closes at once, counts) extra connections;
// IdleTimeout closes silent clients; WriteTimeout closes clients that do not
// read; MaxRequestSize bounds a request body. Shutdown stops accepting, stops
// each session's reader, lets the writers write the outcome of every request
// already read, then closes the client and upstream connections; when its
// context ends first, the remaining connections are closed at once.
package proxy
