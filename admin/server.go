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
	"sync"
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
	// Nodes reports the upstream pools' state for /vbmap and the console;
	// nil shows every node's state as "unknown".
	Nodes func() []NodeStatus
	// Metrics counts reloads and gives the console its per-node rates; nil
	// counts nothing and shows no rates.
	Metrics *BucketMetrics
	// Clients reports the client counters for the console; nil shows none.
	Clients func() ClientStats
	// Probe reads a key's metadata from its active node through the proxy's
	// connections (GET /api/key?probe=1); nil answers 501.
	Probe func(ctx context.Context, key []byte) (ProbeResult, error)
	// Degraded says why the bucket's map may fall behind the cluster ("" when
	// it does not: vbmap.Source.Degraded); /readyz shows it as a detail
	// (still 200). nil: never.
	Degraded func() string
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
	// Token is the bearer token that POST /reload, /debug/pprof/ and
	// GET /api/key?probe=1 require (admin.token_file); SetToken changes it.
	// Default "": no token, those endpoints are open.
	Token string
	// ConfigReload re-reads the configuration file for POST
	// /reload?config=1; nil answers 501. An error of type
	// *ConfigInvalidError answers 400 with the fields named.
	ConfigReload func(ctx context.Context) (ConfigChange, error)
	// Warnings lists settings that weaken security or availability
	// (cluster.tls.insecure_skip_verify, a PROXY listener trusting every
	// source), shown as "warning: ..." lines of /readyz. nil: none.
	Warnings func() []string
	// Version is shown by the console. Default "".
	Version string
	// ProbeTimeout bounds one GET /api/key?probe=1. Default 3s.
	ProbeTimeout time.Duration
	// Logger receives one line per reload and per server error; nil
	// discards.
	Logger *slog.Logger
}

// Server is the admin HTTP server: health, readiness, metrics, the map and
// reload.
type Server struct {
	buckets      []Bucket
	states       []*bucketState // the console's per-bucket state, in bucket order
	metrics      *Metrics
	timeout      time.Duration
	probeTimeout time.Duration
	version      string
	configReload func(ctx context.Context) (ConfigChange, error)
	warnings     func() []string
	log          *slog.Logger
	draining     atomic.Bool
	token        atomic.Pointer[[32]byte] // SHA-256 of the admin token; nil = none
	events       eventRing
	now          func() time.Time // time.Now; tests fix it
	mux          *http.ServeMux
	http         *http.Server

	samplerOnce sync.Once
	stopSampler context.CancelFunc // set by the first Serve
	samplerDone chan struct{}
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
	if o.ProbeTimeout <= 0 {
		o.ProbeTimeout = 3 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		buckets:      append([]Bucket(nil), o.Buckets...),
		metrics:      o.Metrics,
		timeout:      o.ReloadTimeout,
		probeTimeout: o.ProbeTimeout,
		version:      o.Version,
		configReload: o.ConfigReload,
		warnings:     o.Warnings,
		log:          o.Logger,
		now:          time.Now,
		mux:          http.NewServeMux(),
		samplerDone:  make(chan struct{}),
	}
	for i := range s.buckets {
		s.states = append(s.states, newBucketState(&s.buckets[i]))
	}
	s.SetToken(o.Token)
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.HandleFunc("GET /vbmap", s.vbmap)
	s.mux.HandleFunc("POST /reload", s.guard(s.reload))
	if o.Metrics != nil {
		s.mux.Handle("GET /metrics", o.Metrics.Handler())
	}
	s.mux.HandleFunc("GET /{$}", s.console)
	s.mux.HandleFunc("GET /assets/{file}", s.asset)
	s.mux.HandleFunc("GET /api/state", s.apiState)
	s.mux.HandleFunc("GET /api/grid", s.apiGrid)
	s.mux.HandleFunc("GET /api/key", s.apiKey)
	if o.Pprof {
		s.mux.HandleFunc("/debug/pprof/", s.guard(pprof.Index))
		s.mux.HandleFunc("/debug/pprof/cmdline", s.guard(pprof.Cmdline))
		s.mux.HandleFunc("/debug/pprof/profile", s.guard(pprof.Profile))
		s.mux.HandleFunc("/debug/pprof/symbol", s.guard(pprof.Symbol))
		s.mux.HandleFunc("/debug/pprof/trace", s.guard(pprof.Trace))
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
// Shutdown. The first Serve also starts the console's sampler (one reading
// of the counters per second), which Shutdown stops.
func (s *Server) Serve(ln net.Listener) error {
	s.samplerOnce.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		s.stopSampler = cancel
		go func() {
			defer close(s.samplerDone)
			s.runSampler(ctx)
		}()
	})
	err := s.http.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops the HTTP server, waiting for active requests until ctx is
// done, and the sampler.
func (s *Server) Shutdown(ctx context.Context) error {
	s.samplerOnce.Do(func() { close(s.samplerDone) }) // never started
	if s.stopSampler != nil {
		s.stopSampler()
	}
	<-s.samplerDone
	return s.http.Shutdown(ctx)
}

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
