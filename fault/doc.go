// Package fault runs vbproxy against faults as they happen in production and
// checks its promises (docs/reliability.md lists them with the figures of the
// last run). The package's own code is the harness the tests and the soak
// (fault/soak, cmd/vbsoak) share:
//
//   - Env (env.go) is a lab of network namespaces (internal/netns) with one
//     simulated Couchbase node per namespace (sim, through sim.Options.Listen),
//     a namespace for the proxy and one for the clients, all on
//     198.18.0.0/15 and joined by a bridge.
//   - Proxy (vbproxy.go) is the real vbproxy binary, built from this tree by
//     Build and run inside its namespace from a YAML file ProxyConfig writes;
//     it can be killed and restarted, and its CPU time, memory and open
//     descriptors are read from /proc (procstat.go).
//   - Client (client.go) is a small binary-protocol client that dials from a
//     namespace; Latencies (latency.go) collects request times.
//   - Toxic (toxic.go) runs github.com/Shopify/toxiproxy/v2's toxics in
//     process, between two namespaces: latency, jitter, bandwidth, slow
//     closes, which this kernel cannot give (it has no netem qdisc).
//   - Report (report.go) appends each test's figures to a file (the
//     -fault.report flag of the tests, or FAULT_REPORT), from which
//     docs/reliability.md quotes them.
//
// Everything needs root and network namespaces; the tests skip (saying so)
// only where the kernel refuses namespaces.
package fault
