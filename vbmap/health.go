package vbmap

import (
	"fmt"
	"time"
)

// Health of the config sources, for readiness: a Source that has a map
// keeps serving it whatever happens to its sources, but an operator wants to
// know when it is no longer being kept up to date, or only by one of two
// sources.

// fetchFailure is the last failed request or rejected config of a source.
type fetchFailure struct {
	url string
	err error
	at  time.Time
}

// lastFailure records a failure for Degraded (called by fetchErr).
func (s *Source) noteFailure(u string, err error) {
	s.lastFail.Store(&fetchFailure{url: u, err: err, at: time.Now()})
}

// Degraded says why the map may be falling behind the cluster, "" when it
// is not (or when there is no map yet): no config source is delivering, or
// (with both configured, config
// source auto) the cluster manager's stream is not while KV is, as when
// the cluster manager is unreachable and the data ports are not. A static
// map file is never degraded.
func (s *Source) Degraded() string {
	if s.o.MapFile != "" {
		return ""
	}
	httpOn, kvOn := s.httpActive.Load(), s.kvActive.Load()
	last := ""
	if f := s.lastFail.Load(); f != nil {
		last = fmt.Sprintf(" (last error %s ago: %v)", time.Since(f.at).Round(time.Second), f.err)
	}
	switch {
	case httpOn || kvOn && (s.mode != ConfigSourceAuto || len(s.seeds) == 0):
		return ""
	case kvOn:
		return "map source degraded: the cluster manager stream is down, following the map over KV only" + last
	case s.cur.Load() == nil:
		return "" // not ready at all: that is the readiness answer, not a detail
	}
	return "map source degraded: no config source is delivering; serving the last map" + last
}
