// Package slowlog writes vbproxy's slow-request log: one line per request
// that took longer than log.slow_request, with its opcode, vBucket, node,
// duration, NOT_MY_VBUCKET retries and status, and the key only when
// log.slow_request_keys is set.
//
// The proxy calls Log.Slow on its event-loop threads, so Slow never blocks
// and never allocates: it takes a slot in a per-second budget (Options.Rate
// lines per second) with one atomic add, copies the request (the key into a
// fixed array) into a bounded queue, and returns. A writer goroutine owned
// by the Log formats and writes the lines. Requests over the budget, or
// arriving while the queue is full, are counted, and the count is logged
// every Options.DropReport ("slow requests not logged", dropped=N), so a
// slow node cannot flood the log and the operator still learns how many
// lines were left out.
//
// The threshold itself is applied by the proxy (it only calls Slow for
// requests over it); this package owns the rate limit, the formatting and
// the key policy.
package slowlog
