package edge

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"
)

// Edge admits the client connections of one listener. It is safe for
// concurrent use: each connection's Admit runs on that connection's own
// goroutine (blocking I/O); the certificate watcher runs on one more.
type Edge struct {
	o     options
	certs *certStore // nil for a plain listener
	stats counters
	log   refusalLog
}

// Admitted is a connection ready for a session.
type Admitted struct {
	// Conn is the connection to serve: the net.Conn given to Admit when
	// the listener is plain (a *net.TCPConn from a TCP listener, so its
	// descriptor can be taken), the *tls.Conn when it is TLS.
	Conn net.Conn
	// Remote and Local are the client's and the listener's addresses:
	// from the PROXY header when it carried them, else the socket's.
	Remote, Local net.Addr
	// Buffered holds bytes read from a plain Conn past the PROXY header:
	// the session must consume them before reading Conn. Always empty
	// for TLS (the bytes went into the handshake).
	Buffered []byte
	// ProxyHeader says a PROXY header was read; ProxyVersion is 1 or 2
	// and TLVs holds a v2 header's TLVs.
	ProxyHeader  bool
	ProxyVersion byte
	TLVs         []TLV
	// User is the user a verified client certificate maps to ("" none).
	User string
	// TLS is the state of the completed handshake; nil when plain.
	TLS *tls.ConnectionState
}

