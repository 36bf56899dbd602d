package main

import (
	"fmt"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/internal/netns"
	"github.com/vbproxy/vbproxy/sim"
)

func TestNodeNetnsFlag(t *testing.T) {
	cfg, err := parseFlags([]string{"-nodes", "2", "-node-netns", "a, b,c"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.nodeNetns, "|"); got != "a|b|c" || cfg.opts.Listen == nil {
		t.Errorf("-node-netns a, b,c: got %q (Listen set: %v), want a|b|c and a Listen hook", got, cfg.opts.Listen != nil)
	}
	if _, err := cfg.opts.Listen(3, "tcp", "198.18.0.14:8091"); err == nil || !strings.Contains(err.Error(), "node 3 has no namespace") {
		t.Errorf("node 3 of 3 namespaces: got %v", err)
	}
	for _, tt := range []struct{ args, want string }{
		{"-nodes 3 -node-netns a,b", "2 namespaces for 3 nodes"},
		{"-nodes 1 -node-netns a,,b", `"" is not a namespace name`},
		{"-nodes 1 -node-netns ../x", `"../x" is not a namespace name`},
	} {
		if _, err := parseFlags(strings.Fields(tt.args), io.Discard); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want an error containing %q", tt.args, err, tt.want)
		}
	}
}

// TestNodesInNamespaces starts the cluster as cbsim does with -node-netns
// and reaches each node from another namespace of the lab.
func TestNodesInNamespaces(t *testing.T) {
	lab := netns.New(t)
	var names []string
	for i := range 3 {
		h, err := lab.AddHost(fmt.Sprintf("n%d", i), netip.MustParseAddr(fmt.Sprintf("198.18.0.%d", 11+i)))
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.NS)
	}
	client, err := lab.AddHost("client", netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := parseFlags([]string{"-nodes", "2", "-host-base", "198.18.0.11", "-vbuckets", "16",
		"-node-netns", strings.Join(names, ",")}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c, err := sim.Start(cfg.opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if _, err := c.AddNode(); err != nil {
		t.Fatalf("AddNode (third namespace): %v", err)
	}
	for _, n := range c.Nodes() {
		for _, addr := range []string{n.KVAddr(), strings.TrimPrefix(n.MgmtURL(), "http://")} {
			conn, err := client.DialTimeout("tcp", addr, 2*time.Second)
			if err != nil {
				t.Errorf("node %s: dial %s from the client namespace: %v", n, addr, err)
				continue
			}
			_ = conn.Close()
		}
	}
	resp, err := client.HTTPClient(2 * time.Second).Get(c.SeedURL() + "/pools")
	if err != nil {
		t.Fatalf("GET /pools from the client namespace: %v", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET /pools: status %d, want 200", resp.StatusCode)
	}
}
