package main

import (
	"fmt"
	"strings"

	"github.com/vbproxy/vbproxy/internal/tlsconf"
	"github.com/vbproxy/vbproxy/proxy/edge"
)

// listenerOptions checks a listener's protocol, collection, replica, PROXY
// and TLS keys (p is "listeners[i]"). users are the listener's configured
// users; plainNodes says the map names plain memcached servers (a map_file
// without credentials), which have neither collections nor replicas.
func (v *validator) listenerOptions(p string, l *ListenerConfig, users map[string]string, plainNodes bool) {
	if _, ok := parseProtocols(l.Protocols); !ok {
		v.add(p+".protocols", "%q: must be one of %s", l.Protocols, strings.Join(protocolWords, ", "))
	}
	policy, ok := parseReplicas(l.ReadReplicas)
	switch {
	case !ok:
		v.add(p+".read_replicas", "%q: must be one of %s", l.ReadReplicas, strings.Join(replicaWords, ", "))
	case policy != 0 && plainNodes:
		v.add(p+".read_replicas", "on_failure needs a Couchbase bucket: plain memcached servers (cluster.map_file without cluster.user) have no replicas")
	}
	if l.Collection != "" {
		switch why := checkCollection(l.Collection); {
		case why != "":
			v.add(p+".collection", "%s", why)
		case namedCollection(l.Collection) != "" && plainNodes:
			v.add(p+".collection", "%q: collections need a Couchbase bucket: plain memcached servers (cluster.map_file without cluster.user) have none", l.Collection)
		}
	}
	v.listenerEdge(p, l, users)
}

// listenerEdge checks the PROXY protocol and TLS keys by building the edge
// as the start would (certificate files loaded, no watcher), then closing
// it.
func (v *validator) listenerEdge(p string, l *ListenerConfig, users map[string]string) {
	mode := string(l.ProxyProtocol)
	bad := false
	if mode != "" && mode != "off" && mode != "optional" && mode != "required" {
		v.add(p+".proxy_protocol", "%q: must be one of %s", mode, strings.Join(proxyWords, ", "))
		bad = true
	}
	proxyOff := mode == "" || mode == "off"
	for _, d := range []struct {
		key string
		d   Duration
	}{{"header_timeout", l.HeaderTimeout}, {"handshake_timeout", l.HandshakeTimeout}} {
		if d.d < 0 {
			v.add(p+"."+d.key, "must be >= 0 (0 = the default), got %s", d.d)
			bad = true
		}
	}
	// The words first, so that a misspelt client_auth is not reported as
	// a TLS listener without a certificate.
	if _, err := tlsconf.ParseVersion(l.TLS.MinVersion); err != nil {
		v.add(p+".tls.min_version", "%v", err)
		bad = true
	}
	switch l.TLS.ClientAuth {
	case "", "none", "request", "require":
	default:
		v.add(p+".tls.client_auth", "%q: must be one of none, request, require", l.TLS.ClientAuth)
		bad = true
	}
	if proxyOff && len(l.TrustedCIDRs) > 0 {
		v.add(p+".trusted_cidrs", "set but proxy_protocol is off (set it to optional or required)")
		bad = true
	}
	for i, cu := range l.TLS.CertUsers {
		if _, ok := users[cu.User]; cu.User != "" && !ok {
			v.add(fmt.Sprintf("%s.tls.cert_users[%d].user", p, i), "%q is not one of this listener's users (listeners[].users)", cu.User)
			bad = true
		}
	}
	if bad || !needsEdge(l) {
		return
	}
	o, err := edgeOptions(l)
	if err != nil {
		v.errs = append(v.errs, fieldOf(p, err))
		return
	}
	if o.TLS != nil {
		o.TLS.ReloadInterval = -1 // a check: no watcher
	}
	e, err := edge.New(o)
	if err != nil {
		v.errs = append(v.errs, fieldOf(p, err))
		return
	}
	_ = e.Close()
}
