package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/vbproxy/vbproxy/internal/tlsconf"
	"github.com/vbproxy/vbproxy/proxy"
	"github.com/vbproxy/vbproxy/proxy/edge"
)

// This file turns a listener's configuration into what the proxy serves:
// the proxy.Listener (protocols, collection, replica reads, flush, users)
// and, when the listener reads PROXY headers or speaks TLS, the
// edge.Options of its edge. validate and newApp both use it, so that
// -check-config refuses exactly what the start would.

// Config words of the listener keys, defaults first.
var (
	protocolWords = []string{"both", "binary", "text"}
	replicaWords  = []string{"never", "on_failure"}
	proxyWords    = []string{"off", "optional", "required"}
)

// defaultCollection is listeners[].collection's default.
const defaultCollection = "_default._default"

// parseProtocols maps listeners[].protocols to proxy.Protocols.
func parseProtocols(s string) (proxy.Protocols, bool) {
	switch s {
	case "", "both":
		return proxy.ProtocolsBoth, true
	case "binary":
		return proxy.ProtocolsBinary, true
	case "text":
		return proxy.ProtocolsText, true
	}
	return 0, false
}

// parseReplicas maps listeners[].read_replicas to proxy.ReplicaPolicy.
func parseReplicas(s string) (proxy.ReplicaPolicy, bool) {
	switch s {
	case "", "never":
		return proxy.ReplicasNever, true
	case "on_failure":
		return proxy.ReplicasOnFailure, true
	}
	return 0, false
}

// namedCollection returns listeners[].collection normalized: "" for the
// default collection.
func namedCollection(c string) string {
	if c == defaultCollection {
		return ""
	}
	return c
}

// checkCollection explains what is wrong with a collection, "" when it is
// "scope.collection" with Couchbase's name rules (1 to 251 letters, digits,
// '_', '-' or '%', not starting with '_' or '%' except _default).
func checkCollection(c string) string {
	scope, name, ok := strings.Cut(c, ".")
	if !ok || strings.Contains(name, ".") {
		return fmt.Sprintf("%q: want scope.collection, such as inventory.hotels (default %s)", c, defaultCollection)
	}
	for _, part := range []string{scope, name} {
		if why := checkCollectionName(part); why != "" {
			return fmt.Sprintf("%q: %s", c, why)
		}
	}
	return ""
}

func checkCollectionName(n string) string {
	if n == "_default" {
		return ""
	}
	if n == "" || len(n) > 251 {
		return "scope and collection names have 1 to 251 characters"
	}
	if n[0] == '_' || n[0] == '%' {
		return fmt.Sprintf("%q: names may not start with '_' or '%%' (only _default does)", n)
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '%') {
			return fmt.Sprintf("%q: names have letters, digits, '_', '-' or '%%'", n)
		}
	}
	return ""
}

// proxyListener is the proxy.Listener of a validated listener; users are
// its client users from the secrets, e its edge (nil for plain TCP).
func proxyListener(l *ListenerConfig, users map[string]string, e *edge.Edge) proxy.Listener {
	pl := proxy.Listener{AllowFlush: l.AllowFlush, Collection: namedCollection(l.Collection), Users: users}
	pl.Protocols, _ = parseProtocols(l.Protocols)
	pl.ReadReplicas, _ = parseReplicas(l.ReadReplicas)
	pl.Edge = e
	return pl
}

// needsEdge reports whether the listener reads PROXY headers or speaks TLS.
func needsEdge(l *ListenerConfig) bool {
	return (l.ProxyProtocol != "" && l.ProxyProtocol != "off") || l.TLS.enabled()
}

// edgeOptions builds the edge of a listener that needsEdge. The error is
// the first problem, named as edge names it ("trusted_cidrs[1]: ...",
// "tls.cert_file: ..."): prefix the listener's path.
func edgeOptions(l *ListenerConfig) (edge.Options, error) {
	var o edge.Options
	mode, err := edge.ParseMode(string(l.ProxyProtocol))
	if err != nil {
		return o, fmt.Errorf("proxy_protocol: %q: want off, optional or required", string(l.ProxyProtocol))
	}
	o.ProxyProtocol = mode
	if o.TrustedCIDRs, err = edge.ParsePrefixes(l.TrustedCIDRs); err != nil {
		return o, err
	}
	o.HeaderTimeout = time.Duration(l.HeaderTimeout)
	o.HandshakeTimeout = time.Duration(l.HandshakeTimeout)
	if t := &l.TLS; t.enabled() {
		minVersion, err := tlsconf.ParseVersion(t.MinVersion)
		if err != nil {
			return o, fmt.Errorf("tls.min_version: %w", err)
		}
		to := &edge.TLSOptions{
			CertFile: t.CertFile, KeyFile: t.KeyFile, ClientCAFile: t.ClientCAFile,
			ClientAuth: t.ClientAuth, MinVersion: minVersion,
		}
		for _, cu := range t.CertUsers {
			to.CertUsers = append(to.CertUsers, edge.CertUser{Match: cu.Match, User: cu.User})
		}
		o.TLS = to
	}
	return o, nil
}

// trustsEveryone reports whether a listener's trusted_cidrs include a /0
// prefix: any client may then claim any address.
func trustsEveryone(l *ListenerConfig) bool {
	prefixes, err := edge.ParsePrefixes(l.TrustedCIDRs)
	if err != nil {
		return false
	}
	for _, p := range prefixes {
		if p.Bits() == 0 {
			return true
		}
	}
	return false
}

// fieldOf splits an error "field: message" of edge or tlsconf into a
// FieldError under prefix ("listeners[1]" + "tls.cert_file").
func fieldOf(prefix string, err error) FieldError {
	msg := err.Error()
	field, rest, ok := strings.Cut(msg, ": ")
	if !ok || strings.ContainsAny(field, " /") {
		return FieldError{Field: prefix, Msg: msg}
	}
	if prefix != "" {
		field = prefix + "." + field
	}
	return FieldError{Field: field, Msg: rest}
}
