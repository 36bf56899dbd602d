// Package admin is vbproxy's admin HTTP server and its Prometheus metrics.
//
// # Endpoints
//
//	GET  /healthz              200 "ok" while the process answers at all (liveness).
//	GET  /readyz               200 when every bucket has a vBucket map and its
//	                           listeners are serving; 503 with the reasons
//	                           otherwise, and 503 "shutting down" once draining.
//	GET  /metrics              Prometheus exposition of the private registry.
//	GET  /vbmap                The first bucket's map as JSON: bucket, revision,
//	                           epoch, source (origin), vBucket count, nodes with
//	                           address, pool state and active/replica vBucket counts.
//	     ?bucket=NAME          another bucket's map (404 for an unknown bucket);
//	     ?all=1                every bucket: {"buckets": [MapInfo, ...]};
//	     ?full=1               adds the per-vBucket table (active, replicas,
//	                           forward; node numbers index "nodes", -1 = none).
//	POST /reload               refetch the first bucket's map now and answer
//	                           {"bucket", "old_revision", "new_revision", "changed"};
//	                           502 with {"error"} when the fetch fails. ?bucket=NAME
//	                           and ?all=1 select as for /vbmap. Other methods: 405.
//	     /debug/pprof/         net/http/pprof, only with Options.Pprof.
//
// The server reads the proxy's state through small interfaces and functions
// it defines (MapProvider, Reloader, Bucket.Ready, Bucket.Nodes), so it
// depends on vbmap and memcached only; cmd/vbproxy adapts the proxy to them.
//
// # Metrics
//
// Metrics owns a private registry (never the global one) holding the
// vbproxy_* metrics, vbproxy_build_info and the Go and process collectors.
// Metric names are in base units (seconds, bytes) and label sets are bounded:
// bucket, opcode and status names from the memcached tables (anything else
// is "other"), node addresses from the map, and fixed sets of error kinds,
// map origins and connection states; never keys or client addresses.
//
// BucketMetrics is the per-bucket recorder; its methods mirror
// proxy.Observer and are called on every request, so they do not allocate:
// the children of the metric vectors are resolved once per label combination
// and cached in atomic pointers (per opcode and status, per node).
// Upstream connection gauges are read from the proxy at scrape time
// (Metrics.AddNodeSource), so they are exact.
package admin
