package tlsconf

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"
)

// ClusterTLS is the cluster.tls configuration: how the proxy talks TLS to
// the Couchbase nodes. The zero value is plain TCP.
type ClusterTLS struct {
	// Enabled turns TLS on for KV (and cluster manager) connections.
	// Default false. The other fields are an error when it is false.
	Enabled bool
	// CAFile is a PEM bundle of the CAs that sign the nodes' certificates.
	// Default "": the system pool.
	CAFile string
	// ServerName overrides the name every node's certificate is verified
	// against (and the SNI sent). Default "": the host of the address
	// dialled, as the Couchbase SDKs do.
	ServerName string
	// ClientCertFile and ClientKeyFile are a PEM certificate chain and key
	// presented to the nodes (certificate authentication instead of a
	// password). Both or neither. Re-read when their files change.
	ClientCertFile, ClientKeyFile string
	// InsecureSkipVerify accepts any server certificate. Default false;
	// callers warn at start and on /readyz when it is set.
	InsecureSkipVerify bool
	// MinVersion is the lowest TLS version offered: tls.VersionTLS12 or
	// tls.VersionTLS13. Default 0: DefaultMinVersion (TLS 1.2).
	MinVersion uint16
	// Logger receives one line per client certificate reload (and per
	// failed reload). Nil discards.
	Logger *slog.Logger
}

// ClientCertCheckInterval is how often, at most, a dial stats the client
// certificate files to notice a rotation.
const ClientCertCheckInterval = time.Second

// sessionCacheSize is the number of resumable sessions kept: one per node
// connection is plenty for clusters of a few dozen nodes with a small pool.
const sessionCacheSize = 256

// BuildClusterTLS checks c and returns the base client config for the
// cluster, or nil (and no error) when TLS is not enabled. Give each dial
// ForAddr(base, addr), never base itself: base has no ServerName, so a
// handshake made with it directly fails instead of skipping hostname
// verification. Errors name the field: "cluster.tls.ca_file: no
// certificates found in /etc/ca.pem".
func BuildClusterTLS(c ClusterTLS) (*tls.Config, error) {
	if !c.Enabled {
		if f := c.firstSet(); f != "" {
			return nil, fmt.Errorf("cluster.tls.%s: set but cluster.tls.enabled is false", f)
		}
		return nil, nil
	}
	minVersion, err := CheckVersion(c.MinVersion)
	if err != nil {
		return nil, fmt.Errorf("cluster.tls.min_version: %w", err)
	}
	cfg := &tls.Config{
		MinVersion:         minVersion,
		ServerName:         c.ServerName,
		InsecureSkipVerify: c.InsecureSkipVerify,
		ClientSessionCache: tls.NewLRUClientSessionCache(sessionCacheSize),
	}
	if c.InsecureSkipVerify && c.CAFile != "" {
		return nil, errors.New("cluster.tls.insecure_skip_verify: cannot be combined with ca_file (a CA that is never checked)")
	}
	if c.ServerName != "" && strings.ContainsAny(c.ServerName, " :/") {
		return nil, fmt.Errorf("cluster.tls.server_name: %q is not a host name", c.ServerName)
	}
	if c.CAFile != "" {
		pool, err := LoadCertPool(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("cluster.tls.ca_file: %w", err)
		}
		cfg.RootCAs = pool
	}
	switch {
	case c.ClientCertFile != "" && c.ClientKeyFile == "":
		return nil, errors.New("cluster.tls.client_key_file: required with client_cert_file")
	case c.ClientCertFile == "" && c.ClientKeyFile != "":
		return nil, errors.New("cluster.tls.client_cert_file: required with client_key_file")
	case c.ClientCertFile != "":
		cp, err := newClientPair(c.ClientCertFile, c.ClientKeyFile, c.Logger)
		if err != nil {
			return nil, err
		}
		cfg.GetClientCertificate = cp.get
	}
	return cfg, nil
}

