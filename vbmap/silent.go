package vbmap

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrSilent: a config source (an HTTP stream, the KV config connection)
// delivered nothing for SourceOptions.SilentInterval while the Source knew
// of a newer revision; it was restarted on the next seed or node.
var ErrSilent = errors.New("vbmap: config source silent while the cluster moved")

// noteRevision records that revision r exists (an applied map, a pushed
// revision), so that sources that have not delivered it can be found
// silent.
func (s *Source) noteRevision(r Revision) {
	s.knownMu.Lock()
	defer s.knownMu.Unlock()
	if !s.hasKnown || r.Newer(s.known) {
		s.known, s.hasKnown = r, true
	}
}

// knownRevision returns the newest revision known to exist.
func (s *Source) knownRevision() (Revision, bool) {
	s.knownMu.Lock()
	defer s.knownMu.Unlock()
	return s.known, s.hasKnown
}

// changes returns a channel closed at the next applied change.
func (s *Source) changes() <-chan struct{} {
	s.changedMu.Lock()
	defer s.changedMu.Unlock()
	return s.changed
}

func (s *Source) signalChange() {
	s.changedMu.Lock()
	defer s.changedMu.Unlock()
	close(s.changed)
	s.changed = make(chan struct{})
}

// progress is what one config source (an HTTP stream, a KV config
// connection) has delivered: the newest revision it told of and when that
// last advanced. A source is silent when it is behind the Source's known
// revision and has advanced nothing for the silent interval, counted from
// the later of its last advance and the first check that saw it behind.
// Safe for concurrent use.
type progress struct {
	mu          sync.Mutex
	rev         Revision
	has         bool
	advanced    time.Time // start, or the last advance of rev
	behindSince time.Time // zero unless the last check found it behind
}

func newProgress(now time.Time) *progress { return &progress{advanced: now} }

// advance records that the source told of revision r; it reports whether r
// was newer than what the source had told before.
func (p *progress) advance(r Revision, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.has && !r.Newer(p.rev) {
		return false
	}
	p.rev, p.has, p.advanced = r, true, now
	return true
}

// revision returns the newest revision the source told of.
func (p *progress) revision() (Revision, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rev, p.has
}

// silent reports whether the source is behind known (ok false: nothing
// known, never behind) and has advanced nothing for interval.
func (p *progress) silent(known Revision, ok bool, now time.Time, interval time.Duration) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !ok || (p.has && !known.Newer(p.rev)) {
		p.behindSince = time.Time{}
		return false
	}
	if p.behindSince.IsZero() {
		p.behindSince = now
	}
	since := p.behindSince
	if p.advanced.After(since) {
		since = p.advanced
	}
	return now.Sub(since) >= interval
}

// silentCheckInterval is the period of the silent-source check.
func (s *Source) silentCheckInterval() time.Duration {
	return max(s.o.SilentInterval/4, time.Millisecond)
}

// isSilent checks p against the Source's known revision now. The check
// runs every tick = SilentInterval/4 and allows half a tick for timer
// jitter, so a source that fell behind (or last advanced) at time t is
// found silent at the first check after t + SilentInterval - tick/2: no
// later than t + 1.25 x SilentInterval.
func (s *Source) isSilent(p *progress) bool {
	known, ok := s.knownRevision()
	tick := s.silentCheckInterval()
	return p.silent(known, ok, time.Now(), s.o.SilentInterval-tick/2)
}

// watchSilent checks p every silentCheckInterval on a goroutine of its own
// and calls abort once p is silent (an HTTP stream: closing the body ends
// the blocked read). The returned stop ends the watch, once, and returns
// the ErrSilent error when the watch aborted, else nil.
func (s *Source) watchSilent(p *progress, abort func()) (stop func() error) {
	done := make(chan struct{})
	finished := make(chan struct{})
	var silentErr error
	go func() {
		defer close(finished)
		t := time.NewTicker(s.silentCheckInterval())
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if s.isSilent(p) {
					known, _ := s.knownRevision()
					told, _ := p.revision()
					silentErr = fmt.Errorf("%w: revision %s is known, the stream delivered %s and nothing newer for %v",
						ErrSilent, known, told, s.o.SilentInterval)
					abort()
					return
				}
			}
		}
	}()
	var once sync.Once
	return func() error {
		once.Do(func() { close(done) })
		<-finished
		return silentErr
	}
}
