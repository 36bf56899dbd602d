// Package upstream keeps vbproxy's connections to the cluster's KV nodes
// (Couchbase data nodes, or plain memcached servers): per node, a small pool
// of long-lived connections, each pipelined and shared by every client
// session. It is used only by package proxy.
//
// # API
//
// A session fills a Request (the packet, a Completer, optionally a deadline)
// and calls Pool.Send, which never blocks: it picks one of the pool's up
// connections (the least loaded; round-robin among equals), appends the
// request to that connection's bounded queue and returns. A full queue fails
// at once with ErrQueueFull; a pool with no connection up fails at once with
// ErrNodeDown. When Send returns nil, Done.Complete is called exactly once,
// from a pool goroutine, with the response in Resp/RespBuf or an error in Err
// (ErrTimeout, ErrConnClosed). Pools holds one Pool per node address and
// follows the map's node list through Update.
//
// # One connection
//
// Each connection has a writer goroutine, a reader goroutine and a
// supervisor, and no lock is ever held across I/O:
//
//   - The writer drains what is queued, writes once, and flushes once. It
//     takes the whole queue in one swap, registers every request in the
//     in-flight table, and copies the packets into a 64 KiB bufio.Writer,
//     writing the pool's opaque on the wire in place of the session's
//     (Request.Packet itself is never modified, so a session can resend the
//     same Request to another pool after a NOT_MY_VBUCKET). It flushes when
//     it finds the queue empty, so requests that arrive while a write is in
//     progress leave together in the next one; before that flush it yields
//     once (runtime.Gosched), so that sessions made runnable by the same
//     network poll queue their requests into the same write.
//   - The reader reads each response (memcached.Reader, 64 KiB buffer),
//     finds its request by opaque, copies the response into Request.RespBuf
//     (grown only when too small), restores the session's opaque in Resp and
//     RespBuf, and completes the request.
//   - The in-flight table is sized once from QueueSize. An opaque is a slot
//     index plus a generation, so lookup is one array load, responses may come
//     in any order, and a late response (to a request that already timed
//     out) matches nothing and is discarded: no request completes twice.
//
// In steady state Send → write → read → Complete allocates nothing (see the
// benchmarks).
//
// # Timeouts and failure
//
// Every request has a deadline: Request.Deadline, or Send's time plus
// OperationTimeout. A ticker per connection (OperationTimeout/10, at least
// 5ms; not a timer per request) fails expired requests with ErrTimeout, so a
// request fails between its deadline and one tick later; requests that
// expire while still queued are failed without being sent. The same tick
// detects a hung server: if the connection owes responses and no byte has
// arrived for OperationTimeout, it is closed and everything on it fails with
// ErrTimeout. A connection that breaks (EOF, reset, protocol error) fails
// what it carried with ErrConnClosed at once.
//
// A lost connection reconnects after a capped, jittered exponential backoff
// (MinBackoff doubling up to MaxBackoff, each delay drawn from [d/2, d]); the
// backoff restarts from MinBackoff once a connection has stayed up for
// MaxBackoff. While none of its connections is up the pool is Down and Send
// fails fast with ErrNodeDown.
//
// A pool starts Connecting, is Up while at least one connection is up, and
// Down when none is after a failure. OnState reports each transition, the
// log gets one line per transition and one per change of connection error
// (a node refusing the same way on every retry logs once), and OnError counts
// every error by kind. Nothing is logged per request above debug level.
//
// Close stops accepting, lets the requests already sent finish for up to
// OperationTimeout, then closes the connections (failing what is left with
// ErrConnClosed) and waits for every goroutine. Pools.Update opens pools for
// new addresses before it returns, keeps surviving pools untouched, and
// closes removed pools in the background after they left the set.
//
// # Bootstrap
//
// Each connection is set up as the Couchbase SDKs do it, pipelined, within
// ConnectTimeout:
//
//	HELLO (XERROR, SELECT_BUCKET) + SASL_LIST_MECHS
//	SASL_AUTH                      (PLAIN: + SELECT_BUCKET)
//	SASL_STEP + SELECT_BUCKET      (SCRAM only)
//
// HELLO asks only for features that change nothing a plain memcached client
// sees. The mechanism is the best the server lists, in the order
// SCRAM-SHA512, SCRAM-SHA256, SCRAM-SHA1, PLAIN; SCRAM uses
// github.com/xdg-go/scram and verifies the server's final signature. A
// refusal (AUTH_ERROR, EACCESS, or KEY_ENOENT for an unknown bucket) is an
// ErrAuth naming the node and the step; the pool goes Down and retries with
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
// refused (ErrBadRequest; the session sends their loud twins) and multi-packet
// replies (STAT) are not supported. Complete must not block: it runs on the
// connection's reader or supervisor goroutine.
package upstream
