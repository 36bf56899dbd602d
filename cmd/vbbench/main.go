// Command vbbench is a load generator for memcached-protocol servers
// (memcached, vbproxy, twemproxy) and the renderer of BENCHMARKS.md.
//
//	vbbench [run] -addr 127.0.0.1:11211 -conns 16 -pipeline 8 -duration 10s [-json]
//	vbbench idle -addr 127.0.0.1:11211 -conns 10000 -touch -hold 2m
//	vbbench report -results results.jsonl -out BENCHMARKS.md -svg bench.svg
//
// See package bench for the workload model and bench/report for the report.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "run":
			return runBench(ctx, args[1:], stdout, stderr)
		case "idle":
			return runIdle(ctx, args[1:], stdout, stderr)
		case "report":
			return runReport(args[1:], stdout, stderr)
		case "help", "-h", "-help", "--help":
			fmt.Fprint(stdout, usage)
			return exitOK
		}
	}
	return runBench(ctx, args, stdout, stderr)
}

const usage = `vbbench: load generator for memcached-protocol servers

Usage:
  vbbench [run] [flags]      drive a target and report throughput and latency
  vbbench idle [flags]       open many idle connections and hold them
  vbbench report [flags]     render BENCHMARKS.md from bench-compare results

Run "vbbench <command> -h" for a command's flags.
`
