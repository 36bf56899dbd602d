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
// serving, and 503 with the reasons otherwise (or "shutting down"). The
// first line is "ok" or the reasons; the lines after it, when there are
// any, are details that do not change the answer: each node that is not
// up, with why ("bucket "b": node h:11207 down: TLS: certificate expired
// at ..."), then Options.Warnings as "warning: ...".
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	code, first := http.StatusOK, "ok"
	if reason := s.notReady(); reason != "" {
		code, first = http.StatusServiceUnavailable, reason
	}
	if s.draining.Load() {
		writeText(w, code, first)
		return
	}
	writeText(w, code, strings.Join(append([]string{first}, s.readyDetails()...), "\n"))
}

// readyDetails lists the nodes that are not up (with a reason) and the
// warnings.
func (s *Server) readyDetails() []string {
	var out []string
	for i := range s.buckets {
		b := &s.buckets[i]
		if b.Degraded != nil {
			if d := b.Degraded(); d != "" {
				out = append(out, fmt.Sprintf("bucket %q: %s", b.Name, d))
			}
		}
		if b.Nodes == nil {
			continue
		}
		for _, n := range b.Nodes() {
			if n.State != "up" && n.Reason != "" {
				out = append(out, fmt.Sprintf("bucket %q: node %s %s: %s", b.Name, n.Addr, n.State, n.Reason))
			}
		}
	}
	if s.warnings != nil {
		for _, w := range s.warnings() {
			out = append(out, "warning: "+w)
		}
	}
	return out
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
