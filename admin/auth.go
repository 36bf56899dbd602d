package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// The admin token (admin.token_file) guards what changes state or costs the
// proxy real work: POST /reload, /debug/pprof/ and GET /api/key?probe=1
// (which reads from the cluster). Probes, metrics, the map and the console
// stay open, so Kubernetes probes and Prometheus need no secret.

// SetToken sets the bearer token the guarded endpoints require; "" opens
// them. Safe to call while serving (config reload re-reads the token file).
func (s *Server) SetToken(token string) {
	if token == "" {
		s.token.Store(nil)
		return
	}
	sum := sha256.Sum256([]byte(token))
	s.token.Store(&sum)
}

// TokenRequired reports whether the guarded endpoints need a token.
func (s *Server) TokenRequired() bool { return s.token.Load() != nil }

// authResult is what a request's Authorization header amounts to.
type authResult uint8

const (
	authOK      authResult = iota // no token configured, or the right one
	authMissing                   // a token is configured and none was sent
	authWrong                     // a token was sent and it is not the one
)

// authorize checks r's bearer token in constant time: both sides are
// hashed first, so neither the token's bytes nor its length leak through
// timing.
func (s *Server) authorize(r *http.Request) authResult {
	want := s.token.Load()
	if want == nil {
		return authOK
	}
	h := r.Header.Get("Authorization")
	scheme, got, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return authMissing
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
	if subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
		return authWrong
	}
	return authOK
}

// guard wraps h so that it runs only with the right token.
func (s *Server) guard(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.refuse(w, r) {
			return
		}
		h(w, r)
	}
}

// refuse answers 401 and reports true when r lacks the right token.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request) bool {
	switch s.authorize(r) {
	case authMissing:
		w.Header().Set("WWW-Authenticate", `Bearer realm="vbproxy admin"`)
		writeJSON(w, http.StatusUnauthorized, errorBody{Error: "this endpoint needs the admin token: send Authorization: Bearer <admin.token_file contents>"})
		return true
	case authWrong:
		s.log.Warn("admin request with a wrong token", "path", r.URL.Path, "remote", r.RemoteAddr)
		w.Header().Set("WWW-Authenticate", `Bearer realm="vbproxy admin", error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, errorBody{Error: "wrong admin token"})
		return true
	}
	return false
}
