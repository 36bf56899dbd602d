package sim

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/vbproxy/vbproxy/internal/certs"
	"github.com/vbproxy/vbproxy/memcached"
)

// Client-certificate modes of Options.ClientCertAuth, named as Couchbase's
// ssl_client_cert settings.
const (
	ClientCertDisable   = "disable"
	ClientCertEnable    = "enable"
	ClientCertMandatory = "mandatory"
)

// Files written into Options.TLSDir.
const (
	CAFile         = "ca.pem"         // the CA certificate: what clients trust
	CAKeyFile      = "ca-key.pem"     // its private key: certs.LoadCA issues more certificates from it
	ClientCertFile = "client.pem"     // a client certificate for Options.User (subject CN = User)
	ClientKeyFile  = "client-key.pem" // its private key
)

const (
	defaultKVTLSPort = 11207
	// mgmtTLSOffset: a node's https cluster manager listens on its port +
	// 10000, as Couchbase's 18091 for 8091.
	mgmtTLSOffset = 10000
	// kvHandshakeTimeout bounds a KV TLS handshake once the node runs.
	kvHandshakeTimeout = 10 * time.Second
)

// clusterTLS is a cluster's TLS material; nil when TLS is off. Immutable
// after Start.
type clusterTLS struct {
	ca   *certs.CA
	mode string // ClientCertDisable, ClientCertEnable or ClientCertMandatory
	user string // the user a client certificate may name
	ext  string // Options.ExternalHost: also in every server certificate
}

// newClusterTLS creates the CA and writes the TLSDir files.
func newClusterTLS(o *Options) (*clusterTLS, error) {
	if err := os.MkdirAll(o.TLSDir, 0o755); err != nil {
		return nil, fmt.Errorf("sim: TLSDir: %w", err)
	}
	ca, err := certs.NewCA("vbproxy cbsim CA")
	if err != nil {
		return nil, fmt.Errorf("sim: TLS: %w", err)
	}
	if _, _, err := ca.WriteFiles(o.TLSDir, "ca"); err != nil {
		return nil, fmt.Errorf("sim: TLSDir: %w", err)
	}
	client, err := ca.Client(o.User)
	if err != nil {
		return nil, fmt.Errorf("sim: TLS: %w", err)
	}
	if _, _, err := client.WriteFiles(o.TLSDir, "client"); err != nil {
		return nil, fmt.Errorf("sim: TLSDir: %w", err)
	}
	return &clusterTLS{ca: ca, mode: o.ClientCertAuth, user: o.User, ext: o.ExternalHost}, nil
}

// nodeConfigs returns the KV and https server configs of a node at host:
// a certificate for host (and the external host), TLS 1.2 at least, and on
// KV the client-certificate policy.
func (ct *clusterTLS) nodeConfigs(host string) (kv, mgmt *tls.Config, err error) {
	hosts := []string{host}
	if ct.ext != "" && ct.ext != host {
		hosts = append(hosts, ct.ext)
	}
	cert, err := ct.ca.Server(hosts...)
	if err != nil {
		return nil, nil, fmt.Errorf("sim: node %s: certificate: %w", host, err)
	}
	mgmt = &tls.Config{
		Certificates: []tls.Certificate{cert.TLSCertificate()},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1"},
	}
	kv = &tls.Config{
		Certificates: []tls.Certificate{cert.TLSCertificate()},
		MinVersion:   tls.VersionTLS12,
	}
	switch ct.mode {
	case ClientCertEnable:
		kv.ClientAuth = tls.VerifyClientCertIfGiven
	case ClientCertMandatory:
		kv.ClientAuth = tls.RequireAndVerifyClientCert
	}
	if kv.ClientAuth != tls.NoClientCert {
		kv.ClientCAs = ct.ca.Pool()
		// A certificate that verifies but names no user refuses the
		// connection, as on Couchbase.
		kv.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) > 0 && !namesUser(cs.PeerCertificates[0], ct.user) {
				return fmt.Errorf("sim: client certificate %q names no user", cs.PeerCertificates[0].Subject.CommonName)
			}
			return nil
		}
	}
	return kv, mgmt, nil
}

