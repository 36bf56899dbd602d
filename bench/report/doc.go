// Package report renders the results of scripts/bench-compare.sh as
// BENCHMARKS.md and an SVG chart.
//
// The script appends one JSON record per line to a results file (see
// Record): a vbbench run (kind "vbbench", the bench.Result of one round at
// one point against one target), a memcaslap run (kind "memcaslap"), a memory
// measurement (kind "memory") or a fact about the machine or the setup (kind
// "meta"). Read parses and checks the file; Aggregate groups the rounds:
// throughput is the median over rounds, latency percentiles come from the
// rounds' HDR histograms merged, errors and misses are summed. Markdown
// writes the report, keeping the hand-written notes section of the previous
// BENCHMARKS.md; SVG draws throughput and p99 latency against connections,
// one line per target and pipeline depth. When the run had a baseline (target
// "vbproxy-baseline": vbproxy built at another revision, `make bench-ab`),
// the report adds an A/B table of vbproxy over its baseline; when it had a
// TLS target ("vbproxy-tls": the same vbproxy through its TLS listener), a
// table of client TLS over the plain path at every point both ran. Nothing here
// plots with external tools, and every number in the report comes from the
// records.
package report
