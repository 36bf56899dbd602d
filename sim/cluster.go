package sim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
)

// revEpoch is the revEpoch of every config the simulator publishes.
const revEpoch = 1

// Cluster is a running simulated Couchbase cluster.
type Cluster struct {
	opts    Options
	log     *slog.Logger
	buckets []*bucket
	auth    *authenticator
	tls     *clusterTLS // nil without Options.TLSDir

	topo   atomic.Pointer[topology]
	topoMu sync.Mutex // serialises topology changes (held for a whole rebalance)
	pubMu  sync.Mutex // serialises publishes (topology and manifest changes)

	mu        sync.Mutex
	changed   chan struct{} // closed and replaced on every publish
	closed    bool
	nextIndex int     // address index of the next node created
	started   []*Node // every node started and not yet stopped
	rebalance *restRebalance
	// lastRebalanceErr is the outcome of the last REST rebalance.
	lastRebalanceErr error

	// afterBatch, when set (by tests, before any rebalance), runs after each
	// rebalance batch is published.
	afterBatch func()

	// Run-time switches (switches.go).
	pushEnabled    atomic.Bool // clustermap push notifications (Options.NoClustermapPush)
	mgmtDown       atomic.Bool // the cluster managers are unreachable
	streamsStalled atomic.Bool // config streams deliver nothing new
	gatesMu        sync.Mutex
	gates          []*mgmtGate // every open cluster manager listener (mgmt_gate.go)

	ctx    context.Context // cancelled by Close: stops rebalances
	cancel context.CancelFunc
	wg     sync.WaitGroup // REST-started rebalances
}

// bucket is a bucket's cluster-wide state: the per-vBucket locks shared by
// every node's copy of that vBucket.
type bucket struct {
	index int
	name  string
	uuid  string
	vbs   []vbucket

	// manifest is the collections manifest (nil with Options.NoCollections);
	// manifestMu serialises its changes (collections.go).
	manifest   atomic.Pointer[manifest]
	manifestMu sync.Mutex
}

// vbucket guards every copy of one vBucket (active and replicas, on every
// node) and the ownership check of commands on it.
type vbucket struct {
	mu      sync.Mutex
	lastCAS uint64
}

// nextCAS returns a fresh CAS: wall-clock nanoseconds, strictly increasing
// per vBucket (Couchbase CAS values are hybrid logical clocks). Call with mu
// held.
func (v *vbucket) nextCAS(now int64) uint64 {
	c := uint64(now)
	if c <= v.lastCAS {
		c = v.lastCAS + 1
	}
	v.lastCAS = c
	return c
}

// Start starts a cluster and returns when every node listens.
func Start(o Options) (*Cluster, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	auth, err := newAuthenticator(o.User, o.Password)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Cluster{
		opts:    o,
		log:     o.Logger,
		auth:    auth,
		changed: make(chan struct{}),
		ctx:     ctx,
		cancel:  cancel,
	}
	c.pushEnabled.Store(!o.NoClustermapPush)
	if o.TLSDir != "" {
		if c.tls, err = newClusterTLS(&o); err != nil {
			cancel()
			return nil, err
		}
	}
	for i, name := range o.Buckets {
		bk := &bucket{index: i, name: name, uuid: newUUID(), vbs: make([]vbucket, o.VBuckets)}
		if !o.NoCollections {
			bk.manifest.Store(initialManifest())
		}
		c.buckets = append(c.buckets, bk)
	}
	var nodes []*Node
	for range o.Nodes {
		n, err := c.startNode("", -1)
		if err != nil {
			_ = c.Close()
			return nil, err
		}
		nodes = append(nodes, n)
	}
	t := &topology{members: nodes, servers: nodes}
	for b := range c.buckets {
		chains := balance(nil, nodes, o.VBuckets, o.Replicas)
		for vb, chain := range chains {
			for _, n := range chain {
				if n != nil {
					n.data[b][vb] = newVBStore()
				}
			}
		}
		t.maps = append(t.maps, &vbMap{chains: chains})
	}
	c.publish(t)
	c.log.Info("cluster started", "nodes", len(nodes), "buckets", o.Buckets, "vbuckets", o.VBuckets, "seed", c.SeedURL())
	return c, nil
}

// Close stops every node and any running rebalance.
func (c *Cluster) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
	c.topoMu.Lock()
	defer c.topoMu.Unlock()
	c.mu.Lock()
	nodes := slices.Clone(c.started)
	c.mu.Unlock()
	var errs []error
	for _, n := range nodes {
		errs = append(errs, n.stop())
	}
	return errors.Join(errs...)
}

// SeedURL returns "http://host:port" of the first member's cluster manager.
func (c *Cluster) SeedURL() string {
	t := c.topo.Load()
	if t == nil || len(t.members) == 0 {
		return ""
	}
	return t.members[0].MgmtURL()
}

// Nodes returns the cluster's nodes: the members, then nodes added and not
// yet rebalanced in. Failed-over and ejected nodes are gone.
func (c *Cluster) Nodes() []*Node {
	t := c.topo.Load()
	if t == nil {
		return nil
	}
	return t.all()
}

// Node returns the node with the given otpNode name, nil when none.
func (c *Cluster) Node(otp string) *Node {
	for _, n := range c.Nodes() {
		if n.otp == otp {
			return n
		}
	}
	return nil
}

// Buckets returns the bucket names.
func (c *Cluster) Buckets() []string { return slices.Clone(c.opts.Buckets) }

// NumVBuckets returns the number of vBuckets per bucket.
func (c *Cluster) NumVBuckets() int { return c.opts.VBuckets }