// namesUser reports whether a client certificate maps to user: its subject
// CN, a DNS or email SAN, a URI SAN or the user part of one ("couchbase://
// user@cluster") equals user.
func namesUser(c *x509.Certificate, user string) bool {
	if c.Subject.CommonName == user {
		return true
	}
	for _, s := range append(append([]string(nil), c.DNSNames...), c.EmailAddresses...) {
		if s == user {
			return true
		}
	}
	for _, u := range c.URIs {
		if u.String() == user || u.User != nil && u.User.Username() == user {
			return true
		}
	}
	return false
}

// tlsPorts returns the TLS ports a node with address index (-1: added at an
// explicit host) and requested cluster manager port asks for, following
// Options.KVTLSPort and the +10000 rule (0 = ephemeral).
func (c *Cluster) tlsPorts(index, mgmtPort int) (kvTLS, mgmtTLS int, err error) {
	o := &c.opts
	switch {
	case o.Host == "":
		kvTLS = o.KVTLSPort
	case index >= 0 && o.KVTLSPort != 0:
		kvTLS = o.KVTLSPort + index
	}
	if mgmtPort != 0 {
		mgmtTLS = mgmtPort + mgmtTLSOffset
		if mgmtTLS > 65535 {
			return 0, 0, fmt.Errorf("%w: cluster manager port %d: its https port %d (+%d) is above 65535",
				ErrBadOptions, mgmtPort, mgmtTLS, mgmtTLSOffset)
		}
	}
	return kvTLS, mgmtTLS, nil
}

// listenTLS opens a node's TLS listeners (nothing when TLS is off).
func (n *Node) listenTLS(index int, requestedMgmt int, listen func(string) (net.Listener, error)) error {
	ct := n.c.tls
	if ct == nil {
		return nil
	}
	kvPort, mgmtPort, err := n.c.tlsPorts(index, requestedMgmt)
	if err != nil {
		return err
	}
	if n.kvTLS, n.mgmtTLS, err = ct.nodeConfigs(n.host); err != nil {
		return err
	}
	if n.kvTLSLn, err = listen(net.JoinHostPort(n.host, strconv.Itoa(kvPort))); err != nil {
		return fmt.Errorf("sim: node %s: kv tls: %w", n.host, err)
	}
	if n.mgmtTLSLn, err = listen(net.JoinHostPort(n.host, strconv.Itoa(mgmtPort))); err != nil {
		_ = n.kvTLSLn.Close()
		return fmt.Errorf("sim: node %s: cluster manager https: %w", n.host, err)
	}
	n.kvTLSPort = n.kvTLSLn.Addr().(*net.TCPAddr).Port
	n.mgmtTLSPort = n.mgmtTLSLn.Addr().(*net.TCPAddr).Port
	return nil
}

// tlsKVConn is an accepted KV TLS connection after its handshake. user is
// the user its client certificate named ("" = none: SASL as usual).
type tlsKVConn struct {
	*tls.Conn
	user string
}

// certUser returns the user conn authenticated as by its client
// certificate, "" when none.
func certUser(conn net.Conn) string {
	if tc, ok := conn.(*tlsKVConn); ok {
		return tc.user
	}
	return ""
}

// acceptKVTLS accepts KV TLS connections, completes each handshake
// (within kvHandshakeTimeout, and not while the node is paused: a paused
// node answers nothing, TLS included) and serves it as a plain KV
// connection.
func (n *Node) acceptKVTLS() {
	for {
		raw, err := n.kvTLSLn.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				n.log.Warn("kv tls accept", "err", err)
			}
			return
		}
		if !n.track(raw) {
			_ = raw.Close()
			return
		}
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			defer n.untrack(raw)
			defer raw.Close()
			conn, ok := n.handshakeKV(raw)
			if !ok {
				return
			}
			n.serveKV(conn)
		}()
	}
}

// handshakeKV runs the server side of a KV TLS handshake on raw.
func (n *Node) handshakeKV(raw net.Conn) (*tlsKVConn, bool) {
	if !n.waitRunning(nil) {
		return nil, false
	}
	tc := tls.Server(raw, n.kvTLS)
	if err := raw.SetDeadline(time.Now().Add(kvHandshakeTimeout)); err != nil {
		return nil, false
	}
	if err := tc.Handshake(); err != nil {
		n.log.Debug("kv tls handshake", "remote", raw.RemoteAddr().String(), "err", err)
		return nil, false
	}
	if err := raw.SetDeadline(time.Time{}); err != nil {
		return nil, false
	}
	conn := &tlsKVConn{Conn: tc}
	if cs := tc.ConnectionState(); len(cs.PeerCertificates) > 0 {
		conn.user = n.c.tls.user // VerifyConnection checked that it names the user
	}
	return conn, true
}

