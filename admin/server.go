package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync/atomic"
	"time"

	"github.com/vbproxy/vbproxy/vbmap"
)

// Sentinel errors.
var (
	ErrNoBuckets     = errors.New("admin: no buckets")
	ErrBucketName    = errors.New("admin: bucket without a name")
	ErrDuplicate     = errors.New("admin: duplicate bucket")
	ErrNoMapProvider = errors.New("admin: bucket without a map provider")
)

// MapProvider gives the current map of a bucket; *vbmap.Source satisfies
// it. Current returns nil until a map is loaded.
type MapProvider interface {
	Current() *vbmap.Map
}

// Reloader fetches a bucket's map now; *vbmap.Source satisfies it.
type Reloader interface {
	Refresh(ctx context.Context) (old, new vbmap.Revision, err error)
}

// Bucket is what the admin server knows about one served bucket.
type Bucket struct {
	// Name is the bucket name; required and unique.
	Name string
	// Map gives the current map; required.
	Map MapProvider
	// Reloader serves POST /reload; nil means reload answers 501.
	Reloader Reloader
	// Ready reports whether every listener of the bucket is serving; nil
	// means ready as soon as a map is loaded.
	Ready func() bool
	// Nodes reports the upstream pools' state for /vbmap; nil shows every
	// node's state as "unknown".
	Nodes func() []NodeStatus
	// Metrics counts reloads; nil counts nothing.
	Metrics *BucketMetrics
}

// Options configure New. Only Buckets is required.
type Options struct {
	// Buckets in listener order; the first is the default of /vbmap and
	// /reload.
	Buckets []Bucket
	// Metrics is served on /metrics; nil means /metrics answers 404.
	Metrics *Metrics
	// Pprof serves net/http/pprof under /debug/pprof/. Default false.
	Pprof bool
	// ReloadTimeout bounds one POST /reload. Default 10s.
	ReloadTimeout time.Duration
	// Logger receives one line per reload and per server error; nil
	// discards.
	Logger *slog.Logger
}

// Server is the admin HTTP server: health, readiness, metrics, the map and
// reload.
type Server struct {
	buckets  []Bucket
	metrics  *Metrics
	timeout  time.Duration
	log      *slog.Logger
	draining atomic.Bool
	mux      *http.ServeMux
	http     *http.Server
}

// New checks o and builds the server; it does not listen (see Serve).
func New(o Options) (*Server, error) {
	if len(o.Buckets) == 0 {
		return nil, ErrNoBuckets
	}
	seen := make(map[string]bool, len(o.Buckets))
	for i, b := range o.Buckets {
		switch {
		case b.Name == "":
			return nil, fmt.Errorf("buckets[%d]: %w", i, ErrBucketName)
		case seen[b.Name]:
			return nil, fmt.Errorf("buckets[%d]: %w %q", i, ErrDuplicate, b.Name)
		case b.Map == nil:
			return nil, fmt.Errorf("buckets[%d] (%q): %w", i, b.Name, ErrNoMapProvider)
		}
		seen[b.Name] = true
	}
	if o.ReloadTimeout <= 0 {
		o.ReloadTimeout = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		buckets: append([]Bucket(nil), o.Buckets...),
		metrics: o.Metrics,
		timeout: o.ReloadTimeout,
		log:     o.Logger,
		mux:     http.NewServeMux(),
	}
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.HandleFunc("GET /vbmap", s.vbmap)
	s.mux.HandleFunc("POST /reload", s.reload)
	if o.Metrics != nil {
		s.mux.Handle("GET /metrics", o.Metrics.Handler())
	}
	if o.Pprof {
		s.mux.HandleFunc("/debug/pprof/", pprof.Index)
		s.mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		s.mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		s.mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		s.mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	s.http = &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		IdleTimeout:       60 * time.Second,
		// No WriteTimeout: /debug/pprof/profile streams for its duration.
		ErrorLog: slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// Handler returns the admin routes (for tests and embedding).
func (s *Server) Handler() http.Handler { return s.mux }

// Serve answers admin requests on ln until Shutdown; it returns nil after
// Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	err := s.http.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops the HTTP server, waiting for active requests until ctx is
// done.
func (s *Server) Shutdown(ctx context.Context) error { return s.http.Shutdown(ctx) }

// SetDraining makes /readyz answer 503 "shutting down" from now on, so that
// load balancers stop sending new clients while the listeners drain.
func (s *Server) SetDraining() { s.draining.Store(true) }

// bucket selects the bucket named by ?bucket=, the first by default.
func (s *Server) bucket(r *http.Request) (*Bucket, error) {
	name := r.URL.Query().Get("bucket")
	if name == "" {
		return &s.buckets[0], nil
	}
	for i := range s.buckets {
		if s.buckets[i].Name == name {
			return &s.buckets[i], nil
		}
	}
	return nil, fmt.Errorf("unknown bucket %q", name)
}

type errorBody struct {
	Bucket string `json:"bucket,omitempty"`
	Error  string `json:"error"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away: nothing to do
}

func writeText(w http.ResponseWriter, code int, text string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, text+"\n")
}
