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
//     /controller/rebalance, /controller/failOver) plus simulator-only
//     /sim/pause, /sim/resume and /sim/addNode;
//   - a KV service speaking the memcached binary protocol as Couchbase does:
//     HELLO, SASL (PLAIN, SCRAM-SHA1/256/512), SELECT_BUCKET, per-vBucket
//     ownership with NOT_MY_VBUCKET carrying the node's current config, the
//     full key-value command set with memcached semantics, GET_REPLICA,
//     GET_CLUSTER_CONFIG, STAT, FLUSH (when allowed).
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
