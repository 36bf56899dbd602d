package vbmap

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Names of the config sources runSources runs.
const (
	sourceHTTP = "http"
	sourceKV   = "cccp"
)

// sourceResult is how a source loop ended.
type sourceResult struct {
	name string
	err  error
}

// runSources runs the config sources the mode selects and returns when ctx
// is done (nil) or every source started has given up (their errors):
//
//   - http: the HTTP stream from the seeds;
//   - cccp: the KV config connection from the KV seeds, or, without KV
//     seeds, from the nodes of a first config fetched over HTTP;
//   - auto: the KV config connection from the KV seeds, or from the nodes of
//     the first applied map whose bucketCapabilities include "cccp"; and
//     the HTTP stream beside it, from the HTTP seeds or from the nodes'
//     cluster manager URLs once a map is known. When no node serves the
//     config over KV, the HTTP stream carries on alone, and the KV
//     connection is tried again with the first newer map listing "cccp"
//     applied at least MaxBackoff later.
func (s *Source) runSources(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make(chan sourceResult, 2)
	var httpOn, kvOn bool
	running := 0
	start := func(name string, run func(context.Context) error) {
		running++
		go func() { results <- sourceResult{name, run(ctx)} }()
	}
	startHTTP := func(bootstrapOnly bool) {
		httpOn = true
		start(sourceHTTP, func(ctx context.Context) error { return s.runHTTP(ctx, bootstrapOnly) })
	}
	startKV := func() {
		kvOn = true
		start(sourceKV, s.runKV)
	}
	switch s.mode {
	case ConfigSourceHTTP:
		startHTTP(false)
	case ConfigSourceCCCP:
		if len(s.kvSeeds) > 0 {
			startKV()
		} else {
			startHTTP(true)
		}
	default:
		if len(s.seeds) > 0 {
			startHTTP(false)
		}
		if len(s.kvSeeds) > 0 {
			startKV()
		}
	}
	var (
		gaveUp         []error
		unsupportedRev Revision  // the map revision when no node served CCCP
		unsupportedAt  time.Time // zero: CCCP not found unsupported
	)
	for {
		changed := s.changes()
		if m := s.cur.Load(); m != nil && ctx.Err() == nil {
			if !httpOn && s.mode == ConfigSourceAuto && len(s.candidates()) > 0 {
				startHTTP(false)
			}
			if !kvOn && s.wantKV(m, unsupportedAt, unsupportedRev) {
				startKV()
			}
		}
		if running == 0 {
			if ctx.Err() != nil || len(gaveUp) == 0 {
				return nil
			}
			return errors.Join(gaveUp...)
		}
		select {
		case <-ctx.Done():
			for ; running > 0; running-- {
				<-results
			}
			return nil
		case r := <-results:
			running--
			switch r.name {
			case sourceHTTP:
				httpOn = false
			case sourceKV:
				kvOn = false
			}
			// A source that stopped is started again (above) only once a
			// map is known: before that, giving up is final.
			switch {
			case r.err == nil:
				// Stopped as planned: ctx done, or the CCCP bootstrap fetch.
			case r.name == sourceKV && errors.Is(r.err, errCCCPUnsupported) && s.cur.Load() != nil:
				s.log.Warn("no node serves the config over KV, staying on the HTTP stream", "err", r.err)
				unsupportedAt, unsupportedRev = time.Now(), s.cur.Load().Revision()
			default:
				s.log.Warn("cluster config source gave up", "source", r.name, "err", r.err)
				gaveUp = append(gaveUp, fmt.Errorf("%s: %w", r.name, r.err))
			}
		case <-changed:
		}
	}
}

// wantKV reports whether the KV config connection should start now that
// map m is applied.
func (s *Source) wantKV(m *Map, unsupportedAt time.Time, unsupportedRev Revision) bool {
	switch s.mode {
	case ConfigSourceHTTP:
		return false
	case ConfigSourceCCCP:
		return true
	}
	if !m.HasCapability("cccp") {
		return false
	}
	if unsupportedAt.IsZero() {
		return true
	}
	return m.Revision().Newer(unsupportedRev) && time.Since(unsupportedAt) >= s.o.MaxBackoff
}