func (c ClusterTLS) firstSet() string {
	switch {
	case c.CAFile != "":
		return "ca_file"
	case c.ServerName != "":
		return "server_name"
	case c.ClientCertFile != "":
		return "client_cert_file"
	case c.ClientKeyFile != "":
		return "client_key_file"
	case c.InsecureSkipVerify:
		return "insecure_skip_verify"
	case c.MinVersion != 0:
		return "min_version"
	}
	return ""
}

// ForAddr returns the config for one dial to addr ("host:port"): a clone
// of base whose ServerName is the host of addr unless base names one, and
// whose session cache keys tickets by addr as well, so a ticket issued by
// one node is only offered back to that node. It returns nil when base is
// nil (plain TCP).
func ForAddr(base *tls.Config, addr string) *tls.Config {
	if base == nil {
		return nil
	}
	cfg := base.Clone()
	if cfg.ServerName == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			host = addr
		}
		cfg.ServerName = host
	}
	if cfg.ClientSessionCache != nil {
		cfg.ClientSessionCache = addrCache{inner: cfg.ClientSessionCache, addr: addr}
	}
	return cfg
}

// addrCache scopes a shared client session cache to one dialled address.
type addrCache struct {
	inner tls.ClientSessionCache
	addr  string
}

func (a addrCache) Get(key string) (*tls.ClientSessionState, bool) {
	return a.inner.Get(a.addr + "|" + key)
}

func (a addrCache) Put(key string, cs *tls.ClientSessionState) {
	a.inner.Put(a.addr+"|"+key, cs)
}

// clientPair is the client certificate presented to the nodes. Handshakes
// on any goroutine call get; it re-checks the files at most once per
// ClientCertCheckInterval.
type clientPair struct {
	certFile, keyFile string
	log               *slog.Logger

	mu        sync.Mutex
	pair      *tls.Certificate
	stamps    [2]FileStamp // of the files as last loaded or tried
	lastCheck time.Time
}

func newClientPair(certFile, keyFile string, log *slog.Logger) (*clientPair, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cp := &clientPair{certFile: certFile, keyFile: keyFile, log: log}
	stamps := cp.stat()
	pair, err := LoadKeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("cluster.tls.client_cert_file: %w", err)
	}
	if why, bad := Expired(pair.Leaf, time.Now()); bad {
		log.Warn("cluster client certificate is not valid now", "cert_file", certFile, "reason", why)
	}
	cp.pair, cp.stamps, cp.lastCheck = &pair, stamps, time.Now()
	return cp, nil
}

func (cp *clientPair) stat() [2]FileStamp {
	var s [2]FileStamp
	s[0], _ = StampFile(cp.certFile)
	s[1], _ = StampFile(cp.keyFile)
	return s
}

// get is tls.Config.GetClientCertificate. It never fails: a rotation that
// cannot be loaded is logged and the previous pair is presented.
func (cp *clientPair) get(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	now := time.Now()
	if now.Sub(cp.lastCheck) < ClientCertCheckInterval {
		return cp.pair, nil
	}
	cp.lastCheck = now
	stamps := cp.stat()
	if stamps[0].Same(cp.stamps[0]) && stamps[1].Same(cp.stamps[1]) {
		return cp.pair, nil
	}
	cp.stamps = stamps
	pair, err := LoadKeyPair(cp.certFile, cp.keyFile)
	if err != nil {
		cp.log.Error("cluster client certificate changed but cannot be loaded; keeping the previous one",
			"cert_file", cp.certFile, "key_file", cp.keyFile, "err", err)
		return cp.pair, nil
	}
	cp.pair = &pair
	cp.log.Info("cluster client certificate reloaded", "cert_file", cp.certFile,
		"serial", pair.Leaf.SerialNumber.Text(16), "not_after", pair.Leaf.NotAfter.UTC())
	return cp.pair, nil
}