// New checks o and, for a TLS listener, loads the certificate (and client
// CA bundle) and starts watching the files. Errors name the field
// ("tls.cert_file: ...", "trusted_cidrs: ...").
func New(o Options) (*Edge, error) {
	r, err := o.check()
	if err != nil {
		return nil, err
	}
	e := &Edge{o: r}
	e.log.log = r.Logger
	if o.TLS != nil {
		if e.certs, err = newCertStore(*o.TLS, r.Logger); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// Close stops the certificate watcher. Connections already admitted are
// not affected; Admit must not be called after Close.
func (e *Edge) Close() error {
	if e.certs != nil {
		e.certs.close()
	}
	return nil
}

// Stats returns the gauges and counters.
func (e *Edge) Stats() Stats { return e.stats.snapshot() }

// CertState describes the served certificate; ok is false for a plain
// listener.
func (e *Edge) CertState() (st CertState, ok bool) {
	if e.certs == nil {
		return CertState{}, false
	}
	return e.certs.snapshot(), true
}

// ReloadCertificates re-reads the certificate, key and client CA files now
// (for POST /reload), whether or not they changed. On error the current
// pair is kept and the error is also in CertState.LastError. A plain
// listener returns nil.
func (e *Edge) ReloadCertificates() error {
	if e.certs == nil {
		return nil
	}
	return e.certs.reload()
}

// Admit takes a client connection from accept to ready: the PROXY header
// first (when Options.ProxyProtocol is not off; before TLS, as load
// balancers send it), then the TLS handshake (for a TLS listener), bounded
// by HeaderTimeout, HandshakeTimeout and ctx. On success the connection's
// deadlines are cleared. On error c has been closed, the refusal counted
// and logged, and the error is a *RefusedError.
func (e *Edge) Admit(ctx context.Context, c net.Conn) (*Admitted, error) {
	e.stats.admitting.Add(1)
	defer e.stats.admitting.Add(-1)
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	a, err := e.admit(ctx, c)
	if !stop() && err == nil {
		err = e.refuse(c, ReasonCanceled, context.Cause(ctx))
	}
	if err != nil {
		return nil, err
	}
	if err := c.SetDeadline(time.Time{}); err != nil {
		return nil, e.refuse(c, ReasonClosed, err)
	}
	e.stats.admitted.Add(1)
	if a.ProxyHeader {
		e.stats.withHeader.Add(1)
	}
	return a, nil
}

func (e *Edge) admit(ctx context.Context, c net.Conn) (*Admitted, error) {
	a := &Admitted{Conn: c, Remote: c.RemoteAddr(), Local: c.LocalAddr()}
	if e.o.ProxyProtocol != ProxyOff {
		if err := e.readHeader(ctx, c, a); err != nil {
			return nil, err
		}
	}
	if e.certs != nil {
		if err := e.handshake(ctx, c, a); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// setDeadline sets c's deadline unless ctx is done: Admit's AfterFunc sets
// a past deadline when ctx ends, and a later SetDeadline must not undo it.
func setDeadline(ctx context.Context, c net.Conn, d time.Duration) error {
	if err := c.SetDeadline(time.Now().Add(d)); err != nil {
		return err
	}
	return context.Cause(ctx)
}

// readHeader reads the PROXY header, if any, into a; bytes read past it go
// to a.Buffered.
func (e *Edge) readHeader(ctx context.Context, c net.Conn, a *Admitted) error {
	trusted := e.trusted(c.RemoteAddr())
	if !trusted && e.o.ProxyProtocol == ProxyRequired {
		return e.refuse(c, ReasonUntrusted, errors.New("source not in trusted_cidrs and proxy_protocol is required"))
	}
	if err := setDeadline(ctx, c, e.o.HeaderTimeout); err != nil {
		return e.refuse(c, ReasonCanceled, err)
	}
	buf := make([]byte, 0, 256)
	for {
		kind, n, err := scanHeader(buf)
		switch {
		case err != nil:
			return e.refuse(c, ReasonBadHeader, err)
		case kind == kindNone:
			if e.o.ProxyProtocol == ProxyRequired {
				return e.refuse(c, ReasonNoHeader, errors.New("connection does not start with a PROXY header"))
			}
			if len(buf) > 0 {
				a.Buffered = buf
			}
			return nil
		case kind != kindUndecided && !trusted:
			return e.refuse(c, ReasonUntrusted, fmt.Errorf("PROXY %s header from a source not in trusted_cidrs", kind))
		case n > 0:
			return e.applyHeader(c, a, buf[:n], buf[n:])
		}
		if len(buf) == cap(buf) {
			// Still undecided or incomplete, so len(buf) < maxHeaderLen
			// (scanHeader refuses longer headers): the buffer stays small.
			grown := make([]byte, len(buf), min(2*cap(buf), maxHeaderLen))
			copy(grown, buf)
			buf = grown
		}
		m, rerr := c.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if rerr == nil || m > 0 {
			continue
		}
		switch {
		case ctx.Err() != nil:
			return e.refuse(c, ReasonCanceled, context.Cause(ctx))
		case len(buf) == 0 && isTimeout(rerr) && e.o.ProxyProtocol == ProxyOptional:
			return nil // an idle client that sends no header: serve it
		case len(buf) == 0 && isTimeout(rerr):
			return e.refuse(c, ReasonNoHeader, fmt.Errorf("nothing received within header_timeout %s", e.o.HeaderTimeout))
		case len(buf) == 0 && closedByPeer(rerr):
			return e.refuse(c, ReasonClosed, rerr)
		case isTimeout(rerr):
			return e.refuse(c, ReasonBadHeader, fmt.Errorf("incomplete PROXY header (%d bytes) after header_timeout %s", len(buf), e.o.HeaderTimeout))
		case closedByPeer(rerr):
			return e.refuse(c, ReasonBadHeader, fmt.Errorf("connection closed in a PROXY header after %d bytes", len(buf)))
		}
		return e.refuse(c, ReasonClosed, rerr)
	}
}

// applyHeader parses a complete header and fills a from it.
func (e *Edge) applyHeader(c net.Conn, a *Admitted, raw, rest []byte) error {
	h, err := parseHeader(raw)
	if err != nil {
		return e.refuse(c, ReasonBadHeader, err)
	}
	a.ProxyHeader, a.ProxyVersion, a.TLVs = true, h.version, h.tlvs
	if !h.local {
		a.Remote, a.Local = h.src, h.dst
	}
	if len(rest) > 0 {
		a.Buffered = rest
	}
	return nil
}

// trusted reports whether addr (the socket's peer) may send a PROXY header.
func (e *Edge) trusted(addr net.Addr) bool {
	var ip netip.Addr
	switch a := addr.(type) {
	case *net.TCPAddr:
		ip = a.AddrPort().Addr()
	default:
		ap, err := netip.ParseAddrPort(addr.String())
		if err != nil {
			return false
		}
		ip = ap.Addr()
	}
	ip = ip.Unmap().WithZone("")
	for _, p := range e.o.trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// refuse closes c, counts and logs the refusal, and returns its error.
func (e *Edge) refuse(c net.Conn, r Reason, err error) error {
	_ = c.Close()
	e.stats.refused[r].Add(1)
	re := &RefusedError{Reason: r, Remote: c.RemoteAddr().String(), Err: err}
	e.log.refused(re)
	return re
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

func closedByPeer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)
}
