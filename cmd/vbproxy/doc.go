// Command vbproxy lets plain memcached binary-protocol clients use Couchbase
// buckets through one address per bucket. It follows each bucket's vBucket
// map (over the nodes' data ports, with pushed changes, and from the
// cluster manager's stream: cluster.config_source), hashes every key to its
// vBucket and forwards the request to the node that owns it.
//
// Usage:
//
//	vbproxy -config vbproxy.yaml
//	vbproxy -listen 127.0.0.1:11211 -cluster http://127.0.0.11:8091 -bucket default \
//	        -user Administrator -password-file FILE -admin 127.0.0.1:8080
//	vbproxy -listen 127.0.0.1:11211 -map map.json        # static map, plain memcached nodes
//	vbproxy -check-config vbproxy.yaml                   # "config OK", or every error; exit 0/2
//	vbproxy -version
//
// The configuration is YAML (vbproxy.example.yaml at the repository root
// documents every field and default; unknown keys are errors). Flags
// override the file: -listen and -bucket set the first listener, and make it
// when there is no -config; -allow-flush and -proxy-protocol set every
// listener (-proxy-protocol as proxy_protocol optional trusting every
// source, with a warning); -cluster (repeatable, or comma-separated) and
// -map replace the map source; -cluster-ca-file turns cluster TLS on. Passwords come only from files or environment variables.
//
// Wiring: per distinct bucket one vbmap.Source and one proxy.Server, whose
// event loops and upstream connections the bucket's listeners share
// (ServeListener with each listener's proxy.Listener: protocols,
// collection, read_replicas, users, flush); per listener that reads PROXY
// headers or speaks TLS one edge.Edge (closed after the drain); one admin
// server (admin package: /healthz, /readyz, /metrics, /vbmap, /reload, the
// console, optional /debug/pprof/) with a private Prometheus registry. The
// observer type adapts the admin metrics to proxy.Observer (and its
// optional ProtocolObserver and ReplicaObserver); listenerStats adapts each
// edge's counters. cluster.tls (or https seeds) gives one base tls.Config
// to the map source and to every node connection.
//
// Lifecycle: all addresses are bound before anything serves (a busy port
// fails the start). SIGINT or SIGTERM turns /readyz to 503 "shutting down",
// stops the listeners and lets in-flight requests finish within
// shutdown.drain_timeout, then stops the map sources and the admin server
// and exits 0. A second signal kills the process at once. A map source that
// gives up (wrong credentials or bucket on every seed) or a listener that
// fails stops the process with exit status 1; bad flags or configuration
// exit 2.
package main
