// Package sim is a simulated Couchbase cluster: the test oracle for everything
// Couchbase-specific in vbproxy, the cluster behind `make run`, and (through
// cmd/cbsim) a tool to try vbproxy without a real cluster.
//
// A Cluster is a set of Nodes. Each node serves
//
//   - a cluster manager over HTTP (Basic auth): /pools, /pools/default,
//     /pools/default/buckets/<b> (full config), /pools/default/b/<b> (terse,
//     with $HOST for the answering node), the streaming forms
//     /pools/default/bs/<b> and /pools/default/bucketsStreaming/<b>, and
//     Couchbase's own topology REST calls (/controller/addNode,
//     /controller/rebalance, /controller/failOver), the scopes and
//     collections API (/pools/default/buckets/<b>/scopes...), plus
//     simulator-only /sim/pause, /sim/resume, /sim/addNode, /sim/streams,
//     /sim/push and /sim/switches;
//   - a KV service speaking the memcached binary protocol as Couchbase does:
//     HELLO with kv_engine's feature negotiation (Duplex, clustermap change
//     notifications full and brief, Collections, known-version config
//     fetches, NMVB config dedupe), SASL (PLAIN, SCRAM-SHA1/256/512),
//     SELECT_BUCKET, per-vBucket ownership with NOT_MY_VBUCKET carrying the
//     node's current config, the full key-value command set with memcached
//     semantics, GET_REPLICA on replica copies, GET_CLUSTER_CONFIG (with
//     known-version extras; the global config without a bucket),
//     GET_COLLECTION_ID, STAT, FLUSH (when allowed).
//
// Config changes are pushed to connections that negotiated Duplex and a
// notification mode (kv_push.go): a server request (magic 0x82, opcode 0x01)
// between two replies, for every published revision the connection has not
// seen. Each bucket has a collections manifest (manifest.go, collections.go):
// with Collections negotiated, document keys carry a LEB128 collection ID,
// validated as kv_engine validates it, and documents are kept per
// collection.
//
// Run-time switches (switches.go) cover the failures a client must survive:
// SetMgmtReachable (cluster managers reset connections while KV stays up;
// ControlHandler keeps a control API reachable), SetStreamsStalled (config
// streams open but silent) and SetClustermapPush.
//
// Every node holds its own copy of the vBuckets it owns as active or
// replica. Mutations apply to the active copy and, under the same per-vBucket
// lock, synchronously to the replica copies, so a failover that promotes a
// replica keeps every acknowledged write. A rebalance moves vBuckets a batch
// at a time: it publishes vBucketMapForward, then for each batch locks the
// vBuckets, copies them to their new owners, switches ownership and publishes
// a new revision before unlocking; a write that reaches the old owner after
// the switch gets NOT_MY_VBUCKET with the new config.
//
// Key commands follow memcached semantics (the tests compare them with a
// real memcached and run memccapable), except where Couchbase differs:
// TOUCH replies carry no flags, DELETE replies carry a CAS
// (Options.ZeroDeleteCAS for memcached's 0), miss and exists errors have no
// body, FLUSH needs Options.AllowFlush. README.md lists the details and the
// curl lines for every topology change.
//
// Node identity follows Couchbase: otpNode "ns_1@<host>". When nodes share a
// host (Options.Host, used by tests with ephemeral ports), the identity is
// "ns_1@<host>:<mgmt port>".
package sim
