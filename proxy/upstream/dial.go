package upstream

import (
	"errors"
	"slices"

	"github.com/vbproxy/vbproxy/internal/kvconn"
	"github.com/vbproxy/vbproxy/proxy/eventloop"
)

// HELLO features the pool asks for: XERROR (without it many errors close the
// connection) and SELECT_BUCKET. Nothing that changes what a plain memcached
// client sees (mutation seqnos, JSON/snappy datatypes, collections, ...).
const (
	featureXError       = kvconn.FeatureXError
	featureSelectBucket = kvconn.FeatureSelectBucket
	// featureCollections is asked for only with Options.Collections: then
	// every document key on the connection carries its collection ID.
	featureCollections = kvconn.FeatureCollections
)

// dialResult is what a dial goroutine hands to its connection's loop.
type dialResult struct {
	fd  int
	pre []byte // bytes read past the bootstrap replies
	b   *handshake
	err error
}

// handshake is what a connection's bootstrap negotiated.
type handshake struct {
	plain    bool     // a plain memcached server (HELLO answered UNKNOWN_COMMAND)
	mech     string   // SASL mechanism used, "" when none
	features []uint16 // HELLO features the node enabled
}

// hasFeature reports whether the node enabled HELLO feature f.
func (h *handshake) hasFeature(f uint16) bool { return slices.Contains(h.features, f) }

// dialOptions are the kvconn options of a node's connections.
func dialOptions(o *Options, scram *kvconn.SCRAMCache) kvconn.Options {
	features := []uint16{featureXError, featureSelectBucket}
	if o.Collections {
		features = append(features, featureCollections)
	}
	return kvconn.Options{
		Bucket: o.Bucket, User: o.User, Password: o.Password,
		TLS: o.TLS, SCRAMOverTLS: o.SCRAMOverTLS, Agent: o.Agent, Features: features,
		ConnectTimeout: o.ConnectTimeout, SCRAM: scram,
	}
}

// connect dials the node and bootstraps the connection (internal/kvconn:
// blocking I/O, within Options.ConnectTimeout; Node.Close aborts it), then
// detaches the socket for an event loop. It runs on a goroutine of its own.
func (n *Node) connect() dialResult {
	o := dialOptions(&n.o, &n.scram)
	o.Dialer = &n.dialer
	kc, err := kvconn.Dial(n.ctx, n.addr, o)
	if err != nil {
		return dialResult{fd: -1, err: upstreamError(err)}
	}
	pre := append([]byte(nil), kc.Reader.Pending()...)
	fd, _, err := eventloop.Detach(kc.Conn)
	if err != nil {
		return dialResult{fd: -1, err: err}
	}
	return dialResult{fd: fd, pre: pre, b: &handshake{plain: kc.Plain, mech: kc.Mech, features: kc.Features}}
}

// upstreamError gives a bootstrap error this package's sentinels (ErrAuth,
// ErrTLS, ErrProtocol) while keeping kvconn's message and chain.
func upstreamError(err error) error {
	for _, m := range [...]struct{ from, to error }{
		{kvconn.ErrAuth, ErrAuth}, {kvconn.ErrTLS, ErrTLS}, {kvconn.ErrProtocol, ErrProtocol},
	} {
		if errors.Is(err, m.from) {
			return &bootstrapError{sentinel: m.to, err: err}
		}
	}
	return err
}

// bootstrapError is a kvconn error under one of this package's sentinels:
// errors.Is finds both.
type bootstrapError struct {
	sentinel error
	err      error
}

func (e *bootstrapError) Error() string { return e.err.Error() }

func (e *bootstrapError) Unwrap() []error { return []error{e.sentinel, e.err} }
