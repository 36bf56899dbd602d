package vbmap

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vbproxy/vbproxy/internal/kvconn"
)

// Defaults of SourceOptions.
const (
	DefaultPollInterval   = 10 * time.Second
	DefaultMinBackoff     = 100 * time.Millisecond
	DefaultMaxBackoff     = 10 * time.Second
	DefaultFetchTimeout   = 10 * time.Second
	DefaultMaxConfigBytes = 32 << 20

	DefaultConfigCheckInterval = 2500 * time.Millisecond
	DefaultSilentInterval      = 5 * time.Second
	DefaultKVTimeout           = 3 * time.Second
)

// Config sources (SourceOptions.ConfigSource).
const (
	ConfigSourceAuto = "auto" // CCCP where the cluster offers it, the HTTP stream beside it
	ConfigSourceHTTP = "http" // the cluster manager only
	ConfigSourceCCCP = "cccp" // the KV config connection only
)

// SourceOptions configures a Source. The zero value of every field is usable;
// Seeds (with Bucket) or MapFile must be set.
type SourceOptions struct {
	// Seeds are where the config comes from: cluster manager URLs,
	// "http://host:8091" or "https://host:18091", and KV addresses,
	// "couchbase://host[:11210][,host...]", "couchbases://host[:11207]"
	// (TLS) or a bare "host:11210" ("host:11207": TLS). A cluster manager
	// seed without a scheme gets "http://" ("https://" with TLS), one
	// without a port 8091 (18091 for https). TLS seeds imply TLS; mixing
	// plain and TLS seeds is an error. Required unless MapFile is set.
	Seeds []string
	// MapFile is a static source: a config JSON file (same format as the
	// cluster serves). Run loads it; Refresh re-reads it. Default "": use Seeds.
	MapFile string
	// Bucket is the bucket to follow. Required with Seeds; with MapFile it
	// defaults to the file's "name".
	Bucket string
	// User and Password are sent with HTTP Basic auth and used for SASL
	// on the KV config connection. Empty User: no auth.
	User, Password string
	// Network selects node addresses: "default" (or ""), "external" or "auto".
	Network string
	// TLS makes every config parse with ParseOptions.TLS: nodes' KV
	// addresses use their kvSSL ports and management URLs are https with
	// mgmtSSL; the KV config connection is TLS. It is implied by TLS seeds
	// (https://, couchbases://, host:11207); with it, a seed without a
	// scheme gets "https://" and a plain seed (http://, couchbase://,
	// host:11210) is an error. Set it for a MapFile of a TLS cluster.
	// Default false (unless a seed is a TLS one).
	TLS bool
	// TLSConfig configures TLS for the default HTTP client and the KV
	// config connection (CA pool, client certificate, ...); it is cloned,
	// and each connection verifies the host it dials unless ServerName is
	// set. Setting both TLSConfig and HTTPClient is an error. Default nil:
	// the system roots.
	TLSConfig *tls.Config
	// KVCertAuth says that the client certificate in TLSConfig
	// authenticates the KV connections: the config connection then sends
	// no SASL (User and Password are for the cluster manager only).
	// Default false.
	KVCertAuth bool
	// SCRAMOverTLS keeps SCRAM first on a TLS config connection; by
	// default it authenticates with PLAIN when the node offers it, as the
	// SDKs do over TLS. Default false.
	SCRAMOverTLS bool
	// ConfigSource chooses where configs come from: "auto" (or ""), "http"
	// or "cccp". The package doc, "Config over KV", gives the rules.
	// Default "auto".
	ConfigSource string
	// ConfigCheckInterval is the interval of the revision check on the KV
	// config connection (GET_CLUSTER_CONFIG with the known version: an
	// empty reply when nothing changed). Default 2.5s; negative: none
	// (pushes only).
	ConfigCheckInterval time.Duration
	// SilentInterval is how long an HTTP stream or a KV config connection
	// may deliver nothing while the Source knows a newer revision (from the
	// other source, a push, a NOT_MY_VBUCKET reply) before it is restarted
	// on the next seed or node. It is checked every SilentInterval/4, so a
	// silent source is restarted within 1.25 x SilentInterval of falling
	// behind. Default 5s.
	SilentInterval time.Duration
	// KVTimeout bounds the KV config connection's dial and bootstrap, and
	// each GET_CLUSTER_CONFIG on it: a node that does not answer within it
	// is left for the next one. Default 3s.
	KVTimeout time.Duration
	// PollInterval is the interval between GETs when streaming is
	// unavailable. Default 10s.
	PollInterval time.Duration
	// MinBackoff and MaxBackoff bound the jittered exponential backoff
	// between reconnects. Defaults 100ms and 10s.
	MinBackoff, MaxBackoff time.Duration
	// FetchTimeout bounds one non-streaming GET (poll, fetch, Refresh).
	// Default 10s.
	FetchTimeout time.Duration
	// MaxConfigBytes caps the size of one config read from the network.
	// Default 32 MiB.
	MaxConfigBytes int
	// HTTPClient is used for all requests. Default nil: a client with dial,
	// TLS-handshake and response-header timeouts and no overall timeout (so
	// streams can stay open), with TLSConfig.
	HTTPClient *http.Client
	// Logger receives one line per event that matters. Default nil: discard.
	Logger *slog.Logger
	// OnFetchError is called for every failed request or rejected config with
	// the URL tried (a metrics hook; "couchbase://host:port" or
	// "couchbases://..." for the KV config connection). Default nil: none.
	OnFetchError func(url string, err error)

	// notifyFull makes the KV config connection ask for full clustermap
	// notifications only (tests; by default it asks for brief and full,
	// and a server that offers brief enables only brief).
	notifyFull bool
}

