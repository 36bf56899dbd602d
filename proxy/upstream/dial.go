package upstream

import (
	"context"
	"crypto/tls"
	"fmt"
	"time"

	"github.com/vbproxy/vbproxy/internal/tlsconf"
	"github.com/vbproxy/vbproxy/memcached"
	"github.com/vbproxy/vbproxy/proxy/eventloop"
)

// aLongTimeAgo is a deadline in the past: setting it aborts blocked I/O.
var aLongTimeAgo = time.Unix(1, 0)

// dialResult is what a dial goroutine hands to its connection's loop.
type dialResult struct {
	fd  int
	pre []byte // bytes read past the bootstrap replies
	b   *bootstrapper
	err error
}

// connect dials the node and bootstraps the connection with ordinary
// blocking I/O, within Options.ConnectTimeout (Node.Close aborts it), then
// detaches the socket for an event loop. It runs on a goroutine of its own.
func (n *Node) connect() dialResult {
	ctx, cancel := context.WithTimeout(n.ctx, n.o.ConnectTimeout)
	defer cancel()
	nc, err := n.dialer.DialContext(ctx, "tcp", n.addr)
	if err != nil {
		return dialResult{fd: -1, err: fmt.Errorf("dial: %w", err)}
	}
	deadline, _ := ctx.Deadline()
	_ = nc.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(aLongTimeAgo) })
	if n.o.TLS != nil {
		tc := tls.Client(nc, tlsconf.ForAddr(n.o.TLS, n.addr))
		if err := tc.HandshakeContext(ctx); err != nil {
			stop()
			_ = nc.Close()
			return dialResult{fd: -1, err: fmt.Errorf("%w: %w", ErrTLS, err)}
		}
		nc = tc
	}
	rd := memcached.NewReader(nc, memcached.ReaderOptions{BufSize: 4 << 10})
	b := &bootstrapper{w: nc, rd: rd, o: &n.o, scram: &n.scram}
	err = b.run()
	if !stop() && err == nil {
		err = ctx.Err()
	}
	if err == nil {
		err = nc.SetDeadline(time.Time{})
	}
	if err != nil {
		_ = nc.Close()
		if ctx.Err() == context.DeadlineExceeded || !time.Now().Before(deadline) { // the socket deadline is the context's
			err = fmt.Errorf("bootstrap did not finish within %v: %w", n.o.ConnectTimeout, err)
		}
		return dialResult{fd: -1, err: err}
	}
	pre := append([]byte(nil), rd.Pending()...)
	fd, _, err := eventloop.Detach(nc)
	if err != nil {
		return dialResult{fd: -1, err: err}
	}
	return dialResult{fd: fd, pre: pre, b: b}
}
