package edge

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strings"

	"github.com/vbproxy/vbproxy/internal/tlsconf"
)

// handshake runs the server side of the TLS handshake on c (after any
// PROXY header, whose leftover bytes are the start of the ClientHello) and
// replaces a.Conn with the *tls.Conn.
func (e *Edge) handshake(ctx context.Context, c net.Conn, a *Admitted) error {
	under := &tlsUnder{Conn: c, prefix: a.Buffered, read: len(a.Buffered) > 0}
	a.Buffered = nil
	if err := setDeadline(ctx, c, e.o.HandshakeTimeout); err != nil {
		return e.refuse(c, ReasonCanceled, err)
	}
	tc := tls.Server(under, e.certs.base)
	e.stats.handshaking.Add(1)
	err := tc.Handshake()
	e.stats.handshaking.Add(-1)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return e.refuse(c, ReasonCanceled, context.Cause(ctx))
		case isTimeout(err):
			return e.refuse(c, ReasonHandshakeTimeout,
				fmt.Errorf("TLS handshake not complete within handshake_timeout %s", e.o.HandshakeTimeout))
		case closedByPeer(err) && !under.read && !a.ProxyHeader:
			return e.refuse(c, ReasonClosed, err)
		}
		if why := tlsconf.DescribeTLSError(err); why != strings.TrimPrefix(err.Error(), "tls: ") {
			err = fmt.Errorf("%s: %w", why, err)
		}
		return e.refuse(c, ReasonHandshake, err)
	}
	st := tc.ConnectionState()
	a.Conn, a.TLS = tc, &st
	if len(st.VerifiedChains) > 0 && e.certs.userOf != nil {
		if u, ok := e.certs.userOf(st.PeerCertificates[0]); ok {
			a.User = u
		}
	}
	return nil
}

// tlsUnder is the net.Conn under a client's *tls.Conn: its first reads
// return prefix (bytes read with the PROXY header that belong to the
// handshake), and it notes whether anything was read at all, so that a
// peer that connects and closes (a TCP health check) is told apart from
// one that gives up in the middle of a handshake.
type tlsUnder struct {
	net.Conn
	prefix []byte
	read   bool
}

func (u *tlsUnder) Read(b []byte) (int, error) {
	if len(u.prefix) > 0 {
		n := copy(b, u.prefix)
		u.prefix = u.prefix[n:]
		return n, nil
	}
	n, err := u.Conn.Read(b)
	if n > 0 {
		u.read = true
	}
	return n, err
}
