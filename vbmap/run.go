package vbmap

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"time"
)

// errNoStream: both streaming endpoints answered 404.
var errNoStream = errors.New("vbmap: streaming endpoints not found")

// Run loads the map and keeps it fresh until ctx is done, then returns nil.
//
// With Seeds it follows the config from the sources SourceOptions.ConfigSource
// selects (package doc, "Config over KV"): the cluster manager's streaming
// endpoint of one seed or node at a time (polling when streaming is
// unavailable), and the KV config connection to one seed or node at a time.
// A source that fails moves to the next candidate of its rotation after a
// jittered exponential backoff. Before the first map is applied, a source
// gives up when every one of its seeds in a row refuses the credentials or
// the bucket (HTTP 401/403/404, SASL or SELECT_BUCKET refused); Run returns
// those errors once every source has given up. Unreachable seeds are
// retried forever.
//
// With MapFile it loads the file (an error is returned at once) and waits for
// ctx. Run must not be called again while running.
func (s *Source) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("vbmap: Source.Run called twice")
	}
	defer s.running.Store(false)
	if s.o.MapFile != "" {
		m, err := s.loadFile(OriginStatic)
		if err != nil {
			return err
		}
		if _, err := s.apply(m, true); err != nil {
			return fmt.Errorf("map file %s: %w", s.o.MapFile, err)
		}
		<-ctx.Done()
		return nil
	}
	if s.ownHTTP {
		defer s.client.CloseIdleConnections()
	}
	return s.runSources(ctx)
}

// runHTTP follows the cluster manager: streams from one seed or node at a
// time (polling when streaming is unavailable) and moves to the next after
// a failure. bootstrapOnly (CCCP mode without KV seeds) stops once a map is
// applied: the HTTP config only tells where the KV nodes are.
func (s *Source) runHTTP(ctx context.Context, bootstrapOnly bool) error {
	var (
		failures  int
		permanent []error // consecutive 401/404 answers before the first map
		quiet     bool    // a failure was logged at warn level: repeat it at debug
	)
	for ctx.Err() == nil {
		if bootstrapOnly && s.cur.Load() != nil {
			return nil
		}
		base := s.nextCandidate()
		if base == nil {
			select {
			case <-s.changes():
				continue
			case <-ctx.Done():
				return nil
			}
		}
		start := time.Now()
		var delivered bool
		var err error
		if bootstrapOnly {
			delivered, err = s.bootstrapFetch(ctx, base)
			if err == nil {
				return nil
			}
		} else {
			delivered, err = s.follow(ctx, base)
		}
		if ctx.Err() != nil {
			break
		}
		if delivered && time.Since(start) >= s.o.MaxBackoff {
			failures = 0
		}
		if delivered {
			quiet = false
		}
		// Beside a KV config connection, an unreachable cluster manager
		// (a proxy that reaches only the data ports) logs once per run of
		// failures, not once per retry.
		if quiet && s.kvActive.Load() {
			s.log.Debug("cluster config source failed, will retry", "url", base.String(), "err", err)
		} else {
			s.log.Warn("cluster config source failed, will retry", "url", base.String(), "err", err)
			quiet = true
		}
		if s.cur.Load() == nil && (errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrNoBucket)) {
			permanent = append(permanent, err)
			if len(permanent) >= len(s.seeds) {
				return fmt.Errorf("vbmap: giving up on bucket %q, every seed refused it: %w", s.o.Bucket, errors.Join(permanent...))
			}
		} else {
			permanent = permanent[:0]
		}
		if !sleep(ctx, backoff(s.o.MinBackoff, s.o.MaxBackoff, failures)) {
			break
		}
		failures++
	}
	return nil
}

// bootstrapFetch GETs one config from base and applies it.
func (s *Source) bootstrapFetch(ctx context.Context, base *url.URL) (bool, error) {
	f := &fetcher{s: s, base: base}
	m, u, err := f.fetch(ctx, OriginFetch)
	if err == nil {
		_, err = s.apply(m, false)
	}
	if err != nil {
		if ctx.Err() == nil {
			s.fetchErr(u, err)
		}
		return false, err
	}
	return true, nil
}

