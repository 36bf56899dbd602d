package proxy

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
	"github.com/vbproxy/vbproxy/proxy/edge"
	"github.com/vbproxy/vbproxy/vbmap"
)

// MapSource supplies the current vBucket map. *vbmap.Source satisfies it; a
// test can use a small static implementation.
type MapSource interface {
	// Current returns the map in force (nil until one is loaded). It must be
	// cheap: the proxy calls it once per request.
	Current() *vbmap.Map
	// Subscribe registers fn, called serially after every applied change.
	Subscribe(fn func(old, new *vbmap.Map))
	// Offer hands over the config carried by a NOT_MY_VBUCKET reply from the
	// node on host; the source applies it when it is newer.
	Offer(body []byte, host string) (bool, error)
}

// Observer receives the proxy's metrics events. Every method must be safe for
// concurrent use and must neither allocate nor block: they are called on the
// request path.
type Observer interface {
	// Request is called once per client-visible request outcome, including
	// replies suppressed by the quiet rules and answers made by the proxy.
	Request(op memcached.Opcode, status memcached.Status, d time.Duration)
	// ClientConn reports client connections accepted, closed and refused.
	ClientConn(event ConnEvent)
	// UpstreamConn reports upstream connection state transitions.
	UpstreamConn(node string, state UpstreamState)
	// NMVBRetry is called once per request resent after NOT_MY_VBUCKET.
	NMVBRetry()
	// UpstreamError reports an upstream failure: kind is "timeout", "io",
	// "queue_full", "down" or "auth".
	UpstreamError(node string, kind string)
	// Bytes reports client bytes read and written (one call per socket read
	// or write).
	Bytes(in, out int)
}

// ProtocolObserver is an optional Observer method: an Observer that
// implements it gets each request outcome with the client's protocol
// ("binary", "text" or "meta") in place of Request.
type ProtocolObserver interface {
	RequestProtocol(protocol string, op memcached.Opcode, status memcached.Status, d time.Duration)
}

// ConnEvent is a client connection event.
type ConnEvent int

// Client connection events.
const (
	ConnAccepted ConnEvent = iota // a client connection was accepted
	ConnClosed                    // an accepted connection ended
	ConnRefused                   // a connection was refused (MaxConns reached, or shutting down)
)

var connEventNames = [...]string{"accepted", "closed", "refused"}

func (e ConnEvent) String() string {
	if e >= 0 && int(e) < len(connEventNames) {
		return connEventNames[e]
	}
	return fmt.Sprintf("ConnEvent(%d)", int(e))
}

// UpstreamState is the state of the connections to one node.
type UpstreamState int

// Upstream connection states.
const (
	UpstreamConnecting UpstreamState = iota // dialing and bootstrapping (HELLO, SASL, SELECT_BUCKET)
	UpstreamUp                              // ready for requests
	UpstreamDown                            // failed; reconnecting with backoff
)

var upstreamStateNames = [...]string{"connecting", "up", "down"}

func (s UpstreamState) String() string {
	if s >= 0 && int(s) < len(upstreamStateNames) {
		return upstreamStateNames[s]
	}
	return fmt.Sprintf("UpstreamState(%d)", int(s))
}

