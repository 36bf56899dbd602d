package upstream

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"time"
)

// Defaults for the zero fields of Options.
const (
	DefaultQueueSize        = 4096
	DefaultConnectTimeout   = 2 * time.Second
	DefaultOperationTimeout = 2500 * time.Millisecond
	DefaultMinBackoff       = 50 * time.Millisecond
	DefaultMaxBackoff       = 5 * time.Second
	DefaultAgent            = "vbproxy"

	// MaxQueueSize caps Options.QueueSize: the in-flight table is sized from
	// it and its index must leave room for a generation in the opaque.
	MaxQueueSize = 1 << 20

	// WriteBufferSize is the output buffer a connection keeps between
	// writes (a larger one, grown for a large value, is dropped once
	// written): requests routed in one loop round leave in one write.
	WriteBufferSize = 64 << 10
	// MaxOutput bounds the bytes a connection holds waiting to be written:
	// past it Send answers ErrBusy (backpressure on large values).
	MaxOutput = 4 << 20
	// ReadBufferSize is the read buffer a connection keeps (grown while a
	// large response is read, then dropped).
	ReadBufferSize = 64 << 10
)

// Options configure a Pool or Pools. The zero value works: no
// authentication, no bucket selection (plain memcached nodes).
type Options struct {
	// Bucket is selected with SELECT_BUCKET after authentication. "" means
	// none. It is also skipped when User is "" and the node answered HELLO
	// with UNKNOWN_COMMAND (a plain memcached server).
	Bucket string
	// User and Password are the SASL credentials. User "" skips SASL and
	// tolerates UNKNOWN_COMMAND for HELLO. Mechanisms are preferred in the
	// order SCRAM-SHA512, SCRAM-SHA256, SCRAM-SHA1, PLAIN.
	User, Password string
	// QueueSize bounds the requests pending on one connection (queued plus
	// in flight). Send fails with ErrQueueFull beyond it. Default 4096,
	// at most MaxQueueSize.
	QueueSize int
	// ConnectTimeout bounds dial plus bootstrap (HELLO, SASL,
	// SELECT_BUCKET). Default 2s.
	ConnectTimeout time.Duration
	// OperationTimeout is the deadline of a request whose Deadline is zero,
	// counted from Send; a connection that owes responses and receives no
	// bytes for this long is closed as hung. Default 2.5s.
	OperationTimeout time.Duration
	// MinBackoff and MaxBackoff bound the jittered exponential delay between
	// reconnection attempts. Defaults 50ms and 5s.
	MinBackoff, MaxBackoff time.Duration
	// TLS, when set, makes the connections TLS: tlsconf.ForAddr(TLS, addr)
	// per dial (server name = the host dialled unless TLS.ServerName is
	// set), the handshake inside ConnectTimeout. nil means plain TCP.
	TLS *tls.Config
	// SCRAMOverTLS keeps SCRAM first over TLS; by default TLS connections
	// authenticate with PLAIN when the node offers it, as the SDKs do.
	SCRAMOverTLS bool
	// Collections asks the nodes for collections (HELLO 0x12); a node that
	// agrees gets every document key prefixed with Request.Collection.
	Collections bool
	// Agent is the name sent in HELLO (servers log it). Default "vbproxy".
	Agent string
	// Logger receives one line per pool state change and per change of
	// connection error. nil discards.
	Logger *slog.Logger
	// OnState is called on each pool state transition, serially per pool, in
	// order. It must not block. nil = none.
	OnState func(node string, state State)
	// OnError is called for every error the pool sees, so it can feed a
	// counter directly: "timeout" per request failed with ErrTimeout,
	// "queue_full" per ErrQueueFull, "down" per ErrNodeDown from Send (not
	// while the pool is still Connecting for the first time), "io"
	// per lost connection or failed connection attempt, "auth" per attempt
	// refused for credentials or bucket. Callers should not count the same
	// errors again. It must not block or allocate. nil = none.
	OnError func(node string, kind string)

	// checkInterval is the period of each connection's deadline and hang
	// check: OperationTimeout/10, at least 5ms. Tests may set it.
	checkInterval time.Duration
}

// withDefaults returns o with zero fields filled in and values clamped.
func (o Options) withDefaults() Options {
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	o.QueueSize = min(o.QueueSize, MaxQueueSize)
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.OperationTimeout <= 0 {
		o.OperationTimeout = DefaultOperationTimeout
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	o.MaxBackoff = max(o.MaxBackoff, o.MinBackoff)
	if o.checkInterval <= 0 {
		o.checkInterval = max(o.OperationTimeout/10, 5*time.Millisecond)
	}
	if o.Agent == "" {
		o.Agent = DefaultAgent
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// State is a pool's connection state.
type State int32

// Pool states. A pool starts Connecting, is Up while at least one of its
// connections is up, and Down once none is up after a connection failed or
// was lost (it keeps reconnecting) and after Close.
const (
	StateConnecting State = iota
	StateUp
	StateDown
)

var stateNames = [...]string{"connecting", "up", "down"}

func (s State) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", int32(s))
}

// Error kinds passed to Options.OnError.
const (
	KindTimeout   = "timeout"
	KindIO        = "io"
	KindQueueFull = "queue_full"
	KindDown      = "down"
	KindAuth      = "auth"
)
