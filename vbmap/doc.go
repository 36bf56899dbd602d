// Package vbmap owns the Couchbase vBucket map: it parses bucket configs served
// by the cluster manager (port 8091), hashes keys to vBuckets, and keeps a live,
// immutable snapshot of the map fresh.
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
// Every new config, whether streamed, polled, fetched on demand (Refresh) or
// carried in a NOT_MY_VBUCKET reply (Offer), goes through one apply path that
// orders configs by (revEpoch, rev): an older or equal config is ignored. A
// config without rev is unversioned and is applied when its map differs from
// the current one. Subscribers are called serially after each applied change.
//
// A static source (SourceOptions.MapFile) serves a config JSON file in the
// same format, for clusters of plain memcached servers and for tests.
package vbmap
