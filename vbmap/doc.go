// Package vbmap owns the Couchbase vBucket map: it parses bucket configs served
// by the cluster manager (port 8091) or by the KV nodes (CCCP, port 11210),
// hashes keys to vBuckets, and keeps a live, immutable snapshot of the map
// fresh.
//
// # The map
//
// A *Map is an immutable snapshot of one bucket config: the number of vBuckets
// (taken from the config, never assumed), the KV nodes in serverList order, and
// for each vBucket the active node, its replicas and, during a rebalance, the
// forward owner. Parse validates everything once (hash algorithm, indexes,
// shape), so a Map that exists is valid and lookups need no checks:
//
//	vb, node := m.Route(key) // one CRC32, two array loads, no allocation
//	addr := m.Nodes()[node].Addr
//
// Keys hash as ((crc32.ChecksumIEEE(key) >> 16) & 0x7fff) % NumVBuckets().
//
// # Networks
//
// A config names each node on the cluster's own network ("default") and
// optionally on alternate networks (nodesExt[].alternateAddresses), used by
// clients outside a Kubernetes pod network. ParseOptions.Network selects
// "default", "external", or "auto" (the network whose hostname equals the host
// the config came from, as the Couchbase SDKs do).
//
// # TLS
//
// ParseOptions.TLS selects the TLS ports, as clients of a cluster with
// "strict" encryption or Capella need: Node.Addr uses the node's nodesExt
// "kvSSL" port (11207 by default) and Node.MgmtURL is https with "mgmtSSL"
// (18091); under an alternate network, the alternate address's ports where
// it lists them. The vBucketServerMap.serverList holds plain ports only, so
// each entry "host:port" is matched to the nodesExt entry whose hostname
// (the source host for an entry without one, or with $HOST) equals host,
// case-insensitively and without IPv6 brackets, and whose services.kv
// equals port; failing that, whose services.kvSSL equals port (a
// serverList that already lists TLS ports). Under TLS a config without
// nodesExt, a serverList entry that matches no nodesExt entry, or a KV node
// without a kvSSL port is an error naming the field
// ("vbmap: nodesExt[2].services.kvSSL: missing (cluster.tls is enabled)"):
// falling back to a plain port would send traffic in clear.
//
// A Source uses TLS when its seeds are https (mixing http and https seeds
// is an error) or SourceOptions.TLS is set; SourceOptions.TLSConfig sets the
// CA pool and client certificate of the default HTTP client. A certificate
// that fails verification is ErrCertificate, with the crypto/x509 error in
// the chain.
//
// # The source
//
// A *Source publishes the current Map through an atomic pointer: Current is one
// atomic load and takes no lock. Run follows the cluster manager's streaming
// endpoint (/pools/default/bs/<bucket>, falling back to
// /pools/default/bucketsStreaming/<bucket>), polls the terse and full endpoints
// when streaming is unavailable, reconnects with capped, jittered exponential
// backoff, and rotates through the seeds and through the management URLs of
// the nodes in the latest config so that losing a seed loses nothing.
//
// Every new config, whether streamed, polled, fetched on demand (Refresh),
// fetched or pushed over KV, or carried in a NOT_MY_VBUCKET reply (Offer),
// goes through one apply path that
// orders configs by (revEpoch, rev): an older or equal config is ignored. A
// config without rev is unversioned and is applied when its map differs from
// the current one. Subscribers are called serially after each applied change.
//
// A static source (SourceOptions.MapFile) serves a config JSON file in the
// same format, for clusters of plain memcached servers and for tests.
//
// # Config over KV
//
// As the Couchbase SDKs do, a Source can also follow the config over the
// data port (CCCP): one config connection at a time, to a KV seed or a
// node of the current map, bootstrapped by internal/kvconn (SASL,
// SELECT_BUCKET) with HELLO features XERROR, SELECT_BUCKET, Duplex,
// GetClusterConfigWithKnownVersion and clustermap change notifications
// (brief and full are both asked for; a node that offers brief enables only
// brief, an older one full). On it:
//
//   - GET_CLUSTER_CONFIG fetches the config (origin "cccp"); $HOST and
//     nodes without a hostname stand for the node dialled. Later requests
//     carry the (epoch, rev) this node last told of as 16 bytes of extras
//     when the node negotiated the known version (epoch -1 for a config
//     without revEpoch), and an empty reply means nothing changed.
//   - A push (magic 0x82, opcode 0x01, key = the bucket) is applied at once
//     (origin "push"): in full mode its value is the config; in brief mode
//     a revision newer than the node told of is fetched with the known
//     version (after the request in flight, if any). Pushes for other
//     buckets, older revisions and other server requests are ignored; none
//     is answered. The reader tells server requests from replies by their
//     magic before anything is matched, so a push between a request and its
//     reply never disturbs reply matching; a reply that answers no request
//     in flight drops the connection.
//   - A revision check (GET_CLUSTER_CONFIG with the known version) runs
//     every ConfigCheckInterval (2.5s, as gocbcore polls) so that the map
//     stays fresh when no push comes.
//
// A node that does not answer within KVTimeout (3s), closes the
// connection, or falls silent (below) is left for the next seed or node of
// the rotation, after the jittered backoff.
//
// SourceOptions.ConfigSource chooses the sources. "http" follows the
// cluster manager only (and refuses KV seeds). "cccp" follows the config
// connection only; without KV seeds one config is fetched over HTTP to
// learn the KV nodes. "auto" (the default) starts the config connection at
// once when there are KV seeds (couchbase://host, couchbases://host for
// TLS, host:11210), or as soon as an applied map's bucketCapabilities list
// "cccp", and keeps the HTTP stream beside it (from the HTTP seeds, or from
// the nodes' cluster manager URLs once a map is known), so either source
// can fail without the map going stale. A proxy whose network reaches only
// the data ports works with KV seeds: the HTTP stream then keeps failing in
// the background (logged once per run of failures). Both sources feed the
// one apply path, which orders configs by revision. Fallback is the SDKs':
// when every node answers GET_CLUSTER_CONFIG with NOT_SUPPORTED,
// UNKNOWN_COMMAND, KEY_ENOENT or NO_BUCKET (or is plain memcached), auto
// stays on the HTTP stream and tries CCCP again with the first newer map
// listing "cccp" that the stream brings at least MaxBackoff later; in cccp
// mode,
// Run gives up if that happens before the first map. Memcached (ketama)
// buckets are refused by every source (ErrMemcachedBucket).
//
// # Silent sources
//
// An HTTP stream or a config connection can stay open and deliver nothing.
// The Source tracks the newest revision it knows exists (every applied map,
// whatever its origin: the other source, a NOT_MY_VBUCKET body offered by
// the proxy, a pushed revision) and, for each source, the newest revision
// that source told of. A source that is behind the known revision and has
// told of nothing newer for SilentInterval (default 5s) is restarted on the
// next seed or node (ErrSilent is reported through OnFetchError). The
// check runs every SilentInterval/4, so the restart comes within 1.25 x
// SilentInterval of the source falling behind (or of its last advance,
// whichever is later); with the default, within 6.25s. The map itself
// does not wait for it: the other source, pushes and NOT_MY_VBUCKET bodies
// are applied as they come.
package vbmap
