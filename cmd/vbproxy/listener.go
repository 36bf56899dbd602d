package main

import (
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"

	"github.com/vbproxy/vbproxy/admin"
	"github.com/vbproxy/vbproxy/proxy"
	"github.com/vbproxy/vbproxy/proxy/edge"
)

// listener is one configured client address: what its bucket's
// proxy.Server serves on it (pl) and its edge (nil for plain TCP without
// PROXY headers).
type listener struct {
	idx     int
	cfg     ListenerConfig
	b       *bucket
	pl      proxy.Listener
	edge    *edge.Edge
	ln      net.Listener
	serving atomic.Bool // ServeListener is running
	// reloadedSerial is the serial of the certificate served at the last
	// config reload (or the start), so that a reload reports a certificate
	// the watcher swapped in meanwhile as applied too. Under app.reloadMu.
	reloadedSerial string
}

// newListener builds listener idx of a validated configuration: its edge
// (certificates loaded, watcher started) and its proxy.Listener.
func (a *app) newListener(idx int, lc ListenerConfig, b *bucket, sec secrets) (*listener, error) {
	l := &listener{idx: idx, cfg: lc, b: b}
	var users map[string]string
	if len(sec.users) > idx && len(sec.users[idx]) > 0 {
		users = sec.users[idx]
	}
	if needsEdge(&lc) {
		o, err := edgeOptions(&lc)
		if err != nil {
			return nil, fmt.Errorf("listeners[%d].%w", idx, err)
		}
		o.Logger = a.log.With("listener", idx, "address", lc.Address, "bucket", lc.Bucket)
		if l.edge, err = edge.New(o); err != nil {
			return nil, fmt.Errorf("listeners[%d].%w", idx, err)
		}
		if st, ok := l.edge.CertState(); ok {
			l.reloadedSerial = st.Serial
		}
	}
	l.pl = proxyListener(&lc, users, l.edge)
	// Unique, unlike addresses with port 0: what Server.SetUsers takes.
	l.pl.Name = fmt.Sprintf("listeners[%d]", idx)
	return l, nil
}

// logListening logs the listener's address and what it serves.
func (l *listener) logListening(log *slog.Logger) {
	c := &l.cfg
	proto, _ := parseProtocols(c.Protocols)
	replicas, _ := parseReplicas(c.ReadReplicas)
	collection := c.Collection
	if collection == "" {
		collection = defaultCollection
	}
	mode := string(c.ProxyProtocol)
	if mode == "" {
		mode = "off"
	}
	clientAuth := "none"
	if c.TLS.enabled() && c.TLS.ClientAuth != "" {
		clientAuth = c.TLS.ClientAuth
	}
	log.Info("listening", "address", l.ln.Addr().String(), "bucket", c.Bucket, "collection", collection,
		"protocols", proto.String(), "read_replicas", replicas.String(), "proxy_protocol", mode,
		"tls", c.TLS.enabled(), "client_cert", clientAuth, "allow_flush", c.AllowFlush,
		"client_auth", len(c.Users) > 0)
}

// certChange is the outcome of re-reading one listener's certificates.
type certChange struct {
	l      *listener
	serial string // of the certificate served after the re-read
	err    error  // the files did not load: the previous pair is kept
}

// reloadCertificates re-reads the certificate files of the TLS listeners
// among lis (POST /reload, SIGHUP), whether or not they changed. A pair
// that does not load is logged by the edge and the previous one kept.
func (a *app) reloadCertificates(lis []*listener, trigger string) []certChange {
	var out []certChange
	for _, l := range lis {
		if l.edge == nil {
			continue
		}
		if _, ok := l.edge.CertState(); !ok {
			continue
		}
		err := l.edge.ReloadCertificates()
		st, _ := l.edge.CertState()
		out = append(out, certChange{l: l, serial: st.Serial, err: err})
		if err == nil {
			a.log.Debug("listener certificates re-read", "trigger", trigger, "listener", l.idx, "serial", st.Serial)
		}
	}
	return out
}

// listenerStats adapts an edge's counters and certificate state for the
// admin metrics (admin does not import proxy).
func listenerStats(e *edge.Edge) func() admin.ListenerStats {
	return func() admin.ListenerStats {
		st := e.Stats()
		out := admin.ListenerStats{
			Admitting: st.Admitting, Handshaking: st.Handshaking,
			Admitted: st.Admitted, WithHeader: st.WithHeader,
			Refused: make([]admin.ReasonCount, 0, edge.NumReasons),
		}
		for r := range edge.NumReasons {
			out.Refused = append(out.Refused, admin.ReasonCount{Reason: edge.Reason(r).String(), Count: st.Refused[r]})
		}
		if cs, ok := e.CertState(); ok {
			out.TLS = true
			out.CertNotAfter = cs.NotAfter
			out.CertReloads, out.CertReloadErrors = cs.Reloads, cs.ReloadErrors
			out.CertReloadFailing = cs.LastError != ""
		}
		return out
	}
}
