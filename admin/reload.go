package admin

import (
	"context"
	"errors"
	"net/http"
	"strings"
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
	if truthy(r.URL.Query().Get("config")) {
		s.reloadConfig(ctx, w)
		return
	}
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
	msg := "map refetched: revision " + res.NewRevision + " unchanged"
	if res.Changed {
		msg = "map refetched: revision " + res.OldRevision + " → " + res.NewRevision
	}
	s.RecordEvent(b.Name, EventReload, msg)
	return res, http.StatusOK
}

// ConfigChange is the JSON answer of POST /reload?config=1: which settings
// of the re-read file took effect and which need a restart (they keep their
// running values).
type ConfigChange struct {
	File            string   `json:"file"`
	Applied         []string `json:"applied"`          // field paths, e.g. "listeners[0].users", "log.level"
	RestartRequired []string `json:"restart_required"` // field paths changed in the file, not applied
	// Failed lists what should have applied but could not (a rotated
	// listener certificate that does not load): the running value is kept.
	Failed []FieldProblem `json:"failed,omitempty"`
}

// ConfigInvalidError is a config reload refused because the file does not
// validate; nothing was changed.
type ConfigInvalidError struct {
	File   string
	Fields []FieldProblem
}

// FieldProblem is one configuration problem: the field path ("" when not
// tied to a field, such as a YAML syntax error) and what is wrong.
type FieldProblem struct {
	Field string `json:"field"`
	Error string `json:"error"`
}

func (e *ConfigInvalidError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Error
		if f.Field != "" {
			parts[i] = f.Field + ": " + f.Error
		}
	}
	msg := "config not reloaded: " + strings.Join(parts, "; ")
	if e.File != "" {
		msg = e.File + ": " + msg
	}
	return msg
}

// reloadConfig serves POST /reload?config=1: 200 with the ConfigChange, 400
// with {"error", "fields"} when the file does not validate (nothing
// changed), 501 without a config reloader, 500 for any other failure.
func (s *Server) reloadConfig(ctx context.Context, w http.ResponseWriter) {
	if s.configReload == nil {
		writeJSON(w, http.StatusNotImplemented, errorBody{Error: "config reload is not supported"})
		return
	}
	change, err := s.configReload(ctx)
	var invalid *ConfigInvalidError
	switch {
	case errors.As(err, &invalid):
		writeJSON(w, http.StatusBadRequest, struct {
			Error  string         `json:"error"`
			Fields []FieldProblem `json:"fields"`
		}{invalid.Error(), invalid.Fields})
	case err != nil:
		writeJSON(w, http.StatusInternalServerError, errorBody{Error: err.Error()})
	default:
		if change.Applied == nil {
			change.Applied = []string{}
		}
		if change.RestartRequired == nil {
			change.RestartRequired = []string{}
		}
		writeJSON(w, http.StatusOK, change)
	}
}
