// Package textdiff is test support for differential tests of the memcached
// text and meta protocols: it sends the same command sequences to two
// servers (a real memcached, and vbproxy in front of memcached or Couchbase)
// over TCP and compares the replies byte for byte, after normalising only
// the fields that legitimately differ between two servers: CAS values
// (replaced by per-key placeholders in order of appearance), the VERSION
// string and the lines of a stats reply.
//
// The pieces:
//
//   - Case: one independent sequence of writes (Steps), with templates for
//     the parts that must be unique or are only known at run time ({k} is
//     the case's own key prefix, {casof:a} the last CAS the server returned
//     for key a, ...; see Expand). Flags say which cases a proxy cannot
//     reproduce by design (ProxyDiffers) or only in front of Couchbase
//     (CouchbaseDiffers), and why.
//   - Cases: the hand-written table of edge cases from the memcached 1.6
//     facts (errors, swallowed data, noreply, meta flags, limits, ...), and
//     Generate: seeded random sequences of valid and invalid commands.
//   - Run / Compare / Exec: the runner. Cases run one after the other (some
//     flush_all), each on a fresh connection per server.
//
// The memcached the cases expect is started with MemcachedArgs (an item
// size limit of ItemSizeMax, so that both a value over the default 1 MB and
// a value over the limit can be tested).
package textdiff