// follow streams configs from base, or polls it when streaming is
// unavailable, until an error. delivered reports whether any config was
// received.
func (s *Source) follow(ctx context.Context, base *url.URL) (delivered bool, err error) {
	delivered, err = s.stream(ctx, base)
	if !errors.Is(err, errNoStream) {
		return delivered, err
	}
	s.log.Info("streaming unavailable, polling", "url", base.String(), "interval", s.o.PollInterval)
	defer s.httpActive.Store(false)
	f := &fetcher{s: s, base: base}
	origin := OriginFetch
	for {
		m, u, err := f.fetch(ctx, origin)
		if origin == OriginFetch && errors.Is(err, ErrNoBucket) {
			err = s.noBucket(s.endpoint(base, pathStream), s.endpoint(base, pathStreamLegacy),
				s.endpoint(base, pathTerse), s.endpoint(base, pathFull))
		}
		if err != nil {
			if ctx.Err() == nil {
				s.fetchErr(u, err)
			}
			return delivered, err
		}
		delivered = true
		s.httpActive.Store(true) // polling delivers too
		s.offerLocal(m, u)
		origin = OriginPoll
		if !sleep(ctx, s.o.PollInterval) {
			return delivered, ctx.Err()
		}
	}
}

// stream reads configs from base's streaming endpoint until it ends.
func (s *Source) stream(ctx context.Context, base *url.URL) (delivered bool, err error) {
	u := s.endpoint(base, pathStream)
	resp, err := s.get(ctx, u)
	if errors.Is(err, errNotFound) {
		legacy := s.endpoint(base, pathStreamLegacy)
		resp, err = s.get(ctx, legacy)
		if errors.Is(err, errNotFound) {
			return false, fmt.Errorf("%w: 404 from %s, %s", errNoStream, u, legacy)
		}
		u = legacy
	}
	if err != nil {
		if ctx.Err() == nil {
			s.fetchErr(u, err)
		}
		return false, err
	}
	defer resp.Body.Close()
	s.log.Debug("streaming cluster config", "url", u)
	body := &capReader{r: resp.Body, max: s.o.MaxConfigBytes}
	dec := json.NewDecoder(body)
	opts := s.parseOptions(base, OriginStream)
	prog := newProgress(time.Now())
	stopWatch := s.watchSilent(prog, func() { resp.Body.Close() })
	defer stopWatch()
	defer s.httpActive.Store(false)
	for {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if err != nil {
			if ctx.Err() != nil {
				return delivered, ctx.Err()
			}
			if silent := stopWatch(); silent != nil {
				err = fmt.Errorf("stream %s: %w", u, silent)
				s.fetchErr(u, err)
				return delivered, err
			}
			var syntax *json.SyntaxError
			switch {
			case err == io.EOF:
				err = fmt.Errorf("stream %s: %w: closed by server", u, ErrUnreachable)
			case errors.As(err, &syntax):
				err = fmt.Errorf("stream %s: %w: malformed config JSON: %w", u, ErrInvalidConfig, err)
			default:
				err = fmt.Errorf("stream %s: %w: %w", u, ErrUnreachable, err)
			}
			s.fetchErr(u, err)
			return delivered, err
		}
		body.n = 0
		delivered = true
		s.httpActive.Store(true)
		if r, ok := peekRevision(raw); ok {
			prog.advance(r, time.Now())
		}
		m, err := Parse(raw, opts)
		if err != nil {
			err = fmt.Errorf("stream %s: %w", u, err)
			s.log.Warn("rejected cluster config, keeping the current map", "url", u, "err", err)
			s.fetchErr(u, err)
			continue
		}
		s.offerLocal(m, u)
	}
}

// offerLocal applies a config fetched by the source itself, logging rejections.
func (s *Source) offerLocal(m *Map, u string) {
	if _, err := s.apply(m, false); err != nil {
		s.log.Warn("rejected cluster config, keeping the current map", "url", u, "err", err)
		s.fetchErr(u, err)
	}
}

// capReader fails once more than max bytes are read without a reset; the
// stream reader resets n after each config.
type capReader struct {
	r   io.Reader
	n   int
	max int
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.n > c.max {
		return 0, errTooLarge
	}
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// backoff returns the wait before retry number attempt (0-based): min
// doubled per attempt, capped at max, with "equal jitter" (uniform in
// [d/2, d]) so that proxies restarted together do not reconnect together.
func backoff(min, max time.Duration, attempt int) time.Duration {
	d := max
	if attempt < 32 {
		if x := min << attempt; x > 0 && x < max {
			d = x
		}
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// sleep waits d or until ctx is done; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