// Revision returns the current config revision.
func (c *Cluster) Revision() int64 { return c.topo.Load().rev }

// ConfigJSON returns the current full config of bucket (as
// /pools/default/buckets/<bucket> on the first member answers), nil for an
// unknown bucket.
func (c *Cluster) ConfigJSON(bucket string) []byte {
	b := c.bucketIndex(bucket)
	if b < 0 {
		return nil
	}
	t := c.topo.Load()
	var self *Node
	if len(t.members) > 0 {
		self = t.members[0]
	}
	return c.bucketConfig(t, b, self, false)
}

// VBucketOwner returns the active node of vb in bucket, nil when none (or
// unknown bucket or vBucket).
func (c *Cluster) VBucketOwner(bucket string, vb int) *Node {
	b := c.bucketIndex(bucket)
	if b < 0 || vb < 0 || vb >= c.opts.VBuckets {
		return nil
	}
	return c.topo.Load().active(b, vb)
}

// Get reads key from the active copy of its vBucket (hashed with CRC32, as
// clients do): the oracle for tests.
func (c *Cluster) Get(bucket string, key []byte) (value []byte, ok bool) {
	b := c.bucketIndex(bucket)
	if b < 0 {
		return nil, false
	}
	return c.get(b, 0, key, 0)
}

// ReplicaGet reads key from the i-th replica copy (1-based) of its vBucket.
func (c *Cluster) ReplicaGet(bucket string, key []byte, i int) (value []byte, ok bool) {
	b := c.bucketIndex(bucket)
	if b < 0 || i < 1 || i > c.opts.Replicas {
		return nil, false
	}
	return c.get(b, 0, key, i)
}

func (c *Cluster) bucketIndex(name string) int { return slices.Index(c.opts.Buckets, name) }

// publish makes t current with the next revision and wakes config streams.
// Callers hold topoMu (or are Start). t takes the buckets' current
// collections manifests, so a topology change never undoes a manifest
// change published meanwhile.
func (c *Cluster) publish(t *topology) {
	c.pubMu.Lock()
	defer c.pubMu.Unlock()
	c.publishLocked(t)
}

// republish publishes the current topology again, as a new revision with the
// current manifests (after a manifest change; topoMu is not needed).
func (c *Cluster) republish() {
	c.pubMu.Lock()
	defer c.pubMu.Unlock()
	c.publishLocked(c.topo.Load().clone())
}

func (c *Cluster) publishLocked(t *topology) {
	t.manifests = make([]*manifest, len(c.buckets))
	for b, bk := range c.buckets {
		t.manifests[b] = bk.manifest.Load()
	}
	if old := c.topo.Load(); old != nil {
		t.rev = old.rev + 1
	} else {
		t.rev = 1
	}
	all := t.all()
	t.terse = make([][]byte, len(c.buckets)*len(all))
	for b := range c.buckets {
		for i, n := range all {
			t.terse[b*len(all)+i] = c.bucketConfig(t, b, n, true)
		}
	}
	c.mu.Lock()
	c.topo.Store(t)
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
}

// watch returns the current topology and a channel closed on the next
// publish.
func (c *Cluster) watch() (*topology, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.topo.Load(), c.changed
}

// nodeAddr returns the address of the node with address index i.
func (c *Cluster) nodeAddr(i int) (host string, mgmtPort, kvPort int) {
	o := &c.opts
	if o.Host != "" {
		mgmtPort, kvPort = o.MgmtPort, o.KVPort
		if mgmtPort != 0 {
			mgmtPort += i
		}
		if kvPort != 0 {
			kvPort += i
		}
		return o.Host, mgmtPort, kvPort
	}
	ip := net.ParseIP(o.HostBase).To4()
	return net.IPv4(ip[0], ip[1], ip[2], ip[3]+byte(i)).String(), o.MgmtPort, o.KVPort
}

// startNode starts a node. host "" takes the next address from the
// options; otherwise the node listens on host and mgmtPort (-1: the
// cluster's default for that host).
func (c *Cluster) startNode(host string, mgmtPort int) (*Node, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	var kvPort int
	index := -1
	if host == "" {
		index = c.nextIndex
		host, mgmtPort, kvPort = c.nodeAddr(index)
		c.nextIndex++
	} else {
		_, defMgmt, defKV := c.nodeAddr(0)
		if c.opts.Host != "" {
			defMgmt, defKV = 0, 0
		}
		if mgmtPort < 0 {
			mgmtPort = defMgmt
		}
		kvPort = defKV
	}
	c.mu.Unlock()
	n, err := newNode(c, index, host, mgmtPort, kvPort)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		_ = n.stop()
		return nil, ErrClosed
	}
	c.started = append(c.started, n)
	c.mu.Unlock()
	n.serve()
	return n, nil
}

// forget drops a stopped node from the started list.
func (c *Cluster) forget(n *Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.started = slices.DeleteFunc(c.started, func(x *Node) bool { return x == n })
}

// otpName is a node's Couchbase name: "ns_1@host", or "ns_1@host:port" when
// nodes share a host (Options.Host) or the node is not on the cluster's
// manager port.
func (c *Cluster) otpName(host string, mgmtPort int) string {
	if c.opts.Host != "" || mgmtPort != c.opts.MgmtPort {
		return "ns_1@" + net.JoinHostPort(host, strconv.Itoa(mgmtPort))
	}
	return "ns_1@" + host
}

func newUUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("sim: crypto/rand: %v", err))
	}
	return hex.EncodeToString(b[:])
}
