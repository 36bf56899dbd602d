package admin

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// apiState serves GET /api/state (State).
func (s *Server) apiState(w http.ResponseWriter, r *http.Request) {
	body, err := json.Marshal(s.buildState())
	if err != nil { // plain types: cannot happen
		writeJSON(w, http.StatusInternalServerError, errorBody{Error: err.Error()})
		return
	}
	writeRawJSON(w, http.StatusOK, body)
}

// apiGrid serves GET /api/grid[?bucket=NAME] (Grid): built once per map and
// served from the cache until the map changes.
func (s *Server) apiGrid(w http.ResponseWriter, r *http.Request) {
	b, err := s.bucket(r)
	if err != nil {
		writeJSON(w, http.StatusNotFound, errorBody{Error: err.Error()})
		return
	}
	m := b.Map.Current()
	if m == nil {
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Bucket: b.Name, Error: "no vBucket map loaded yet"})
		return
	}
	writeRawJSON(w, http.StatusOK, s.state(b.Name).entry(m).json)
}

// writeRawJSON writes an encoded JSON body (compact; the console parses it
// every second).
func writeRawJSON(w http.ResponseWriter, code int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(code)
	_, _ = w.Write(body)
	_, _ = w.Write([]byte{'\n'})
}
