package admin

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/vbproxy/vbproxy/memcached"
	"github.com/vbproxy/vbproxy/vbmap"
)

// BucketMetrics records the metrics of one bucket. Its methods mirror
// proxy.Observer (cmd/vbproxy adapts the event types) and do not allocate
// once a label combination has been seen: children of the metric vectors are
// resolved on first use and cached in atomic pointers.
type BucketMetrics struct {
	m      *Metrics
	bucket string

	nOps, nStatus int
	requests      []atomic.Pointer[counterRef]  // [(protocol * nOps + opcode index) * nStatus + status index]
	duration      []atomic.Pointer[observerRef] // [protocol * nOps + opcode index]

	conns    prometheus.Gauge
	accepted prometheus.Counter
	refused  prometheus.Counter
	bytesIn  prometheus.Counter
	bytesOut prometheus.Counter
	nmvb     prometheus.Counter

	fetchErrors prometheus.Counter
	revision    prometheus.Gauge
	epoch       prometheus.Gauge
	vbuckets    prometheus.Gauge
	nodeCount   prometheus.Gauge
	updated     prometheus.Gauge
	updates     [len(mapOrigins)]prometheus.Counter

	nodesMu sync.Mutex                                  // serializes writers of nodes
	nodes   atomic.Pointer[map[string]*upstreamMetrics] // copy on write
}

type counterRef struct{ c prometheus.Counter }

type observerRef struct{ o prometheus.Observer }

// upstreamMetrics are the pre-resolved children of one node.
type upstreamMetrics struct {
	transitions  [numUpstreamStates]prometheus.Counter
	errors       [len(errorKinds)]prometheus.Counter
	replicaReads prometheus.Counter
	stats        nodeStats
}

func newBucketMetrics(m *Metrics, bucket string) *BucketMetrics {
	nOps, nStatus := len(m.ops.names), len(m.statuses.names)
	b := &BucketMetrics{
		m:        m,
		bucket:   bucket,
		nOps:     nOps,
		nStatus:  nStatus,
		requests: make([]atomic.Pointer[counterRef], int(numProtocols)*nOps*nStatus),
		duration: make([]atomic.Pointer[observerRef], int(numProtocols)*nOps),

		conns:    m.clientConns.WithLabelValues(bucket),
		accepted: m.clientAccepted.WithLabelValues(bucket),
		refused:  m.clientRefused.WithLabelValues(bucket),
		bytesIn:  m.clientIn.WithLabelValues(bucket),
		bytesOut: m.clientOut.WithLabelValues(bucket),
		nmvb:     m.nmvbRetries.WithLabelValues(bucket),

		fetchErrors: m.mapFetchErrors.WithLabelValues(bucket),
		revision:    m.mapRevision.WithLabelValues(bucket),
		epoch:       m.mapEpoch.WithLabelValues(bucket),
		vbuckets:    m.mapVBuckets.WithLabelValues(bucket),
		nodeCount:   m.mapNodes.WithLabelValues(bucket),
		updated:     m.mapUpdated.WithLabelValues(bucket),
	}
	for i, o := range mapOrigins {
		b.updates[i] = m.mapUpdates.WithLabelValues(bucket, o)
	}
	for _, result := range []string{"ok", "error"} {
		m.reloads.WithLabelValues(bucket, result) // exported at 0 from the start
	}
	empty := map[string]*upstreamMetrics{}
	b.nodes.Store(&empty)
	return b
}

// Name returns the bucket label value.
func (b *BucketMetrics) Name() string { return b.bucket }

// Request records one client-visible outcome of a binary-protocol request
// (proxy.Observer.Request, which carries no protocol).
func (b *BucketMetrics) Request(op memcached.Opcode, status memcached.Status, d time.Duration) {
	b.RequestProtocol(ProtocolBinary, op, status, d)
}