// Source keeps the current Map of one bucket fresh. Create it with
// NewSource, start it with Run; Current is safe to call at any time from any
// goroutine and never blocks.
type Source struct {
	o       SourceOptions
	log     *slog.Logger
	client  *http.Client
	ownHTTP bool
	seeds   []*url.URL // cluster manager seeds
	kvSeeds []string   // KV seeds, "host:port"
	tls     bool       // parse configs with ParseOptions.TLS; KV over TLS
	kvTLS   *tls.Config
	mode    string // ConfigSourceAuto, ConfigSourceHTTP or ConfigSourceCCCP
	scram   kvconn.SCRAMCache

	cur        atomic.Pointer[Map]
	ready      chan struct{}
	readyOnce  sync.Once
	running    atomic.Bool
	kvActive   atomic.Bool // a KV config connection is delivering configs
	lastFail   atomic.Pointer[fetchFailure]
	httpActive atomic.Bool // an HTTP stream is delivering configs

	applyMu sync.Mutex // serializes apply and the subscriber calls
	subsMu  sync.Mutex
	subs    []func(old, new *Map)

	rotMu    sync.Mutex
	rotIdx   int // next candidate of the seed/node rotation
	kvRotIdx int // next candidate of the KV rotation

	changedMu sync.Mutex
	changed   chan struct{} // closed and replaced on every applied change

	knownMu  sync.Mutex
	known    Revision // newest revision known to exist (applied maps, pushes)
	hasKnown bool
}

