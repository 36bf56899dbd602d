package proxy

import (
	"bytes"
	"crypto/subtle"

	"github.com/vbproxy/vbproxy/memcached"
)

// saslMechs is the SASL_LIST_MECHS reply: the proxy checks client passwords
// itself, so only PLAIN is offered (use TLS termination in front of it when
// the network is not trusted).
var saslMechs = []byte("PLAIN")

var (
	msgAuthenticated = []byte("Authenticated")
	mechPlain        = []byte("PLAIN")
)

// sasl answers SASL_LIST_MECHS, SASL_AUTH and SASL_STEP. With no users
// configured every attempt succeeds, so clients that always authenticate
// still work; otherwise SASL_AUTH PLAIN is checked against Options.Users in
// constant time.
func (s *session) sasl(sl *slot) {
	h := &sl.pkt.Header
	switch h.Opcode {
	case memcached.OpSASLList:
		s.reply(sl, memcached.StatusSuccess, nil, saslMechs)
		return
	case memcached.OpSASLAuth, memcached.OpSASLStep:
	default:
		s.localError(sl, memcached.StatusUnknownCommand, "Unknown command")
		return
	}
	users := s.lst.users()
	if len(users) == 0 {
		s.reply(sl, memcached.StatusSuccess, nil, msgAuthenticated)
		return
	}
	// PLAIN completes in one step: a SASL_STEP is never expected.
	ok := h.Opcode == memcached.OpSASLAuth && bytes.Equal(sl.pkt.Key, mechPlain) && checkPlain(users, sl.pkt.Value)
	s.authed = ok
	s.authedNow.Store(ok)
	if !ok {
		s.srv.authFailures.Add(1)
		s.log.Info("client authentication failed")
		s.localError(sl, memcached.StatusAuthError, "Auth failure")
		return
	}
	s.reply(sl, memcached.StatusSuccess, nil, msgAuthenticated)
}

// checkPlain checks a SASL PLAIN message ("authzid\x00user\x00password",
// RFC 4616) against users. The password comparison takes the same time
// whether or not the user exists.
func checkPlain(users map[string]string, msg []byte) bool {
	authz, rest, ok := bytes.Cut(msg, []byte{0})
	if !ok {
		return false
	}
	user, pass, ok := bytes.Cut(rest, []byte{0})
	if !ok || len(user) == 0 || bytes.IndexByte(pass, 0) >= 0 {
		return false
	}
	if len(authz) > 0 && !bytes.Equal(authz, user) {
		return false // acting as another identity is not supported
	}
	return checkUser(users, user, pass)
}

// checkUser checks a user's password (SASL PLAIN, text authentication). The
// comparison takes the same time whether or not the user exists.
func checkUser(users map[string]string, user, pass []byte) bool {
	want, known := users[string(user)]
	if !known {
		want = "\x00unknown-user" // compare anyway, so timing does not reveal unknown users
	}
	match := subtle.ConstantTimeCompare(pass, []byte(want)) == 1
	return match && known
}
