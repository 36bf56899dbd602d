package kvconn

import (
	"crypto/tls"
	"fmt"
	"net"
	"slices"
	"time"
)

// HELLO feature codes (kv_engine include/mcbp/protocol/feature.h).
const (
	FeatureTCPNoDelay                  uint16 = 0x03
	FeatureXError                      uint16 = 0x07
	FeatureSelectBucket                uint16 = 0x08
	FeatureDuplex                      uint16 = 0x0c
	FeatureClustermapNotification      uint16 = 0x0d // full: the config in the push
	FeatureCollections                 uint16 = 0x12
	FeatureGetClusterConfigKnownVer    uint16 = 0x1d
	FeatureDedupeNotMyVbucketConfig    uint16 = 0x1e
	FeatureClustermapNotificationBrief uint16 = 0x1f // brief: epoch and revision only
)

// DefaultFeatures are what a data connection asks for: XERROR (without it
// many errors close the connection) and SELECT_BUCKET; nothing that
// changes what a plain memcached client sees.
var DefaultFeatures = []uint16{FeatureXError, FeatureSelectBucket}

// Defaults of Options.
const (
	DefaultConnectTimeout = 2 * time.Second
	DefaultAgent          = "vbproxy"
	// DefaultBufSize is the read buffer of Conn.Reader.
	DefaultBufSize = 4 << 10
)

// Options configure Dial. The zero value works: plain TCP, no
// authentication, no bucket (a plain memcached node).
type Options struct {
	// Bucket is selected with SELECT_BUCKET after authentication. "" means
	// none. It is also skipped when User is "" and the node answered HELLO
	// with UNKNOWN_COMMAND (a plain memcached server).
	Bucket string
	// User and Password are the SASL credentials. User "" skips SASL and
	// tolerates UNKNOWN_COMMAND for HELLO. Mechanisms are preferred in the
	// order SCRAM-SHA512, SCRAM-SHA256, SCRAM-SHA1, PLAIN.
	User, Password string
	// TLS, when set, makes the connection TLS with tlsconf.ForAddr(TLS,
	// addr) (server name = the host dialled unless TLS.ServerName is set),
	// the handshake inside ConnectTimeout. Default nil: plain TCP.
	TLS *tls.Config
	// SCRAMOverTLS keeps SCRAM first over TLS; by default a TLS connection
	// authenticates with PLAIN when the node offers it, as the SDKs do.
	SCRAMOverTLS bool
	// Agent is the name sent in HELLO (servers log it). Default "vbproxy".
	Agent string
	// Features are the HELLO features asked for, in the order sent. Default
	// nil: DefaultFeatures. Asking for a clustermap notification (full or
	// brief) without FeatureDuplex is an error, as the server refuses it.
	Features []uint16
	// ConnectTimeout bounds dial, TLS handshake and bootstrap together.
	// Default 2s.
	ConnectTimeout time.Duration
	// Dialer dials the TCP connection. Default nil: a zero net.Dialer.
	Dialer *net.Dialer
	// SCRAM caches the SCRAM clients across dials. Default nil: each dial
	// computes the salted password again.
	SCRAM *SCRAMCache
	// MaxBody caps a body Conn.Reader accepts. Default 0:
	// memcached.DefaultMaxBody.
	MaxBody int
	// BufSize is Conn.Reader's buffer size. Default 0: DefaultBufSize.
	BufSize int
}

// withDefaults fills in zero fields and checks the feature list.
func (o Options) withDefaults() (Options, error) {
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.Agent == "" {
		o.Agent = DefaultAgent
	}
	if o.Features == nil {
		o.Features = DefaultFeatures
	}
	if o.BufSize <= 0 {
		o.BufSize = DefaultBufSize
	}
	if o.Dialer == nil {
		o.Dialer = &net.Dialer{}
	}
	if o.SCRAM == nil {
		o.SCRAM = &SCRAMCache{}
	}
	notify := slices.Contains(o.Features, FeatureClustermapNotification) ||
		slices.Contains(o.Features, FeatureClustermapNotificationBrief)
	if notify && !slices.Contains(o.Features, FeatureDuplex) {
		return o, fmt.Errorf("kvconn: Features: a clustermap notification (0x%02x, 0x%02x) needs Duplex (0x%02x)",
			FeatureClustermapNotification, FeatureClustermapNotificationBrief, FeatureDuplex)
	}
	return o, nil
}
