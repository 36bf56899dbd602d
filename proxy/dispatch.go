package proxy

import (
	"github.com/vbproxy/vbproxy/memcached"
)

// dispatch classifies one request and starts its outcome: forwarded to the
// owning node, fanned out (FLUSH), or answered by the proxy.
func (s *session) dispatch(sl *slot) {
	h := &sl.pkt.Header
	info := h.Opcode.Info()
	if h.DataType != 0 && info.Route != memcached.RouteUnknown {
		s.localError(sl, memcached.StatusEINVAL, "Invalid datatype")
		return
	}
	if !s.authed && needsAuth(info.Route, h.Opcode) {
		s.localError(sl, memcached.StatusAuthError, "Auth failure")
		return
	}
	switch info.Route {
	case memcached.RouteReplica:
		if s.srv.o.Bucket == "" {
			// Plain memcached nodes have no replicas and do not know the
			// opcode; memcached 1.6 stops answering a connection after an
			// unknown command with a body, which would stall every client
			// sharing it.
			s.localError(sl, memcached.StatusUnknownCommand, "Unknown command")
			return
		}
		fallthrough
	case memcached.RouteKey:
		if !validKeyRequest(h) {
			s.localError(sl, memcached.StatusEINVAL, "Invalid arguments")
			return
		}
		if s.lst.coll != nil && len(sl.pkt.Key) > collectionMaxKey {
			s.localError(sl, memcached.StatusEINVAL, msgKeyTooLong)
			return
		}
		s.forward(sl, info.Route == memcached.RouteReplica)
	case memcached.RouteBroadcast:
		s.flushAll(sl)
	case memcached.RouteLocal:
		s.localOp(sl)
	case memcached.RouteAuth:
		s.sasl(sl)
	default: // RouteUnknown, RouteNever
		s.localError(sl, memcached.StatusUnknownCommand, "Unknown command")
	}
}

// needsAuth reports whether a request needs an authenticated client when
// client authentication is configured: data operations and STAT do; NOOP,
// VERSION, HELLO, VERBOSITY, QUIT and SASL do not; SELECT_BUCKET answers
// EACCESS itself, as Couchbase does.
func needsAuth(r memcached.Route, op memcached.Opcode) bool {
	switch r {
	case memcached.RouteKey, memcached.RouteReplica, memcached.RouteBroadcast:
		return true
	case memcached.RouteLocal:
		return op == memcached.OpStat
	}
	return false
}

// validKeyRequest checks a key operation's layout as memcached does before
// executing it, so that a malformed request is answered EINVAL by the proxy
// and never reaches (and possibly closes) a shared upstream connection.
func validKeyRequest(h *memcached.Header) bool {
	if h.KeyLen == 0 {
		return false
	}
	value := h.ValueLen()
	switch h.Opcode.Loud() {
	case memcached.OpGet, memcached.OpGetK, memcached.OpDelete, memcached.OpGetReplica:
		return h.ExtrasLen == 0 && value == 0
	case memcached.OpSet, memcached.OpAdd, memcached.OpReplace:
		return h.ExtrasLen == 8
	case memcached.OpIncrement, memcached.OpDecrement:
		return h.ExtrasLen == 20 && value == 0
	case memcached.OpAppend, memcached.OpPrepend:
		return h.ExtrasLen == 0
	case memcached.OpTouch, memcached.OpGAT:
		return h.ExtrasLen == 4 && value == 0
	}
	return false
}

// localError completes sl with an error reply made by the proxy.
func (s *session) localError(sl *slot, status memcached.Status, msg string) {
	sl.fail(status, msg)
}
