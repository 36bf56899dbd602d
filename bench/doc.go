// Package bench is a load generator for memcached-protocol servers: memcached
// itself, vbproxy, and peers such as twemproxy.
//
// Run drives one target with a closed-loop workload: Config.Conns
// connections, each served by one goroutine that keeps up to Config.Pipeline
// requests in flight, writing each batch with one syscall and reading the
// replies in order. The workload is a mix of GET and SET (Config.Ratio is the
// fraction of gets) over Config.Keys keys drawn uniformly or from a zipfian
// distribution (YCSB's generator, theta 0.99), with fixed-size values.
//
// Before measuring, every key is stored once (so that gets hit), then the
// workload runs unrecorded for Config.Warmup. The measured phase lasts
// Config.Duration, or until Config.Ops operations completed. Latency is the
// time from the write of a request's batch to the read of its reply, recorded
// in an HDR histogram (github.com/HdrHistogram/hdrhistogram-go, nanoseconds,
// 3 significant digits). Misses and errors are counted, errors by kind (the
// status name for a binary error reply, the reply's first word for ASCII,
// "io", "timeout", "protocol", "connect" for transport failures): nothing is
// hidden.
//
// Both protocols are spoken: "binary" (the memcached binary protocol, built
// with package memcached) and "ascii" (the text protocol, for peers such as
// twemproxy that speak only it).
//
// Either runs over TLS when Config.TLSCAFile names the CA bundle to trust
// (vbbench -tls-ca): each connection does its handshake when it is opened,
// before the populate and measured phases, so the numbers are those of
// established TLS connections; a reconnect resumes its session.
//
// Result renders as a human table (Result.WriteText) and as JSON (the
// struct's fields, including the histogram in HdrHistogram's V2 compressed
// encoding so that reports can merge rounds). HoldIdle opens many idle
// connections, for memory-per-connection measurements.
//
// Package bench/mctest starts real memcached servers for tests. Package
// bench/report turns the results of scripts/bench-compare.sh into
// BENCHMARKS.md and an SVG chart.
package bench
