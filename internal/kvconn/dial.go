package kvconn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/vbproxy/vbproxy/internal/tlsconf"
	"github.com/vbproxy/vbproxy/memcached"
)

// aLongTimeAgo is a deadline in the past: setting it aborts blocked I/O.
var aLongTimeAgo = time.Unix(1, 0)

// Conn is a bootstrapped connection to a KV node: authenticated, the bucket
// selected, the HELLO features negotiated. The caller owns it and closes
// Conn.
type Conn struct {
	// Conn is the connection (a *tls.Conn under TLS), with no deadline set.
	net.Conn
	// Reader reads Conn. It may hold bytes read past the handshake (a
	// server may push right after HELLO): read replies through it, or take
	// Reader.Pending() first when handing the socket to something else.
	Reader *memcached.Reader
	// Features are the features the node enabled, in the order its HELLO
	// reply lists them; nil for a plain memcached node.
	Features []uint16
	// Plain is set when the node answered HELLO with UNKNOWN_COMMAND: a
	// plain memcached server (possible only without credentials).
	Plain bool
	// Mech is the SASL mechanism used, "" when none.
	Mech string
}

// Has reports whether the node enabled feature f.
func (c *Conn) Has(f uint16) bool { return slices.Contains(c.Features, f) }

// Dial connects to the KV node at addr ("host:port") and bootstraps the
// connection as the Couchbase SDKs do, pipelined, within
// Options.ConnectTimeout (cancelling ctx aborts it):
//
//	HELLO (Options.Features) + SASL_LIST_MECHS
//	SASL_AUTH                      (PLAIN: + SELECT_BUCKET)
//	SASL_STEP + SELECT_BUCKET      (SCRAM only)
//
// Without credentials the first HELLO is empty, so that a plain memcached
// server (which answers UNKNOWN_COMMAND, then loses the commands behind a
// request it does not know) ends the handshake there. Errors wrap ErrAuth,
// ErrNoBucket, ErrTLS or ErrProtocol where they apply, and name the step.
func Dial(ctx context.Context, addr string, o Options) (*Conn, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.ConnectTimeout)
	defer cancel()
	nc, err := o.Dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	deadline, _ := ctx.Deadline()
	_ = nc.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(aLongTimeAgo) })
	if o.TLS != nil {
		tc := tls.Client(nc, tlsconf.ForAddr(o.TLS, addr))
		if err := tc.HandshakeContext(ctx); err != nil {
			stop()
			_ = nc.Close()
			return nil, fmt.Errorf("%w: %w", ErrTLS, err)
		}
		nc = tc
	}
	rd := memcached.NewReader(nc, memcached.ReaderOptions{MaxBody: o.MaxBody, BufSize: o.BufSize})
	b := &bootstrapper{w: nc, rd: rd, o: &o, tls: o.TLS != nil, duplex: slices.Contains(o.Features, FeatureDuplex)}
	err = b.run()
	if !stop() && err == nil {
		err = ctx.Err()
	}
	if err == nil {
		err = nc.SetDeadline(time.Time{})
	}
	if err != nil {
		_ = nc.Close()
		switch {
		case errors.Is(ctx.Err(), context.Canceled):
			err = fmt.Errorf("bootstrap aborted: %w: %w", ctx.Err(), err)
		case errors.Is(ctx.Err(), context.DeadlineExceeded) || !time.Now().Before(deadline):
			// The socket deadline may fire before the context's timer.
			err = fmt.Errorf("bootstrap did not finish within %v: %w", o.ConnectTimeout, err)
		}
		return nil, err
	}
	c := &Conn{Conn: nc, Reader: rd, Plain: b.plain, Mech: b.mech}
	if !b.plain {
		c.Features = b.enabled()
	}
	return c, nil
}
