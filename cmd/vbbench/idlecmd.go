package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/vbproxy/vbproxy/bench"
)

// runIdle opens idle connections, prints "ready N" and holds them until the
// hold time passes or the process is interrupted (SIGINT, SIGTERM).
func runIdle(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vbbench idle", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o bench.IdleOptions
	fs.StringVar(&o.Addr, "addr", "127.0.0.1:11211", "target `host:port`")
	fs.IntVar(&o.Conns, "conns", 1000, "connections to open")
	fs.StringVar(&o.Protocol, "protocol", bench.ProtocolBinary, "protocol of the touch request: binary or ascii")
	fs.BoolVar(&o.Touch, "touch", false, "do one get on each connection before idling")
	fs.DurationVar(&o.Timeout, "timeout", 5*time.Second, "dial and touch timeout")
	hold := fs.Duration("hold", 2*time.Minute, "how long to hold the connections")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if *hold <= 0 {
		fmt.Fprintln(stderr, "vbbench idle: -hold must be positive")
		return exitUsage
	}
	ic, err := bench.HoldIdle(ctx, o)
	if err != nil {
		fmt.Fprintf(stderr, "vbbench idle: %v\n", err)
		return exitFail
	}
	defer ic.Close()
	fmt.Fprintf(stdout, "ready %d\n", ic.Len())
	t := time.NewTimer(*hold)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	return exitOK
}
