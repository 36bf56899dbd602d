// Package tlsconf builds the TLS configurations vbproxy uses on its
// upstream side (proxy -> Couchbase) and the pieces both sides share:
// loading a PEM CA bundle, parsing a configured TLS version, noticing that a
// certificate file changed (FileStamp) and turning a handshake error into a
// short reason for logs, /readyz and /vbmap (DescribeTLSError).
//
// # Upstream
//
// BuildClusterTLS(ClusterTLS) checks the cluster.tls settings and returns a
// base *tls.Config (nil when TLS is off): the CA bundle (the system pool when
// no ca_file is set), the client certificate for certificate authentication
// (re-read when its files change, the old pair kept if the new one is bad),
// TLS 1.2 at least, and a session cache so that reconnects resume instead
// of paying a full handshake. The base has no ServerName: every dial takes
// ForAddr(base, addr), which verifies the node's certificate against the
// host of the address dialled (or the server_name override) and keys
// resumed sessions by that address, so two nodes never share a ticket.
//
// It lives in internal/ rather than in proxy/upstream because cmd/vbproxy
// (config checks), proxy/upstream (dialling) and proxy/edge (CA bundles,
// error reasons) all use it, and it holds no connection state of its own.
package tlsconf
