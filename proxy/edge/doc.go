// Package edge is what happens to a client connection between accept and
// the session that serves it: the PROXY protocol header (v1 or v2, read
// with github.com/pires/go-proxyproto) and the TLS handshake. It uses
// blocking I/O on the connection's own goroutine; the event-loop core in
// proxy/ takes the connection only once Admit has returned it.
//
// # API
//
//	e, err := edge.New(edge.Options{ProxyProtocol: edge.ProxyOptional, TrustedCIDRs: lbs, TLS: &edge.TLSOptions{...}})
//	defer e.Close()                      // stops the certificate watcher
//	a, err := e.Admit(ctx, conn)         // on error conn is closed, counted and logged
//	// a.Conn (the *net.TCPConn when plain, the *tls.Conn when TLS), a.Buffered
//	// (plain: bytes read past the header, to feed the session first),
//	// a.Remote/a.Local (from the header), a.User (from a client certificate).
//
// Stats (gauges Admitting and Handshaking, to count against
// max_connections; Admitted; Refused by Reason) and CertState (the served
// certificate, reload counts and the last reload error) feed the admin
// endpoints; ReloadCertificates re-reads the files now.
//
// # PROXY header
//
// With ProxyProtocol off nothing is read. Otherwise the first bytes are
// scanned (scanHeader, no I/O) for a v1 or v2 signature; a connection whose
// first bytes are neither carries no header (memcached text commands are
// lower case and binary requests start with 0x80, a TLS ClientHello with
// 0x16, so the first byte nearly always decides). A header is framed
// completely before it is parsed (so a v1 line split across TCP segments
// still parses, and a v2 length above 4096 is refused before anything is
// allocated), then parsed by the library on exactly its bytes; a CRC32C TLV
// is verified. Only sources in TrustedCIDRs may send a header: any other
// source that sends one is refused, so no client can claim another
// address. With ProxyRequired every connection from an untrusted source is
// refused at once, and a trusted one without a header too. With
// ProxyOptional a connection that sends nothing within HeaderTimeout is
// served without a header (clients that open pooled connections and stay
// idle); one that stops inside a header is refused. A LOCAL command (load
// balancer health checks) or a v1 UNKNOWN line keeps the socket's
// addresses.
//
// # TLS
//
// The handshake runs after the header (load balancers send the header in
// front of the ClientHello), within HandshakeTimeout. Every handshake
// takes the current configuration through tls.Config.GetConfigForClient:
// the certificate, key and client CA bundle are one immutable generation
// behind an atomic pointer. A watcher goroutine polls the files' stamps
// (tlsconf.FileStamp, through symlinks, so a Kubernetes Secret's ..data
// swap is seen) every ReloadInterval and loads a new generation when one
// changed; a pair that does not load (unreadable, key not matching,
// expired) is logged and counted, and the previous generation keeps
// serving. Connections are never dropped by a reload. Session tickets use
// the listener's own keys across generations, and Go re-verifies a resumed
// session's client chain against the current CA bundle.
//
// client_auth request verifies a certificate when the client sends one;
// require demands one. A verified leaf maps to a user through CertUsers
// (cn:, dns:, email:, uri:) or UserFromCert: Admitted.User. An unmapped
// certificate leaves User empty; the session then asks for SASL as usual.
package edge
