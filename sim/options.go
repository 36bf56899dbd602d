package sim

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"time"
)

// Options configure a simulated cluster. The zero value starts the cmd/cbsim
// default: three nodes on 127.0.0.11-13, ports 8091 and 11210, bucket
// "default" with 1024 vBuckets and one replica, user Administrator/password.
type Options struct {
	// Nodes is the number of nodes started. Default 3.
	Nodes int
	// Host, when set, puts every node on this one address with distinct
	// ports (tests pass "127.0.0.1"). "" means one address per node, from
	// HostBase.
	Host string
	// HostBase is the first node's address when Host is empty; node i
	// listens on HostBase+i (127.0.0.11, 127.0.0.12, ...). Default
	// "127.0.0.11".
	HostBase string
	// MgmtPort and KVPort are the cluster manager and KV ports. With HostBase
	// every node uses the same ports, default 8091 and 11210. With Host, 0
	// (the default) means ephemeral ports and a fixed value p means node i
	// listens on p+i.
	MgmtPort, KVPort int
	// Buckets are the bucket names. Default ["default"].
	Buckets []string
	// VBuckets is the number of vBuckets per bucket. Default 1024.
	VBuckets int
	// Replicas is the number of replicas per vBucket (0-3), limited by the
	// number of nodes. Default 1; set NoReplicas for none.
	Replicas int
	// NoReplicas makes Replicas 0 (the zero value of Replicas means 1).
	NoReplicas bool
	// User and Password are the cluster credentials for both HTTP and KV.
	// Default Administrator/password.
	User, Password string
	// AllowFlush lets FLUSH clear a bucket; otherwise it is NOT_SUPPORTED,
	// as on a Couchbase bucket with flush disabled.
	AllowFlush bool
	// ExternalHost, when set, adds alternateAddresses.external with this
	// host and the same ports to every node in the configs.
	ExternalHost string
	// NoAuth lets KV clients run data commands without SASL, on the first
	// bucket, as a plain memcached server does (for memccapable and plain
	// memcached clients). SASL and SELECT_BUCKET still work.
	NoAuth bool
	// ZeroDeleteCAS makes DELETE replies carry CAS 0, as memcached's do
	// (memccapable checks it). By default a node answers like Couchbase,
	// with the CAS of the deletion.
	ZeroDeleteCAS bool
	// NoCollections makes every bucket behave as before Couchbase 7 (or as
	// a memcached bucket): no "collections" bucket capability and no
	// collectionsManifestUid in the configs, no scopes REST API (404),
	// HELLO declines Collections and GET_COLLECTION_ID is NOT_SUPPORTED.
	// By default buckets support collections, with Couchbase 7.6's initial
	// manifest.
	NoCollections bool
	// NoClustermapPush starts the cluster with clustermap push
	// notifications off (the memcached setting
	// clustermap_push_notifications_enabled): HELLO declines
	// ClustermapChangeNotification and its brief form, and nothing is
	// pushed. Cluster.SetClustermapPush changes it at run time.
	NoClustermapPush bool
	// RebalanceBatch is how many vBuckets a rebalance moves per revision.
	// Default 64.
	RebalanceBatch int
	// RebalanceDelay is a pause between rebalance batches, to make moves
	// observable by hand. Default 0.
	RebalanceDelay time.Duration
	// Version is what VERSION and the configs report. Default "7.6.2-3721-enterprise".
	Version string
	// Logger receives one line per topology event. nil discards.
	Logger *slog.Logger
	// Listen, when set, opens every listener of a node (cluster manager and
	// KV) instead of net.Listen, for example inside a network namespace of
	// that node (internal/netns). node is the node's address index (0 for
	// the first node, as HostBase+node), or -1 for a node added at an
	// explicit hostname. The listener's port is the one the node advertises.
	// nil means net.Listen.
	Listen func(node int, network, addr string) (net.Listener, error)
	// TLSDir, when set, turns TLS on (tls.go). At Start the cluster creates
	// a CA and writes into this directory (created if missing): ca.pem (the
	// CA certificate, for clients' CA files), ca-key.pem (its key, so that
	// tests can issue more certificates: certs.LoadCA), client.pem and
	// client-key.pem (a client certificate whose subject CN is User, for
	// certificate authentication). Every node then also serves KV over TLS
	// on its KVTLSPort and its cluster manager over https on its port +
	// 10000 (8091 gives 18091; ephemeral when that port is), with a server
	// certificate for its own address (and ExternalHost), advertised as
	// nodesExt kvSSL and mgmtSSL. The plain ports keep working. Default "":
	// no TLS.
	TLSDir string
	// KVTLSPort is the KV TLS port, with TLSDir. With HostBase every node
	// uses it, default 11207. With Host, 0 (the default) means ephemeral
	// and p means node i listens on p+i.
	KVTLSPort int
	// ClientCertAuth is the KV TLS client-certificate mode, named as
	// Couchbase's ssl_client_cert: "disable" (or "": none is asked for),
	// "enable" (asked for; a client may send none and use SASL, but one it
	// sends must verify against the CA and name User) or "mandatory" (a
	// handshake without a valid certificate fails). A certificate names User
	// by its subject CN, a DNS or email SAN, or a URI SAN or its user part
	// ("couchbase://User@cluster"); one that names no user is refused. A
	// connection so authenticated needs no SASL and may not change its
	// identity: SASL on it is NOT_SUPPORTED. Requires TLSDir.
	ClientCertAuth string
}

