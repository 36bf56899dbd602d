// Package admin is vbproxy's admin HTTP server and its Prometheus metrics.
//
// # Endpoints
//
//	GET  /healthz              200 "ok" while the process answers at all (liveness).
//	GET  /readyz               200 when every bucket has a vBucket map and its
//	                           listeners are serving; 503 with the reasons
//	                           otherwise, and 503 "shutting down" once draining.
//	                           Lines after the first are details that do not
//	                           change the answer: each node that is down with
//	                           its reason ("bucket "b": node h:11207 down: TLS:
//	                           certificate expired at ..."), then the
//	                           Options.Warnings as "warning: ...".
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
//	     ?config=1             re-read the config file instead (ConfigChange):
//	                           {"file", "applied": [fields], "restart_required":
//	                           [fields]}; 400 {"error", "fields": [{"field",
//	                           "error"}]} when it does not validate (nothing changed).
//	     /debug/pprof/         net/http/pprof, only with Options.Pprof.
//
// # The console
//
//	GET  /                     the operator's console: a server-rendered page
//	                           (per bucket: revision, origin, last change, the
//	                           vBucket grid, the node table, clients; recent
//	                           events; a key lookup box) that console.js keeps
//	                           live. Assets under /assets/ are embedded.
//	GET  /api/state            State: every bucket's summary, node table (state,
//	                           reason, connections, vBucket counts, requests/s,
//	                           errors/s, p50/p99 upstream latency over the last 5s,
//	                           NOT_MY_VBUCKET replies) and clients, plus the recent
//	                           events (newest first). The page polls it every second.
//	GET  /api/grid             Grid of the first bucket (?bucket=NAME another):
//	                           nodes with their colour, active/replicas/forward per
//	                           vBucket. Built once per map; fetched by the page
//	                           only when the revision changes.
//	GET  /api/key?key=K        KeyInfo: K's vBucket, active node, replicas and
//	                           forward owner in the current map (key_b64= for a
//	                           binary key, bucket= for another bucket). &probe=1
//	                           also asks the active node whether K exists, through
//	                           the proxy's connections (metadata only: CAS as a
//	                           decimal string, flags, size; never the value).
//
// Node colours come from a colour-blind-safe palette (Paul Tol's "muted")
// and stay with a node while it is in the map. Rates come from the counters
// the metrics keep, sampled once a second by one goroutine (started by
// Serve), so watching the page costs the request path nothing; serving
// /api/state for a 1024-vBucket, 8-node bucket takes about 40 allocations
// (BenchmarkAPIState), /api/grid serves a cached body.
//
// # Admin token
//
// With Options.Token (admin.token_file), POST /reload, /debug/pprof/ and
// GET /api/key?probe=1 need "Authorization: Bearer <token>", compared in
// constant time (SHA-256 of both sides); SetToken replaces it on a config
// reload. /healthz, /readyz, /metrics, /vbmap, the console and the other
// /api/ endpoints stay open, so probes and Prometheus need no secret.
//
// The server reads the proxy's state through small interfaces and functions
// it defines (MapProvider, Reloader, Bucket.Ready, Bucket.Nodes,
// Bucket.Clients, Bucket.Probe), so it depends on vbmap and memcached only;
// cmd/vbproxy adapts the proxy to them. MapChanged and RecordEvent feed the
// recent-events list.
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
// Requests carry the client's protocol (binary, text, meta:
// RequestProtocol; Request counts binary). Reads answered by replicas are
// counted per node (ReplicaRead). Upstream connection gauges are read from
// the proxy at scrape time (Metrics.AddNodeSource), so they are exact; so
// are the listeners' admission counters (Metrics.AddListenerSource: PROXY
// headers, refusals by a fixed set of reasons, handshakes in progress, the
// served certificate's expiry and its reloads), labelled by bucket and the
// listener's bound address. Per-node request counts,
// NOT_MY_VBUCKET replies and the upstream latency histogram
// (BucketMetrics.UpstreamRequest) are plain atomics exposed by a collector
// at scrape time and read by the console's sampler.
package admin
