package proxy

import (
	"github.com/vbproxy/vbproxy/memcached"
)

// localOp answers the requests the proxy serves itself. Each reply goes into
// the request's slot, so it leaves in request order like any other.
func (s *session) localOp(sl *slot) {
	h := &sl.pkt.Header
	switch h.Opcode {
	case memcached.OpNoop:
		// The barrier comes from the ring: this reply is written only after
		// every earlier slot's outcome.
		s.reply(sl, memcached.StatusSuccess, nil, nil)
	case memcached.OpVersion:
		sl.local = memcached.AppendResponse(sl.local[:0], h, memcached.StatusSuccess, 0, nil, nil, s.srv.version)
		sl.answer(memcached.StatusSuccess)
	case memcached.OpVerbosity:
		// Couchbase applies VERBOSITY server-wide: never forward it.
		s.reply(sl, memcached.StatusSuccess, nil, nil)
	case memcached.OpHello:
		// Negotiate nothing: the proxy speaks the plain protocol only. The key
		// (the client's agent name) is echoed.
		s.reply(sl, memcached.StatusSuccess, sl.pkt.Key, nil)
	case memcached.OpQuit, memcached.OpQuitQ:
		s.quitting = true // the reader stops; the writer flushes earlier replies, then the session closes
		s.reply(sl, memcached.StatusSuccess, nil, nil)
	case memcached.OpSelectBucket:
		s.selectBucket(sl)
	case memcached.OpStat:
		s.stat(sl)
	default:
		s.localError(sl, memcached.StatusUnknownCommand, "Unknown command")
	}
}

// reply completes sl with a local reply carrying key and value.
func (s *session) reply(sl *slot, status memcached.Status, key, value []byte) {
	sl.local = memcached.AppendResponse(sl.local[:0], &sl.pkt.Header, status, 0, nil, key, value)
	sl.answer(status)
}

// selectBucket accepts the listener's own bucket. Like Couchbase, another
// bucket is KEY_ENOENT, and any bucket before authentication is EACCESS.
func (s *session) selectBucket(sl *slot) {
	switch {
	case !s.authed:
		s.localError(sl, memcached.StatusEAccess, "No access")
	case s.srv.o.Bucket != "" && string(sl.pkt.Key) == s.srv.o.Bucket:
		s.reply(sl, memcached.StatusSuccess, nil, nil)
	default:
		s.localError(sl, memcached.StatusKeyENOENT, "Not found")
	}
}
