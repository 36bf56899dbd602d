// Package soak runs vbproxy for a long time under mixed client load while a
// driver changes the cluster's topology and injects faults, and checks that
// no acknowledged write is lost and no read is stale. cmd/vbsoak and
// `make soak` run it; its test runs a 60-second version in `make test`.
//
// Every client owns its keys (it is their only writer), so the checker
// (checker.go) knows exactly the last acknowledged write of every key and
// which writes have an unknown outcome (no reply): a read must return the
// former or one of the latter, never anything older, and so must the
// cluster's own copy at the end.
//
// Clients speak either protocol to the same proxy port: binary ones through
// fault.Client, text ones through textConn (classic get, gets, set, cas,
// incr, add and delete, replies parsed exactly and mapped to the binary
// statuses), so the checker holds both to the same rules.
package soak

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vbproxy/vbproxy/fault"
	"github.com/vbproxy/vbproxy/internal/netns"
)

// Default client mix: 64 clients, half of them binary, half text.
const (
	DefaultClients     = 32
	DefaultTextClients = 32
)

// Options configure a soak run. The zero value runs 60 s with 64 clients,
// 32 binary and 32 text.
type Options struct {
	Duration time.Duration // default 60 s
	// Clients and TextClients are the binary-protocol and text-protocol
	// clients. Both 0: DefaultClients and DefaultTextClients; otherwise as
	// given (Clients 0 with TextClients 16 runs 16 text clients only).
	Clients     int
	TextClients int
	// FaultGap is the mean time between topology changes; default 4 s.
	FaultGap time.Duration
	Seed     uint64 // 0 = from the clock
	Bin      string // the vbproxy binary; required (fault.Build)
	Dir      string // config and log files; required
	Out      io.Writer
}

// Result sums a run up.
type Result struct {
	Ops        int
	Errors     int
	Lost       int // lost acknowledged writes
	Stale      int // stale reads
	Violations []Violation
	Pass       bool
}

// Run builds an Env in lab, runs the soak and writes the report to o.Out;
// its last line says PASS or FAIL.
func Run(lab *netns.Lab, o Options) (Result, error) {
	if o.Duration <= 0 {
		o.Duration = 60 * time.Second
	}
	if o.Clients < 0 || o.TextClients < 0 {
		return Result{}, fmt.Errorf("soak: clients %d, text clients %d: want 0 or more", o.Clients, o.TextClients)
	}
	if o.Clients == 0 && o.TextClients == 0 {
		o.Clients, o.TextClients = DefaultClients, DefaultTextClients
	}
	if o.FaultGap <= 0 {
		o.FaultGap = 4 * time.Second
	}
	if o.Seed == 0 {
		o.Seed = uint64(time.Now().UnixNano())
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	e, err := fault.StartEnv(lab, fault.EnvOptions{Nodes: 3, SpareNodes: maxNodes - 3 + 1})
	if err != nil {
		return Result{}, err
	}
	defer e.Cluster.Close()
	p, err := fault.StartProxy(fault.ProxyOptions{
		Bin: o.Bin, Host: e.Proxy, Dir: o.Dir, Seeds: e.Seeds()[:1],
		OperationTimeout: time.Second, ConnectTimeout: 500 * time.Millisecond,
	})
	if err != nil {
		return Result{}, err
	}
	defer p.Kill()
	fmt.Fprintf(o.Out, "soak: %d binary clients, %d text clients, %s, topology change every %s on average, seed %d\n",
		o.Clients, o.TextClients, o.Duration, o.FaultGap, o.Seed)

	ck := NewChecker()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), o.Duration)
	defer cancel()
	var workers []*worker
	dialBinary := func() (kvConn, error) {
		c, err := fault.Dial(e.Clients, p.Addr, time.Second)
		if err != nil {
			return nil, err
		}
		c.Timeout = clientTimeout
		return binaryConn{c}, nil
	}
	dialText := func() (kvConn, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn, err := e.Clients.DialContext(ctx, "tcp", p.Addr)
		if err != nil {
			return nil, err
		}
		return newTextConn(conn, clientTimeout), nil
	}
	for i := range o.Clients + o.TextClients {
		proto, dial := protoBinary, dialBinary
		if i >= o.Clients {
			proto, dial = protoText, dialText
		}
		workers = append(workers, newWorker(i, proto, o.Seed, ck, start, dial))
	}
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() {
			defer w.reset()
			for ctx.Err() == nil {
				w.step()
			}
		})
	}
	d := &driver{e: e, rng: rand.New(rand.NewPCG(o.Seed, 0xfa17)), start: start, http: e.Clients.HTTPClient(10 * time.Second)}
	wg.Go(func() { d.run(ctx, o.FaultGap) })
	wg.Wait()
	elapsed := time.Since(start)

	// Settle: heal everything, wait for any rebalance, then read every key
	// from the cluster itself.
	for _, h := range e.Nodes {
		_ = h.Heal()
	}
	for _, n := range e.Cluster.Nodes() {
		e.Cluster.Resume(n)
	}
	vals, ctrs := ck.Keys()
	slices.Sort(vals)
	for _, k := range vals {
		v, ok := e.Cluster.Get("default", []byte(k))
		ver, vok := versionOf(k, v)
		if ok && !vok {
			ck.mu.Lock()
			ck.violate("lost write", k, "the cluster holds %q, not a value this key's client wrote", v)
			ck.mu.Unlock()
			continue
		}
		ck.FinalValue(k, ok, ver)
	}
	for _, k := range ctrs {
		v, ok := e.Cluster.Get("default", []byte(k))
		n, _ := strconv.ParseUint(strings.TrimSpace(string(v)), 10, 64)
		ck.FinalCounter(k, ok, n)
	}
	return report(o.Out, workers, d.events, ck, elapsed), nil
}

// clientTimeout bounds each request of a soak client with its reply: the
// proxy's operation timeout (1 s) and a margin, so that the proxy's
// ETMPFAIL, not the client's own timeout, is what a stalled node gives.
const clientTimeout = 3 * time.Second