// NewSource validates o and returns a Source. It does no I/O.
func NewSource(o SourceOptions) (*Source, error) {
	switch o.Network {
	case "", NetworkDefault, NetworkExternal, NetworkAuto:
	default:
		return nil, fmt.Errorf("vbmap: unknown network %q (want default, external or auto)", o.Network)
	}
	if o.MapFile == "" {
		if len(o.Seeds) == 0 {
			return nil, errors.New("vbmap: no seeds and no map file")
		}
		if o.Bucket == "" {
			return nil, errors.New("vbmap: bucket name required with seeds")
		}
	}
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = o.MinBackoff
	}
	if o.FetchTimeout <= 0 {
		o.FetchTimeout = DefaultFetchTimeout
	}
	if o.MaxConfigBytes <= 0 {
		o.MaxConfigBytes = DefaultMaxConfigBytes
	}
	if o.ConfigCheckInterval == 0 {
		o.ConfigCheckInterval = DefaultConfigCheckInterval
	}
	if o.SilentInterval <= 0 {
		o.SilentInterval = DefaultSilentInterval
	}
	if o.KVTimeout <= 0 {
		o.KVTimeout = DefaultKVTimeout
	}
	if o.TLSConfig != nil && o.HTTPClient != nil {
		return nil, errors.New("vbmap: TLSConfig and HTTPClient are both set (TLSConfig configures the default client only)")
	}
	s := &Source{o: o, log: o.Logger, client: o.HTTPClient, ready: make(chan struct{}), tls: o.TLS}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if o.Bucket != "" {
		s.log = s.log.With("bucket", o.Bucket)
	}
	if s.client == nil {
		s.client = newHTTPClient(o.TLSConfig)
		s.ownHTTP = true
	}
	seeds, err := parseSeeds(o.Seeds, o.TLS)
	if err != nil {
		return nil, err
	}
	s.seeds, s.kvSeeds, s.tls = seeds.http, seeds.kv, seeds.tls
	switch o.ConfigSource {
	case "", ConfigSourceAuto:
		s.mode = ConfigSourceAuto
	case ConfigSourceHTTP:
		s.mode = ConfigSourceHTTP
		if len(s.kvSeeds) > 0 {
			return nil, fmt.Errorf("vbmap: config source %q needs cluster manager seeds (http:// or https://), but %s is a KV address", ConfigSourceHTTP, s.kvSeeds[0])
		}
	case ConfigSourceCCCP:
		s.mode = ConfigSourceCCCP
	default:
		return nil, fmt.Errorf("vbmap: unknown config source %q (want auto, http or cccp)", o.ConfigSource)
	}
	if s.tls {
		s.kvTLS = &tls.Config{MinVersion: tls.VersionTLS12}
		if o.TLSConfig != nil {
			s.kvTLS = o.TLSConfig.Clone()
			if s.kvTLS.MinVersion == 0 {
				s.kvTLS.MinVersion = tls.VersionTLS12
			}
		}
	}
	s.changed = make(chan struct{})
	return s, nil
}

// newHTTPClient returns a client fit for long-lived streams: bounded dial,
// TLS handshake and header waits, TCP keep-alive, and no overall timeout.
// tlsConfig (nil: Go's defaults) is cloned for https; the transport sets
// each connection's ServerName to the host dialled when tlsConfig has none.
func newHTTPClient(tlsConfig *tls.Config) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	t := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           d.DialContext,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: 10 * time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   2,
	}
	if tlsConfig != nil {
		t.TLSClientConfig = tlsConfig.Clone()
	}
	return &http.Client{Transport: t}
}

// Current returns the current map, nil until the first config is applied.
// It is one atomic load.
func (s *Source) Current() *Map { return s.cur.Load() }

// Ready returns a channel closed when the first map is applied.
func (s *Source) Ready() <-chan struct{} { return s.ready }

// Bucket returns the bucket followed: SourceOptions.Bucket, or for a static
// source without one, the name in the current map.
func (s *Source) Bucket() string {
	if s.o.Bucket != "" {
		return s.o.Bucket
	}
	if m := s.cur.Load(); m != nil {
		return m.Bucket()
	}
	return ""
}

// Subscribe registers fn to be called after each applied change with the
// previous map (nil for the first) and the new one. Calls are serial, in
// apply order, outside any lock readers take. fn is not called for maps
// applied before it was registered: subscribe first, then read Current, to
// miss no change. fn must not call Offer or Refresh synchronously (they wait
// for the subscribers of the change in progress).
func (s *Source) Subscribe(fn func(old, new *Map)) {
	s.subsMu.Lock()
	s.subs = append(s.subs, fn)
	s.subsMu.Unlock()
}

