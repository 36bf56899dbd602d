// Command vbsoak runs the soak (fault/soak): vbproxy, built from this tree,
// in front of a simulated cluster whose nodes live in network namespaces,
// under mixed client load while the topology changes and faults come every
// few seconds. It prints the report; its last line is the verdict, and it
// exits 1 unless it is PASS. It needs root (network namespaces); `make
// soak` runs it for SOAK (10m by default).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/vbproxy/vbproxy/fault"
	"github.com/vbproxy/vbproxy/fault/soak"
	"github.com/vbproxy/vbproxy/internal/netns"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "vbsoak:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("vbsoak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o soak.Options
	var out string
	fs.DurationVar(&o.Duration, "duration", 10*time.Minute, "how long to run")
	fs.IntVar(&o.Clients, "clients", soak.DefaultClients, "binary-protocol clients")
	fs.IntVar(&o.TextClients, "text-clients", soak.DefaultTextClients, "text-protocol clients (classic get/gets/set/cas/incr/delete)")
	fs.DurationVar(&o.FaultGap, "fault-gap", 4*time.Second, "mean time between topology changes and faults")
	fs.Uint64Var(&o.Seed, "seed", 0, "random seed of the workload and the driver (0: from the clock)")
	fs.StringVar(&out, "report", "", "also write the report to this `file`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if o.Clients < 0 || o.TextClients < 0 || o.Clients+o.TextClients == 0 {
		return fmt.Errorf("-clients %d, -text-clients %d: want at least one client and no negative count", o.Clients, o.TextClients)
	}
	dir, err := os.MkdirTemp("", "vbsoak-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if o.Bin, err = fault.Build(dir); err != nil {
		return err
	}
	o.Dir = dir
	lab, err := netns.Open()
	if err != nil {
		return err
	}
	defer lab.Close()
	w := stdout
	var f *os.File
	if out != "" {
		if f, err = os.Create(out); err != nil {
			return err
		}
		defer f.Close()
		w = io.MultiWriter(stdout, f)
	}
	o.Out = w
	res, err := soak.Run(lab, o)
	if err != nil {
		return err
	}
	if !res.Pass {
		return errors.New("soak failed (see the report above)")
	}
	return nil
}
