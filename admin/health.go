package admin

import (
	"fmt"
	"net/http"
	"strings"
)

// healthz answers 200 while the process can answer HTTP at all.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeText(w, http.StatusOK, "ok")
}

// readyz answers 200 when every bucket has a map and its listeners are
// serving, and 503 with the reasons otherwise (or "shutting down").
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if reason := s.notReady(); reason != "" {
		writeText(w, http.StatusServiceUnavailable, reason)
		return
	}
	writeText(w, http.StatusOK, "ok")
}

// Ready reports whether /readyz would answer 200.
func (s *Server) Ready() bool { return s.notReady() == "" }

func (s *Server) notReady() string {
	if s.draining.Load() {
		return "shutting down"
	}
	var reasons []string
	for i := range s.buckets {
		b := &s.buckets[i]
		switch {
		case b.Map.Current() == nil:
			reasons = append(reasons, fmt.Sprintf("bucket %q: no vBucket map loaded yet", b.Name))
		case b.Ready != nil && !b.Ready():
			reasons = append(reasons, fmt.Sprintf("bucket %q: listener not serving", b.Name))
		}
	}
	return strings.Join(reasons, "; ")
}