const (
	defaultNodes          = 3
	defaultHostBase       = "127.0.0.11"
	defaultMgmtPort       = 8091
	defaultKVPort         = 11210
	defaultVBuckets       = 1024
	defaultUser           = "Administrator"
	defaultPassword       = "password"
	defaultRebalanceBatch = 64
	defaultVersion        = "7.6.2-3721-enterprise"
	maxReplicas           = 3
	maxVBuckets           = 65536
)

// withDefaults fills defaults and validates.
func (o Options) withDefaults() (Options, error) {
	if o.Nodes == 0 {
		o.Nodes = defaultNodes
	}
	if o.Nodes < 0 {
		return o, fmt.Errorf("%w: Nodes %d is negative", ErrBadOptions, o.Nodes)
	}
	if o.Host == "" {
		if o.HostBase == "" {
			o.HostBase = defaultHostBase
		}
		ip := net.ParseIP(o.HostBase).To4()
		if ip == nil {
			return o, fmt.Errorf("%w: HostBase %q is not an IPv4 address", ErrBadOptions, o.HostBase)
		}
		if int(ip[3])+o.Nodes > 255 {
			return o, fmt.Errorf("%w: HostBase %q leaves no room for %d nodes", ErrBadOptions, o.HostBase, o.Nodes)
		}
		if o.MgmtPort == 0 {
			o.MgmtPort = defaultMgmtPort
		}
		if o.KVPort == 0 {
			o.KVPort = defaultKVPort
		}
	}
	if o.MgmtPort < 0 || o.MgmtPort > 65535 || o.KVPort < 0 || o.KVPort > 65535 {
		return o, fmt.Errorf("%w: ports %d/%d out of range", ErrBadOptions, o.MgmtPort, o.KVPort)
	}
	if len(o.Buckets) == 0 {
		o.Buckets = []string{"default"}
	}
	o.Buckets = slices.Clone(o.Buckets)
	for i, b := range o.Buckets {
		if b == "" || len(b) > 100 {
			return o, fmt.Errorf("%w: Buckets[%d] %q: name must be 1-100 characters", ErrBadOptions, i, b)
		}
		if slices.Index(o.Buckets, b) != i {
			return o, fmt.Errorf("%w: Buckets[%d] %q is a duplicate", ErrBadOptions, i, b)
		}
	}
	if o.VBuckets == 0 {
		o.VBuckets = defaultVBuckets
	}
	if o.VBuckets < 1 || o.VBuckets > maxVBuckets {
		return o, fmt.Errorf("%w: VBuckets %d outside 1-%d", ErrBadOptions, o.VBuckets, maxVBuckets)
	}
	switch {
	case o.NoReplicas:
		o.Replicas = 0
	case o.Replicas == 0:
		o.Replicas = 1
	}
	if o.Replicas < 0 || o.Replicas > maxReplicas {
		return o, fmt.Errorf("%w: Replicas %d outside 0-%d", ErrBadOptions, o.Replicas, maxReplicas)
	}
	if o.User == "" {
		o.User = defaultUser
	}
	if o.Password == "" {
		o.Password = defaultPassword
	}
	if o.RebalanceBatch <= 0 {
		o.RebalanceBatch = defaultRebalanceBatch
	}
	if o.Version == "" {
		o.Version = defaultVersion
	}
	if err := o.tlsDefaults(); err != nil {
		return o, err
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return o, nil
}
