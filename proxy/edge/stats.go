package edge

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Reason is why Admit refused a connection. Its String is a bounded metric
// label value.
type Reason uint8

const (
	// ReasonUntrusted: a PROXY header from a source outside TrustedCIDRs,
	// or (ProxyRequired) any connection from such a source.
	ReasonUntrusted Reason = iota
	// ReasonNoHeader: ProxyRequired and the connection did not start with
	// a PROXY header (or sent nothing within HeaderTimeout).
	ReasonNoHeader
	// ReasonBadHeader: a malformed, oversized or incomplete PROXY header.
	ReasonBadHeader
	// ReasonHandshake: the TLS handshake failed (untrusted or missing
	// client certificate, no common version, not TLS at all...).
	ReasonHandshake
	// ReasonHandshakeTimeout: the TLS handshake did not complete within
	// HandshakeTimeout.
	ReasonHandshakeTimeout
	// ReasonClosed: the client closed the connection before it was
	// admitted (a TCP health check, typically). Logged at debug level.
	ReasonClosed
	// ReasonCanceled: Admit's context ended (shutdown). Logged at debug
	// level.
	ReasonCanceled

	// NumReasons is the number of reasons, for arrays indexed by Reason.
	NumReasons = int(ReasonCanceled) + 1
)

var reasonNames = [NumReasons]string{
	ReasonUntrusted:        "untrusted_source",
	ReasonNoHeader:         "no_proxy_header",
	ReasonBadHeader:        "bad_proxy_header",
	ReasonHandshake:        "tls_handshake_failed",
	ReasonHandshakeTimeout: "tls_handshake_timeout",
	ReasonClosed:           "closed_by_client",
	ReasonCanceled:         "canceled",
}

func (r Reason) String() string {
	if int(r) < NumReasons {
		return reasonNames[r]
	}
	return fmt.Sprintf("Reason(%d)", r)
}

// RefusedError is the error Admit returns: the connection has been closed.
type RefusedError struct {
	Reason Reason
	Remote string // the socket's remote address
	Err    error  // the detail
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("edge: refused %s (%s): %v", e.Remote, e.Reason, e.Err)
}

func (e *RefusedError) Unwrap() error { return e.Err }

// Stats is a snapshot of an Edge's gauges and counters (totals since New).
type Stats struct {
	// Admitting is the number of connections inside Admit now (reading a
	// PROXY header or in the TLS handshake): count them against
	// max_connections with the sessions.
	Admitting int64
	// Handshaking is the number of TLS handshakes in progress now.
	Handshaking int64
	// Admitted counts connections Admit returned; WithHeader those of them
	// that sent a PROXY header (PROXY or LOCAL).
	Admitted, WithHeader uint64
	// Refused counts refused connections by Reason.
	Refused [NumReasons]uint64
}

type counters struct {
	admitting, handshaking atomic.Int64
	admitted, withHeader   atomic.Uint64
	refused                [NumReasons]atomic.Uint64
}

func (c *counters) snapshot() Stats {
	s := Stats{
		Admitting:   c.admitting.Load(),
		Handshaking: c.handshaking.Load(),
		Admitted:    c.admitted.Load(),
		WithHeader:  c.withHeader.Load(),
	}
	for i := range c.refused {
		s.Refused[i] = c.refused[i].Load()
	}
	return s
}

// refusalLog writes at most one warning per reason every LogEvery.
type refusalLog struct {
	log *slog.Logger
	mu  sync.Mutex
	per [NumReasons]struct {
		last       time.Time
		suppressed int
	}
}

func (l *refusalLog) refused(e *RefusedError) {
	if e.Reason == ReasonClosed || e.Reason == ReasonCanceled {
		l.log.Debug("client connection refused", "remote", e.Remote, "reason", e.Reason.String(), "err", e.Err)
		return
	}
	l.mu.Lock()
	p := &l.per[e.Reason]
	now := time.Now()
	if !p.last.IsZero() && now.Sub(p.last) < LogEvery {
		p.suppressed++
		l.mu.Unlock()
		return
	}
	suppressed := p.suppressed
	p.last, p.suppressed = now, 0
	l.mu.Unlock()
	l.log.Warn("client connection refused", "remote", e.Remote, "reason", e.Reason.String(),
		"err", e.Err, "suppressed", suppressed)
}
