// Package memcached is vbproxy's wire layer: the memcached binary protocol,
// and a codec that turns the text and meta protocols into binary requests
// and binary replies back into text.
//
// Binary protocol, each part usable on its own:
//
//   - Header: the 24-byte request/response header, decoded and encoded in place
//     without allocation (header.go).
//   - Opcode and Status: the opcode table (name, whether the op carries a
//     document key, quiet/loud twins, and how a proxy must treat it) and the
//     status names used in logs and metrics (opcode.go, status.go).
//   - Reader: reads whole packets from a buffered stream into a reusable
//     Packet, capping every length field before it allocates. Its errors say
//     whether the stream can continue (reader.go, errors.go).
//   - Append* builders for the packets a proxy or server writes itself
//     (build.go).
//
// Constants take their values from github.com/couchbase/gomemcached where it
// defines them; this package adds the opcodes and statuses it lacks (TOUCH,
// GATQ, VERBOSITY, GET_CLUSTER_CONFIG, ...) and a codec that does not allocate
// on the hot path. Facts about the protocol are in docs/design.md and
// PROTOCOL.md beside the repository.
//
// # Text and meta protocols
//
// The text codec (text*.go, meta*.go) does no I/O and does not allocate: a
// session gives it bytes and gets back what to send upstream and what to
// write to the client. Its replies and errors are memcached 1.6's, byte for
// byte, including what each error does to the data block that follows a
// storage command. A session drives it like this:
//
//	lineEnd, next, st := TextFrame(buf, maxGetLine) // FrameLine, FrameNeedMore or FrameClose (over-long line)
//	err := ParseText(buf[:lineEnd], maxValue, &req)  // req's slices point into buf: keep it until done
//	if err != nil {
//	    // write req.AppendError(out, err) (nothing under noreply); if err.Swallow,
//	    // discard req.DataLen bytes; if err.Close, close after writing; if
//	    // err.Unlink, optionally send AppendTextUnlink in a slot with
//	    // req.UnlinkReply() instead of the error, as memcached drops the old value.
//	}
//	switch {
//	case req.Cmd.MultiKey(): // get, gets, gat, gats: one slot per key, then a local END
//	    for k, pos := req.NextKey(0); k != nil; k, pos = req.NextKey(pos) { // resumable from pos
//	        pkt = AppendTextToBinary(pkt, &req, k, opaque, nil)          // slot reply context: req.Reply()
//	    }
//	    // last slot: AppendTextEnd
//	case req.Cmd.Local(): // mn, version, verbosity, quit, stats, flush_all: the session answers
//	    // AppendTextLine(out, &rc, "OK" / "MN"), AppendTextVersion, AppendTextStat*, AppendTextEnd;
//	    // flush_all: ErrTextFlushDisabled when refused, else req.DelayErr when set
//	default: // one binary request, one slot
//	    // storage: wait for req.DataLen bytes, value, err := req.CheckData(block)
//	    pkt = AppendTextToBinary(pkt, &req, req.Key, opaque, value)
//	}
//	rc := req.Reply()                                            // a small value with no pointers, kept in the slot
//	out = AppendTextReply(out, &rc, key, &resp.Header, resp.Extras, resp.Value) // when the binary reply arrives
//	out = AppendTextFailure(out, &rc, "temporary failure")      // when none will (node down, timeout)
//
// Only loud opcodes are sent upstream: GET, GAT, TOUCH, SET, ADD, REPLACE,
// APPEND, PREPEND, DELETE, INCREMENT, DECREMENT (req.Opcode()). noreply and
// meta q are applied when the reply is written: under noreply nothing at all
// is written once the token was parsed, errors included; mg q hides EN only,
// ms/md/ma q hide HD only, and errors are always written. A get miss writes
// nothing; a get key whose request failed writes a SERVER_ERROR line in its
// place and the line still ends with END, as memcached's own proxy does.
//
// Mapping notes: incr/decr send expiry 0xffffffff (a miss is NOT_FOUND, never a
// create); a negative exptime is sent as 2592001 (an absolute time in 1970,
// already expired); a cas unique of 0 (and ms/md C0) is probed with a GET,
// because memcached compares 0 like any CAS while a binary CAS of 0 means
// none; mg T is a GAT (or a TOUCH when no v, f or s is asked for); mg C
// compares the CAS in the codec and omits the value on a match; ms ME drops
// C, as memcached's add ignores it. Meta flags a Couchbase node cannot honour
// are refused after memcached's own checks with an error that names them
// ("CLIENT_ERROR flag 'h' not supported by this proxy"): mg h l N R E, and t
// unless a relative T on the same line sets the TTL; ms I E N, and s in
// append/prepend mode; md I x E; ma C T t E; me altogether. mg u, P, L and
// every flag memcached accepts and ignores are accepted and ignored.
//
// Text authentication (memcached -Y): ParseTextAuth and SplitTextAuth read
// the fake set that carries "user password"; the session checks them.
//
// Reference behaviour: memcached 1.6.18 to 1.6.39 (Debian's 1.6.18 is what
// the differential tests in internal/textdiff run against). memcached 1.6.40
// replaced the classic parser; where it differs the codec keeps the older,
// widely deployed behaviour: a storage line with the wrong number of tokens
// is ERROR (1.6.40: CLIENT_ERROR bad command line format), a bad key, flags
// or exptime on a storage line does not swallow the data block, and
// "delete <key> <x>" is refused unless x is 0 or noreply. For meta commands
// it follows 1.6.40 where the older release lacks the feature: mg C omits the
// value on a CAS match, ms s returns the stored size, a quiet ma also hides
// the HD of an autovivified counter.
package memcached