// RequestProtocol records one client-visible request outcome of a client
// speaking protocol p (proxy.ProtocolObserver; text and meta commands are
// counted under the binary opcode they were translated to).
func (b *BucketMetrics) RequestProtocol(p Protocol, op memcached.Opcode, status memcached.Status, d time.Duration) {
	if p >= numProtocols {
		p = ProtocolOther
	}
	oi := b.m.ops.of(op)
	si := b.m.statuses.of(status)
	di := int(p)*b.nOps + oi
	i := di*b.nStatus + si
	c := b.requests[i].Load()
	if c == nil {
		c = &counterRef{b.m.requests.WithLabelValues(b.bucket, protocolNames[p], b.m.ops.names[oi], b.m.statuses.names[si])}
		b.requests[i].Store(c)
	}
	c.c.Inc()
	h := b.duration[di].Load()
	if h == nil {
		h = &observerRef{b.m.requestDuration.WithLabelValues(b.bucket, protocolNames[p], b.m.ops.names[oi])}
		b.duration[di].Store(h)
	}
	h.o.Observe(d.Seconds())
}

// ReplicaRead records a read that a replica on node answered because its
// active node had failed (proxy.ReplicaObserver).
func (b *BucketMetrics) ReplicaRead(node string) { b.node(node).replicaReads.Inc() }

// ClientConn records a client connection event.
func (b *BucketMetrics) ClientConn(ev ConnEvent) {
	switch ev {
	case ConnAccepted:
		b.accepted.Inc()
		b.conns.Inc()
	case ConnClosed:
		b.conns.Dec()
	case ConnRefused:
		b.refused.Inc()
	}
}

// UpstreamConn records an upstream connection entering state (an unknown
// state is ignored).
func (b *BucketMetrics) UpstreamConn(node string, state UpstreamState) {
	if state < numUpstreamStates {
		b.node(node).transitions[state].Inc()
	}
}

// UpstreamError records a forwarded request that failed without a reply;
// kind is "timeout", "io", "queue_full", "down" or "auth" (anything else
// counts as "other").
func (b *BucketMetrics) UpstreamError(node, kind string) {
	n := b.node(node)
	n.errors[errorKindIndex(kind)].Inc()
	n.stats.errors.Add(1)
}

// NMVBRetry records a request re-sent after NOT_MY_VBUCKET.
func (b *BucketMetrics) NMVBRetry() { b.nmvb.Inc() }

// Bytes records client bytes read (in) and written (out).
func (b *BucketMetrics) Bytes(in, out int) {
	if in > 0 {
		b.bytesIn.Add(float64(in))
	}
	if out > 0 {
		b.bytesOut.Add(float64(out))
	}
}

// MapApplied records a newly applied map (use it from vbmap.Source.Subscribe).
func (b *BucketMetrics) MapApplied(m *vbmap.Map) {
	if m == nil {
		return
	}
	for i, o := range mapOrigins {
		if o == originLabel(m.Origin()) {
			b.updates[i].Inc()
			break
		}
	}
	for _, n := range m.Nodes() {
		b.node(n.Addr) // every node's series exist (at 0) from the map on
	}
	r := m.Revision()
	b.revision.Set(float64(r.Rev))
	b.epoch.Set(float64(r.Epoch))
	b.vbuckets.Set(float64(m.NumVBuckets()))
	b.nodeCount.Set(float64(len(m.Nodes())))
	b.updated.SetToCurrentTime()
}

// FetchError records a failed config fetch; its signature matches
// vbmap.SourceOptions.OnFetchError. The URL is not used as a label.
func (b *BucketMetrics) FetchError(url string, err error) { b.fetchErrors.Inc() }

// Reload records the result of a POST /reload.
func (b *BucketMetrics) reload(ok bool) {
	result := "ok"
	if !ok {
		result = "error"
	}
	b.m.reloads.WithLabelValues(b.bucket, result).Inc()
}

// node returns the cached children of node, creating them once. Reads are
// one atomic load and a map lookup (no allocation).
func (b *BucketMetrics) node(addr string) *upstreamMetrics {
	if n, ok := (*b.nodes.Load())[addr]; ok {
		return n
	}
	b.nodesMu.Lock()
	defer b.nodesMu.Unlock()
	old := *b.nodes.Load()
	if n, ok := old[addr]; ok {
		return n
	}
	n := &upstreamMetrics{}
	for i, state := range upstreamStateNames {
		n.transitions[i] = b.m.upTransitions.WithLabelValues(b.bucket, addr, state)
	}
	for i, k := range errorKinds {
		n.errors[i] = b.m.upErrors.WithLabelValues(b.bucket, addr, k)
	}
	n.replicaReads = b.m.replicaReads.WithLabelValues(b.bucket, addr)
	next := make(map[string]*upstreamMetrics, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[addr] = n
	b.nodes.Store(&next)
	return n
}
