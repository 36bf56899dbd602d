package admin

import (
	"net/http"
	"runtime"
	"sort"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes every metric vbproxy exports.
const Namespace = "vbproxy"

// requestDurationBuckets spans a cache hit on loopback (tens of µs) to an
// operation timeout (seconds).
var requestDurationBuckets = [...]float64{
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
}

// MetricsOptions configure NewMetrics. The zero value works.
type MetricsOptions struct {
	// Version is reported by vbproxy_build_info. Default "dev".
	Version string
	// NoRuntimeCollectors leaves out the Go runtime and process collectors
	// (tests comparing exposition text use it). Default false: included.
	NoRuntimeCollectors bool
}

// Metrics owns vbproxy's private Prometheus registry and every metric in it.
// Per-bucket observers come from Bucket. Safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	ops      *opcodeIndex
	statuses *statusIndex

	requests        *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
	clientConns     *prometheus.GaugeVec
	clientAccepted  *prometheus.CounterVec
	clientRefused   *prometheus.CounterVec
	clientIn        *prometheus.CounterVec
	clientOut       *prometheus.CounterVec
	upTransitions   *prometheus.CounterVec
	upErrors        *prometheus.CounterVec
	replicaReads    *prometheus.CounterVec
	nmvbRetries     *prometheus.CounterVec
	mapRevision     *prometheus.GaugeVec
	mapEpoch        *prometheus.GaugeVec
	mapVBuckets     *prometheus.GaugeVec
	mapNodes        *prometheus.GaugeVec
	mapUpdated      *prometheus.GaugeVec
	mapUpdates      *prometheus.CounterVec
	mapFetchErrors  *prometheus.CounterVec
	reloads         *prometheus.CounterVec

	nodes     *nodesCollector
	listeners *listenersCollector

	mu      sync.Mutex
	buckets map[string]*BucketMetrics
}

// NewMetrics creates the registry and registers every vbproxy metric, the
// build info, and (unless disabled) the Go and process collectors.
func NewMetrics(o MetricsOptions) *Metrics {
	if o.Version == "" {
		o.Version = "dev"
	}
	m := &Metrics{
		reg:      prometheus.NewRegistry(),
		ops:      newOpcodeIndex(),
		statuses: newStatusIndex(),
		buckets:  make(map[string]*BucketMetrics),
	}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, labels)
		m.reg.MustRegister(v)
		return v
	}
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: name, Help: help}, labels)
		m.reg.MustRegister(v)
		return v
	}

	m.requests = counter("requests_total",
		"Client requests answered, by bucket, client protocol (binary, text, meta), opcode and the status returned to the client (quiet replies that were suppressed count too; text and meta commands count under the binary opcode they became). Unknown opcodes and statuses are \"other\".",
		"bucket", "protocol", "opcode", "status")
	m.requestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "request_duration_seconds",
		Help:    "Time from reading a client request to having its outcome ready, NOT_MY_VBUCKET retries included, by bucket, client protocol and opcode.",
		Buckets: requestDurationBuckets[:],
	}, []string{"bucket", "protocol", "opcode"})
	m.reg.MustRegister(m.requestDuration)
	m.clientConns = gauge("client_connections",
		"Client connections open now.", "bucket")
	m.clientAccepted = counter("client_connections_accepted_total",
		"Client connections accepted.", "bucket")
	m.clientRefused = counter("client_connections_refused_total",
		"Client connections refused, because limits.max_connections was reached or the proxy is shutting down.", "bucket")
	m.clientIn = counter("client_received_bytes_total",
		"Bytes read from clients.", "bucket")
	m.clientOut = counter("client_sent_bytes_total",
		"Bytes written to clients.", "bucket")
	m.upTransitions = counter("upstream_connection_transitions_total",
		"Upstream (proxy to node) connections entering a state: connecting, up or down. A rising down count means a node keeps dropping or refusing connections.",
		"bucket", "node", "state")
	m.upErrors = counter("upstream_errors_total",
		"Forwarded requests that failed without a reply from the node, by kind: timeout (no reply within upstream.operation_timeout), io (connection broke), queue_full (too many pending requests on the node), down (no connection to the node), auth (the node refused the credentials).",
		"bucket", "node", "kind")
	m.replicaReads = counter("replica_reads_total",
		"Reads answered by a replica on the node because the vBucket's active node was down, late or missing (listeners with read_replicas: on_failure), by bucket and the replica's node.",
		"bucket", "node")
	m.nmvbRetries = counter("nmvb_retries_total",
		"Requests re-sent after a node answered NOT_MY_VBUCKET (the map was out of date, usually during a rebalance or failover).", "bucket")
	m.mapRevision = gauge("map_revision",
		"Revision (rev) of the vBucket map in use; 0 until a map is loaded.", "bucket")
	m.mapEpoch = gauge("map_epoch",
		"Revision epoch (revEpoch) of the vBucket map in use.", "bucket")
	m.mapVBuckets = gauge("map_vbuckets",
		"Number of vBuckets in the map in use.", "bucket")
	m.mapNodes = gauge("map_nodes",
		"Number of KV nodes in the map in use.", "bucket")
	m.mapUpdated = gauge("map_last_update_timestamp_seconds",
		"Unix time at which the map in use was applied.", "bucket")
	m.mapUpdates = counter("map_updates_total",
		"vBucket maps applied, by where they came from: static (map file), fetch (initial fetch), stream, poll, nmvb (carried in a NOT_MY_VBUCKET reply), reload (POST /reload), cccp (GET_CLUSTER_CONFIG over KV), push (a clustermap change notification from a KV node).",
		"bucket", "origin")
	m.mapFetchErrors = counter("map_fetch_errors_total",
		"Failed attempts to fetch or stream the bucket configuration from the cluster manager.", "bucket")
	m.reloads = counter("map_reloads_total",
		"Map reloads requested through POST /reload, by result (ok or error).", "bucket", "result")

	m.nodes = newNodesCollector()
	m.reg.MustRegister(m.nodes)
	m.listeners = newListenersCollector()
	m.reg.MustRegister(m.listeners)
	m.reg.MustRegister(newUpstreamCollector(m))

	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "build_info",
		Help: "Always 1; the labels carry the vbproxy version and the Go version it was built with.",
	}, []string{"version", "goversion"})
	info.WithLabelValues(o.Version, runtime.Version()).Set(1)
	m.reg.MustRegister(info)

	if !o.NoRuntimeCollectors {
		m.reg.MustRegister(collectors.NewGoCollector())
		m.reg.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	return m
}

// Registry returns the private registry (for tests and extra collectors).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Bucket returns the metrics of one bucket, creating them on first use.
// Listeners serving the same bucket share them.
func (m *Metrics) Bucket(name string) *BucketMetrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	if b, ok := m.buckets[name]; ok {
		return b
	}
	b := newBucketMetrics(m, name)
	m.buckets[name] = b
	return b
}

// allBuckets returns every bucket's metrics, sorted by name.
func (m *Metrics) allBuckets() []*BucketMetrics {
	m.mu.Lock()
	out := make([]*BucketMetrics, 0, len(m.buckets))
	for _, b := range m.buckets {
		out = append(out, b)
	}
	m.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].bucket < out[j].bucket })
	return out
}

// AddNodeSource registers a function that reports, at scrape time, the state
// of one listener's upstream node pools. Several sources for the same bucket
// are summed.
func (m *Metrics) AddNodeSource(bucket string, fn func() []NodeStatus) {
	m.nodes.add(bucket, fn)
}
