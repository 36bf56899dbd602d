package admin

import (
	"context"
	"net/http"
)

// ReloadResult is the JSON answer of POST /reload for one bucket.
type ReloadResult struct {
	Bucket      string `json:"bucket"`
	OldRevision string `json:"old_revision,omitempty"`
	NewRevision string `json:"new_revision,omitempty"`
	Changed     bool   `json:"changed"`
	Error       string `json:"error,omitempty"`
}

// reload serves POST /reload: refetch the first bucket's map, ?bucket=NAME
// another's, ?all=1 every bucket's ({"buckets": [...]}). A failed fetch
// answers 502 with the error; a bucket without a reloader 501.
func (s *Server) reload(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	if truthy(r.URL.Query().Get("all")) {
		out := struct {
			Buckets []ReloadResult `json:"buckets"`
		}{}
		code := http.StatusOK
		for i := range s.buckets {
			res, c := s.reloadOne(ctx, &s.buckets[i])
			out.Buckets = append(out.Buckets, res)
			if c != http.StatusOK && code == http.StatusOK {
				code = c
			}
		}
		writeJSON(w, code, out)
		return
	}
	b, err := s.bucket(r)
	if err != nil {
		writeJSON(w, http.StatusNotFound, errorBody{Error: err.Error()})
		return
	}
	res, code := s.reloadOne(ctx, b)
	writeJSON(w, code, res)
}

func (s *Server) reloadOne(ctx context.Context, b *Bucket) (ReloadResult, int) {
	res := ReloadResult{Bucket: b.Name}
	if b.Reloader == nil {
		res.Error = "reload is not supported for this bucket"
		return res, http.StatusNotImplemented
	}
	old, cur, err := b.Reloader.Refresh(ctx)
	if b.Metrics != nil {
		b.Metrics.reload(err == nil)
	}
	if err != nil {
		s.log.Warn("map reload failed", "bucket", b.Name, "err", err)
		res.Error = err.Error()
		return res, http.StatusBadGateway
	}
	res.OldRevision, res.NewRevision = old.String(), cur.String()
	res.Changed = old != cur
	s.log.Info("map reload", "bucket", b.Name, "old", res.OldRevision, "new", res.NewRevision, "changed", res.Changed)
	return res, http.StatusOK
}
