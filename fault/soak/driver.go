package soak

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/vbproxy/vbproxy/fault"
	"github.com/vbproxy/vbproxy/internal/netns"
	"github.com/vbproxy/vbproxy/sim"
)

// Cluster size the driver keeps between changes.
const (
	minNodes = 3
	maxNodes = 5
)

// event is one topology change or fault the driver applied.
type event struct {
	at   time.Duration // since the start of the run
	what string
	took time.Duration
	err  error
}

// driver applies random topology changes and faults to an Env, one at a
// time. Node 0 (the proxy's seed) is never removed.
type driver struct {
	e      *fault.Env
	rng    *rand.Rand
	start  time.Time
	http   *http.Client
	events []event
}

type action struct {
	name string
	ok   func(nodes []*sim.Node) bool
	run  func(ctx context.Context, nodes []*sim.Node) (string, error)
}

func (d *driver) actions() []action {
	removable := func(nodes []*sim.Node) bool { return len(nodes) > minNodes }
	return []action{
		{"add node and rebalance in", func(n []*sim.Node) bool { return len(n) < maxNodes }, d.addAndRebalance},
		{"rebalance out", removable, d.rebalanceOut},
		{"failover and rebalance", removable, d.failover},
		{"pause and resume", func([]*sim.Node) bool { return true }, d.pause},
		{"blackhole and heal", func([]*sim.Node) bool { return true }, d.blackhole},
	}
}

// run applies a change every gap (±50%) until ctx ends.
func (d *driver) run(ctx context.Context, gap time.Duration) {
	for {
		wait := gap/2 + time.Duration(d.rng.Int64N(int64(gap)))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		nodes := d.e.Cluster.Nodes()
		var choices []action
		for _, a := range d.actions() {
			if a.ok(nodes) {
				choices = append(choices, a)
			}
		}
		a := choices[d.rng.IntN(len(choices))]
		at := time.Since(d.start)
		t0 := time.Now()
		detail, err := a.run(ctx, nodes)
		d.events = append(d.events, event{at: at, what: a.name + " " + detail, took: time.Since(t0), err: err})
	}
}

// victim picks a node other than node 0.
func (d *driver) victim(nodes []*sim.Node) *sim.Node {
	return nodes[1+d.rng.IntN(len(nodes)-1)]
}

func (d *driver) addAndRebalance(ctx context.Context, nodes []*sim.Node) (string, error) {
	var spare *netns.Host
	for _, h := range d.e.Nodes {
		used := slices.ContainsFunc(nodes, func(n *sim.Node) bool { return n.Host() == h.IP.String() })
		if !used {
			spare = h
			break
		}
	}
	if spare == nil {
		return "", fmt.Errorf("soak: no spare namespace for a new node")
	}
	form := url.Values{"hostname": {spare.IP.String()}, "user": {"Administrator"}, "password": {"password"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, nodes[0].MgmtURL()+"/controller/addNode", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("Administrator", "password")
	resp, err := d.http.Do(req)
	if err != nil {
		return spare.IP.String(), fmt.Errorf("POST /controller/addNode: %w", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return spare.IP.String(), fmt.Errorf("POST /controller/addNode: status %d", resp.StatusCode)
	}
	return spare.IP.String(), d.e.Cluster.Rebalance(ctx)
}

func (d *driver) rebalanceOut(ctx context.Context, nodes []*sim.Node) (string, error) {
	n := d.victim(nodes)
	return n.Host(), d.e.Cluster.Rebalance(ctx, n)
}

func (d *driver) failover(ctx context.Context, nodes []*sim.Node) (string, error) {
	n := d.victim(nodes)
	if err := d.e.Cluster.Failover(n); err != nil {
		return n.Host(), err
	}
	// Restore the replicas, as an operator would, before the next change.
	time.Sleep(time.Second)
	return n.Host(), d.e.Cluster.Rebalance(ctx)
}

func (d *driver) pause(ctx context.Context, nodes []*sim.Node) (string, error) {
	n := d.victim(nodes)
	d.e.Cluster.Pause(n)
	sleep(ctx, 1500*time.Millisecond)
	d.e.Cluster.Resume(n)
	return n.Host(), nil
}

func (d *driver) blackhole(ctx context.Context, nodes []*sim.Node) (string, error) {
	n := d.victim(nodes)
	h, err := d.e.NodeHost(n)
	if err != nil {
		return n.Host(), err
	}
	if err := h.Apply(netns.Blackhole()); err != nil {
		return n.Host(), err
	}
	sleep(ctx, 2*time.Second)
	return n.Host(), h.Heal()
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