// Options configure a Server. The zero value is not usable only because Map
// is required; every other field has a working default.
type Options struct {
	// Bucket is the bucket this listener serves: SELECT_BUCKET of this name
	// succeeds, and upstream connections select it. "" means plain memcached
	// nodes (no SELECT_BUCKET upstream; a client's SELECT_BUCKET of any name
	// gets KEY_ENOENT).
	Bucket string
	// Map supplies the vBucket map. Required.
	Map MapSource
	// User and Password are the upstream SASL credentials; empty means no
	// authentication (plain memcached nodes).
	User, Password string
	// Loops is the number of event loops (OS threads) serving the data
	// path; each owns its client connections and its own connections to
	// every node. 0 means DefaultLoops.
	Loops int
	// PoolSize is the number of connections per node on each loop: a
	// client uses one of them for all its requests (per-vBucket order).
	// 0 means 2.
	PoolSize int
	// QueueSize is the number of pending requests per upstream connection.
	// 0 means 4096.
	QueueSize int
	// ConnectTimeout bounds an upstream dial and bootstrap. 0 means 2s.
	ConnectTimeout time.Duration
	// OperationTimeout bounds a request from the moment the proxy reads it,
	// NOT_MY_VBUCKET retries included; on expiry the client gets ETMPFAIL.
	// 0 means 2.5s.
	OperationTimeout time.Duration
	// IdleTimeout closes a client connection that sends no whole request
	// for this long (bytes trickling in without completing one do not
	// count: slowloris; a large value arriving does). 0 means none.
	IdleTimeout time.Duration
	// WriteTimeout closes a client connection that does not read its replies
	// for this long (one flush blocked). 0 means 30s; negative means none.
	WriteTimeout time.Duration
	// MaxConns caps client connections; extra ones are closed at once and
	// counted as refused. 0 means unlimited.
	MaxConns int
	// MaxRequestSize is the largest request body accepted; larger requests
	// get E2BIG and are skipped. 0 means memcached.DefaultMaxBody.
	MaxRequestSize int
	// PipelineDepth is the number of requests one client may have in flight;
	// when it is reached the proxy stops reading from that client until
	// replies go out (backpressure). 0 means 128. Rounded up to a power of
	// two, at most 65536.
	PipelineDepth int
	// ReplyHold is how long the replies to a pipelined batch (requests that
	// arrived in one client read) may wait for the rest of the batch, so
	// that the batch's replies leave in one write instead of one per node
	// that answered. 0 means 500µs; negative means replies never wait.
	ReplyHold time.Duration
	// Protocols restricts the client protocols served: ProtocolsBoth (the
	// default; each connection's first byte decides), ProtocolsBinary or
	// ProtocolsText. A client of another protocol gets an error in its own
	// protocol, then the connection closes.
	Protocols Protocols
	// ReadReplicas lets replicas answer reads whose active node failed
	// (replica.go). ReplicasNever (the default) fails them with ETMPFAIL.
	// Only with a bucket (Couchbase nodes: plain memcached has no replicas).
	ReadReplicas ReplicaPolicy
	// Collection is the collection Serve's listener serves ("scope.collection";
	// "" = the default collection). See Listener.Collection.
	Collection string
	// Collections negotiates collections with the nodes (HELLO), so that
	// listeners may serve named collections; every document key then
	// carries its collection ID on the wire. It is implied when Collection
	// names a collection. false (the default) addresses the default
	// collection only, as any memcached client does.
	Collections bool
	// AllowFlush lets FLUSH through to every node. false (the default)
	// answers FLUSH with NOT_SUPPORTED.
	AllowFlush bool
	// Edge admits each client connection before it joins an event loop, on
	// a goroutine of its own: the PROXY protocol header (v1 or v2, from
	// trusted sources only), the TLS handshake, the user a verified client
	// certificate maps to. Handshakes in progress count against MaxConns.
	// nil means plain TCP without a PROXY header.
	Edge *edge.Edge
	// UpstreamTLS, when set, makes every node connection TLS (Couchbase's
	// kvSSL ports, which the map names when cluster TLS is on): the server
	// name is the host dialled unless the config sets one
	// (tlsconf.ForAddr), and the handshake is bounded by ConnectTimeout.
	// nil means plain TCP.
	UpstreamTLS *tls.Config
	// SCRAMOverTLS makes upstream connections prefer SCRAM over PLAIN even
	// over TLS. false (the default) authenticates with PLAIN over TLS, as
	// the Couchbase SDKs do; without TLS SCRAM is always preferred.
	SCRAMOverTLS bool
	// Users are the client SASL PLAIN users (name to password). Empty means
	// no client authentication is required (a client's SASL attempt then
	// succeeds).
	Users map[string]string
	// Version is the VERSION reply. "" means DefaultVersion.
	Version string
	// SlowLog receives the requests slower than SlowRequest (0 = off);
	// SlowRequestKeys adds their keys. Reconfigure changes both. nil: none.
	SlowLog         SlowLogger
	SlowRequest     time.Duration
	SlowRequestKeys bool
	// Logger receives one line per event that matters (nothing per request
	// at info level). nil means discard.
	Logger *slog.Logger
	// Observer receives metrics events. nil means none.
	Observer Observer
}

