package vbmap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Config endpoint kinds under /pools/default/.
const (
	pathStream       = "bs"               // terse, streaming
	pathStreamLegacy = "bucketsStreaming" // full, streaming (older servers)
	pathTerse        = "b"                // terse, one-shot
	pathFull         = "buckets"          // full, one-shot
)

// errNotFound marks a 404 on one endpoint; several together mean ErrNoBucket.
var errNotFound = errors.New("vbmap: 404 not found")

// errTooLarge marks a config larger than SourceOptions.MaxConfigBytes.
var errTooLarge = errors.New("vbmap: config larger than the configured maximum")

// endpoint returns base's URL for kind ("bs", "b", ...) of the bucket.
func (s *Source) endpoint(base *url.URL, kind string) string {
	return base.String() + "/pools/default/" + kind + "/" + url.PathEscape(s.o.Bucket)
}

// get sends an authenticated GET and classifies failures: ErrCertificate
// (the server's TLS certificate failed verification), ErrUnreachable
// (other transport errors), ErrUnauthorized (401, 403), errNotFound (404), ErrBadResponse
// (other non-200). On success the caller closes the body.
func (s *Source) get(ctx context.Context, u string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	if s.o.User != "" {
		req.SetBasicAuth(s.o.User, s.o.Password)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "vbproxy")
	resp, err := s.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if certificateRejected(err) {
			return nil, fmt.Errorf("GET %s: %w: %w", u, ErrCertificate, err)
		}
		return nil, fmt.Errorf("GET %s: %w: %w", u, ErrUnreachable, err)
	}
	if resp.StatusCode == http.StatusOK {
		return resp, nil
	}
	// Drain a little so the connection can be reused, then close.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		return nil, fmt.Errorf("GET %s: %w (HTTP %s)", u, ErrUnauthorized, resp.Status)
	case http.StatusNotFound:
		return nil, fmt.Errorf("GET %s: %w", u, errNotFound)
	default:
		return nil, fmt.Errorf("GET %s: %w: HTTP %s", u, ErrBadResponse, resp.Status)
	}
}

// noBucket builds the ErrNoBucket error naming every URL that answered 404.
func (s *Source) noBucket(urls ...string) error {
	return fmt.Errorf("%w %q: 404 from %s", ErrNoBucket, s.o.Bucket, strings.Join(urls, ", "))
}

// fetcher GETs one-shot configs from one base URL: the terse endpoint, then
// the full one when the terse answers 404 (remembered for later polls).
type fetcher struct {
	s        *Source
	base     *url.URL
	fullOnly bool
}

// fetch GETs and parses one config. It does not apply it.
func (f *fetcher) fetch(ctx context.Context, origin string) (*Map, string, error) {
	s := f.s
	ctx, cancel := context.WithTimeout(ctx, s.o.FetchTimeout)
	defer cancel()
	terse, full := s.endpoint(f.base, pathTerse), s.endpoint(f.base, pathFull)
	u := terse
	if f.fullOnly {
		u = full
	}
	resp, err := s.get(ctx, u)
	if errors.Is(err, errNotFound) && !f.fullOnly {
		u = full
		resp, err = s.get(ctx, u)
		if errors.Is(err, errNotFound) {
			return nil, u, s.noBucket(terse, full)
		}
		if err == nil {
			f.fullOnly = true
		}
	}
	if errors.Is(err, errNotFound) {
		return nil, u, s.noBucket(u)
	}
	if err != nil {
		return nil, u, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, int64(s.o.MaxConfigBytes)+1))
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			return nil, u, err
		}
		return nil, u, fmt.Errorf("GET %s: read body: %w: %w", u, ErrUnreachable, err)
	}
	if len(body) > s.o.MaxConfigBytes {
		return nil, u, fmt.Errorf("GET %s: %w (%d bytes)", u, errTooLarge, s.o.MaxConfigBytes)
	}
	m, err := Parse(body, s.parseOptions(f.base, origin))
	if err != nil {
		return nil, u, fmt.Errorf("GET %s: %w", u, err)
	}
	return m, u, nil
}

// parseOptions returns the options for a config fetched from base.
func (s *Source) parseOptions(base *url.URL, origin string) ParseOptions {
	return ParseOptions{Host: base.Hostname(), Network: s.o.Network, Origin: origin, TLS: s.tls}
}

// Refresh fetches the config now (origin "reload") from the first seed or
// node of the rotation that answers, applies it if newer, and returns the
// revisions before and after. Unless ConfigSource is "http" it asks the KV
// seeds and nodes first (GET_CLUSTER_CONFIG on a connection of its own),
// then, except in "cccp" mode once KV nodes are known, the cluster
// managers. With MapFile it re-reads the file and applies
// it whenever its content differs (the file is the authority). When every
// URL fails, err joins the error of each.
func (s *Source) Refresh(ctx context.Context) (old, new Revision, err error) {
	if m := s.cur.Load(); m != nil {
		old = m.Revision()
	}
	if s.o.MapFile != "" {
		m, err := s.loadFile(OriginReload)
		if err != nil {
			return old, old, err
		}
		if _, err := s.apply(m, true); err != nil {
			return old, old, err
		}
		return old, s.cur.Load().Revision(), nil
	}
	var errs []error
	if s.mode != ConfigSourceHTTP {
		for _, addr := range s.kvCandidates() {
			label := s.kvLabel(addr)
			m, err := s.fetchKV(ctx, addr, OriginReload)
			if err == nil {
				_, err = s.apply(m, false)
			}
			if err == nil {
				return old, s.cur.Load().Revision(), nil
			}
			if ctx.Err() != nil {
				return old, old, ctx.Err()
			}
			s.fetchErr(label, err)
			errs = append(errs, err)
		}
	}
	httpCandidates := s.candidates()
	if s.mode == ConfigSourceCCCP && len(s.kvCandidates()) > 0 {
		httpCandidates = nil // KV only, once KV nodes are known
	}
	for _, base := range httpCandidates {
		f := &fetcher{s: s, base: base}
		m, u, err := f.fetch(ctx, OriginReload)
		if err == nil {
			_, err = s.apply(m, false)
		}
		if err == nil {
			return old, s.cur.Load().Revision(), nil
		}
		if ctx.Err() != nil {
			return old, old, ctx.Err()
		}
		s.fetchErr(u, err)
		errs = append(errs, err)
	}
	return old, old, fmt.Errorf("vbmap: refresh: %w", errors.Join(errs...))
}

// candidates returns every base URL to try, starting at the rotation's
// current position: the seeds, then the management URLs of the nodes in the
// current map (deduplicated).
func (s *Source) candidates() []*url.URL {
	list := append([]*url.URL(nil), s.seeds...)
	seen := make(map[string]bool, len(list))
	for _, u := range list {
		seen[u.String()] = true
	}
	if m := s.cur.Load(); m != nil {
		for _, raw := range m.MgmtURLs() {
			u, err := url.Parse(raw)
			if err != nil || seen[u.String()] {
				continue
			}
			seen[u.String()] = true
			list = append(list, u)
		}
	}
	if len(list) == 0 {
		return nil
	}
	s.rotMu.Lock()
	start := s.rotIdx % len(list)
	s.rotMu.Unlock()
	return append(list[start:], list[:start]...)
}

// nextCandidate returns the next base URL of the rotation (nil when none
// is known yet: no seeds and no map) and advances it.
func (s *Source) nextCandidate() *url.URL {
	list := s.candidates()
	if len(list) == 0 {
		return nil
	}
	s.rotMu.Lock()
	s.rotIdx++
	s.rotMu.Unlock()
	return list[0]
}