// KVTLSAddr returns the KV TLS service's "host:port", "" without TLS.
func (n *Node) KVTLSAddr() string {
	if n.kvTLSLn == nil {
		return ""
	}
	return net.JoinHostPort(n.host, strconv.Itoa(n.kvTLSPort))
}

// MgmtTLSURL returns the https cluster manager's "https://host:port", ""
// without TLS.
func (n *Node) MgmtTLSURL() string {
	if n.mgmtTLSLn == nil {
		return ""
	}
	return "https://" + net.JoinHostPort(n.host, strconv.Itoa(n.mgmtTLSPort))
}

// TLSSeedURL returns "https://host:port" of the first member's cluster
// manager, "" without TLS.
func (c *Cluster) TLSSeedURL() string {
	t := c.topo.Load()
	if t == nil || len(t.members) == 0 {
		return ""
	}
	return t.members[0].MgmtTLSURL()
}

// CA returns the cluster's certificate authority (the one in TLSDir/ca.pem),
// nil without TLS. Tests issue client certificates from it.
func (c *Cluster) CA() *certs.CA {
	if c.tls == nil {
		return nil
	}
	return c.tls.ca
}

// tlsDefaults fills and checks the TLS options (withDefaults).
func (o *Options) tlsDefaults() error {
	switch o.ClientCertAuth {
	case "":
		o.ClientCertAuth = ClientCertDisable
	case ClientCertDisable, ClientCertEnable, ClientCertMandatory:
	default:
		return fmt.Errorf("%w: ClientCertAuth %q: want %q, %q or %q", ErrBadOptions,
			o.ClientCertAuth, ClientCertDisable, ClientCertEnable, ClientCertMandatory)
	}
	if o.TLSDir == "" {
		if o.ClientCertAuth != ClientCertDisable {
			return fmt.Errorf("%w: ClientCertAuth %q needs TLSDir", ErrBadOptions, o.ClientCertAuth)
		}
		return nil
	}
	if o.Host == "" && o.KVTLSPort == 0 {
		o.KVTLSPort = defaultKVTLSPort
	}
	if o.KVTLSPort < 0 || o.KVTLSPort > 65535 {
		return fmt.Errorf("%w: KVTLSPort %d out of range", ErrBadOptions, o.KVTLSPort)
	}
	return checkPortRanges(o)
}

// checkPortRanges refuses fixed ports that the first Nodes nodes would
// share: with HostBase every node has the four ports; with Host node i
// has each fixed port + i.
func checkPortRanges(o *Options) error {
	type portRange struct {
		name string
		port int
	}
	ranges := []portRange{{"MgmtPort", o.MgmtPort}, {"KVPort", o.KVPort}, {"KVTLSPort", o.KVTLSPort}}
	if o.MgmtPort != 0 {
		ranges = append(ranges, portRange{"the https port (MgmtPort+10000)", o.MgmtPort + mgmtTLSOffset})
	}
	width := 1
	if o.Host != "" {
		width = o.Nodes
	}
	for i, a := range ranges {
		if a.port+width-1 > 65535 {
			return fmt.Errorf("%w: %s %d: node %d would listen above 65535", ErrBadOptions, a.name, a.port, width-1)
		}
		for _, b := range ranges[i+1:] {
			if a.port != 0 && b.port != 0 && a.port < b.port+width && b.port < a.port+width {
				return fmt.Errorf("%w: %s %d and %s %d overlap for %d nodes on one host",
					ErrBadOptions, a.name, a.port, b.name, b.port, width)
			}
		}
	}
	return nil
}

// saslRefused answers NOT_SUPPORTED to SASL_AUTH and SASL_STEP on a
// connection authenticated by its client certificate, which may not change
// its identity (Couchbase disables SASL on such a connection).
func (kc *kvConn) saslRefused(h *memcached.Header) bool {
	if certUser(kc.conn) == "" {
		return false
	}
	kc.reply(h, memcached.StatusNotSupported, "SASL is disabled: the connection is authenticated by its client certificate")
	return true
}