// DefaultVersion is the VERSION reply when Options.Version is "". Clients
// that parse the version see a memcached 1.6 compatible server.
const DefaultVersion = "1.6.0-vbproxy"

// DefaultLoops is Options.Loops when it is 0: one loop measured best on the
// 2-core machines of the benchmarks, where the load generator and memcached
// share the cores (docs/performance.md); raise it on larger machines.
const DefaultLoops = 1

// DefaultReplyHold is Options.ReplyHold when it is 0.
const DefaultReplyHold = 500 * time.Microsecond

// Defaults.
const (
	defaultPoolSize         = 2
	defaultOperationTimeout = 2500 * time.Millisecond
	defaultWriteTimeout     = 30 * time.Second
	defaultPipelineDepth    = 128
	maxPipelineDepth        = 1 << 16
)

// Sentinel errors.
var (
	// ErrServerClosed is returned by Serve after Shutdown.
	ErrServerClosed = errors.New("proxy: server closed")
	// ErrNoMap: Options.Map is nil.
	ErrNoMap = errors.New("proxy: Options.Map is required")
	// ErrInvalidOptions: an option is out of range; the wrapping error names it.
	ErrInvalidOptions = errors.New("proxy: invalid options")
)

// normalize checks o and fills defaults.
func (o *Options) normalize() error {
	if o.Map == nil {
		return ErrNoMap
	}
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"Loops", int64(o.Loops)},
		{"PoolSize", int64(o.PoolSize)},
		{"QueueSize", int64(o.QueueSize)},
		{"ConnectTimeout", int64(o.ConnectTimeout)},
		{"OperationTimeout", int64(o.OperationTimeout)},
		{"IdleTimeout", int64(o.IdleTimeout)},
		{"MaxConns", int64(o.MaxConns)},
		{"MaxRequestSize", int64(o.MaxRequestSize)},
		{"PipelineDepth", int64(o.PipelineDepth)},
	} {
		if f.v < 0 {
			return fmt.Errorf("%w: %s is negative (%d)", ErrInvalidOptions, f.name, f.v)
		}
	}
	if o.PipelineDepth > maxPipelineDepth {
		return fmt.Errorf("%w: PipelineDepth %d exceeds %d", ErrInvalidOptions, o.PipelineDepth, maxPipelineDepth)
	}
	for name := range o.Users {
		if name == "" {
			return fmt.Errorf("%w: Users has an empty user name", ErrInvalidOptions)
		}
	}
	if o.Loops == 0 {
		o.Loops = DefaultLoops
	}
	if p, err := collectionPath(o.Collection); err != nil {
		return err
	} else if p != "" {
		o.Collections = true
	}
	if o.PoolSize == 0 {
		o.PoolSize = defaultPoolSize
	}
	if o.OperationTimeout == 0 {
		o.OperationTimeout = defaultOperationTimeout
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = defaultWriteTimeout
	}
	if o.MaxRequestSize == 0 {
		o.MaxRequestSize = memcached.DefaultMaxBody
	}
	if o.PipelineDepth == 0 {
		o.PipelineDepth = defaultPipelineDepth
	}
	d := 1
	for d < o.PipelineDepth {
		d <<= 1
	}
	o.PipelineDepth = d
	if o.ReplyHold == 0 {
		o.ReplyHold = DefaultReplyHold
	}
	if o.Version == "" {
		o.Version = DefaultVersion
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}
