package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/vbproxy/vbproxy/bench"
)

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vbbench run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c bench.Config
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:11211", "target `host:port`")
	fs.StringVar(&c.Protocol, "protocol", bench.ProtocolBinary, "wire protocol: binary or ascii")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "measured phase length (unless -ops is set)")
	fs.Int64Var(&c.Ops, "ops", 0, "measure this many operations instead of a duration")
	fs.DurationVar(&c.Warmup, "warmup", time.Second, "unrecorded run before measuring (after populating the keys)")
	fs.IntVar(&c.Conns, "conns", 16, "connections, one goroutine each")
	fs.IntVar(&c.Pipeline, "pipeline", 1, "requests in flight per connection")
	fs.Float64Var(&c.Ratio, "ratio", 0.9, "fraction of operations that are gets (the rest are sets)")
	fs.IntVar(&c.Keys, "keys", 100000, "number of distinct keys")
	fs.StringVar(&c.Dist, "dist", bench.DistUniform, "key distribution: uniform or zipfian")
	fs.IntVar(&c.ValueSize, "value-size", 100, "value size in bytes")
	fs.StringVar(&c.Prefix, "prefix", "vbbench:", "key prefix")
	fs.BoolVar(&c.NoPopulate, "no-populate", false, "do not store every key before the run")
	fs.DurationVar(&c.Timeout, "timeout", 5*time.Second, "dial and reply timeout")
	fs.Uint64Var(&c.Seed, "seed", 1, "random seed")
	fs.StringVar(&c.TLSCAFile, "tls-ca", "", "connect over TLS, trusting the PEM CA certificates in `file`")
	fs.StringVar(&c.TLSServerName, "tls-server-name", "", "with -tls-ca: the `name` the server certificate must carry (default: the host of -addr)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "vbbench: unexpected arguments %q\n", fs.Args())
		return exitUsage
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["ops"] {
		if set["duration"] {
			fmt.Fprintln(stderr, "vbbench: set -duration or -ops, not both")
			return exitUsage
		}
		c.Duration = 0
	}
	if c.Ops == 0 && c.Duration == 0 {
		fmt.Fprintln(stderr, "vbbench: -duration must be positive (or set -ops)")
		return exitUsage
	}
	c.RatioSet = true
	// Validate the flags as given: bench.Config treats zero as "default",
	// but an explicit -conns 0 is a mistake to report, not to fix.
	if err := c.Validate(); err != nil {
		fmt.Fprintf(stderr, "vbbench: %v\n", err)
		return exitUsage
	}
	for _, bad := range []struct {
		zero bool
		msg  string
	}{
		{c.ValueSize == 0, "-value-size must be at least 1"},
		{c.Prefix == "", "-prefix must not be empty"},
		{c.Timeout <= 0, "-timeout must be positive"},
	} {
		if bad.zero {
			fmt.Fprintf(stderr, "vbbench: %s\n", bad.msg)
			return exitUsage
		}
	}
	res, err := bench.Run(ctx, c)
	if err != nil {
		fmt.Fprintf(stderr, "vbbench: %v\n", err)
		return exitFail
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		if err := enc.Encode(res); err != nil {
			fmt.Fprintf(stderr, "vbbench: %v\n", err)
			return exitFail
		}
		return exitOK
	}
	if err := res.WriteText(stdout); err != nil {
		fmt.Fprintf(stderr, "vbbench: %v\n", err)
		return exitFail
	}
	return exitOK
}