// Offer parses a config received elsewhere, normally the body of a
// NOT_MY_VBUCKET reply from node host ("host" or "host:port", which replaces
// $HOST), and applies it if it is newer. An empty body returns (false, nil).
func (s *Source) Offer(body []byte, host string) (applied bool, err error) {
	if len(body) == 0 {
		return false, nil
	}
	if s.stale(body) {
		return false, nil
	}
	network := s.o.Network
	if network == NetworkAuto {
		if cur := s.cur.Load(); cur != nil {
			network = cur.Network()
		}
	}
	m, err := Parse(body, ParseOptions{Host: host, Network: network, Origin: OriginNMVB, TLS: s.tls})
	if err != nil {
		return false, fmt.Errorf("config from node %s: %w", host, err)
	}
	return s.apply(m, false)
}

// stale reports whether body is a versioned config not newer than the
// current versioned map. During a rebalance every NOT_MY_VBUCKET reply
// carries the config, mostly one already applied; peeking at the revision
// costs a small fraction of a full Parse.
func (s *Source) stale(body []byte) bool {
	cur := s.cur.Load()
	if cur == nil || !cur.Versioned() {
		return false
	}
	r, ok := peekRevision(body)
	if !ok {
		return false // let Parse report it, or compare the unversioned map
	}
	return !r.Newer(cur.Revision())
}

// apply makes m current when it is newer than the current map (see the
// package doc for the ordering rules); force applies any map whose content
// differs. Subscribers are called before apply returns.
func (s *Source) apply(m *Map, force bool) (bool, error) {
	if s.o.Bucket != "" && m.Bucket() != "" && m.Bucket() != s.o.Bucket {
		return false, fmt.Errorf("%w: got %q, want %q", ErrBucketMismatch, m.Bucket(), s.o.Bucket)
	}
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	old := s.cur.Load()
	if !shouldApply(old, m, force) {
		return false, nil
	}
	s.cur.Store(m)
	s.readyOnce.Do(func() { close(s.ready) })
	if m.Versioned() {
		s.noteRevision(m.Revision())
	}
	s.signalChange()
	oldRev := "none"
	if old != nil {
		oldRev = old.Revision().String()
	}
	if old == nil || !old.SameRouting(m) {
		s.log.Info("vbucket map applied", "old_rev", oldRev, "rev", m.Revision().String(), "origin", m.Origin(),
			"nodes", len(m.Nodes()), "vbuckets", m.NumVBuckets(), "rebalancing", m.HasForward())
	} else {
		s.log.Debug("vbucket map revision applied", "old_rev", oldRev, "rev", m.Revision().String(), "origin", m.Origin())
	}
	s.subsMu.Lock()
	subs := slices.Clone(s.subs)
	s.subsMu.Unlock()
	for _, fn := range subs {
		fn(old, m)
	}
	return true, nil
}

// shouldApply decides whether next replaces cur.
//   - nothing current: apply;
//   - next unversioned (no rev): apply when its content differs;
//   - cur unversioned, next versioned: apply;
//   - both versioned: apply when next's (revEpoch, rev) is newer;
//   - force: also apply whenever the content differs.
func shouldApply(cur, next *Map, force bool) bool {
	switch {
	case cur == nil:
		return true
	case force || !next.Versioned():
		return !cur.sameContent(next) || (next.Versioned() && next.Revision().Newer(cur.Revision()))
	case !cur.Versioned():
		return true
	default:
		return next.Revision().Newer(cur.Revision())
	}
}

// fetchErr reports a failed request or rejected config to the log and hook.
func (s *Source) fetchErr(u string, err error) {
	s.noteFailure(u, err)
	if s.o.OnFetchError != nil {
		s.o.OnFetchError(u, err)
	}
}

// loadFile reads and parses the static map file.
func (s *Source) loadFile(origin string) (*Map, error) {
	data, err := os.ReadFile(s.o.MapFile)
	if err != nil {
		return nil, fmt.Errorf("vbmap: map file: %w", err)
	}
	m, err := Parse(data, ParseOptions{Network: s.o.Network, Origin: origin, TLS: s.tls})
	if err != nil {
		return nil, fmt.Errorf("map file %s: %w", s.o.MapFile, err)
	}
	return m, nil
}
