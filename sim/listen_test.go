package sim

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
)

// TestListenHook checks that Options.Listen opens every listener of every
// node, with the node's address index (-1 for a node added at a hostname),
// and that the nodes advertise the ports of the listeners it returned.
func TestListenHook(t *testing.T) {
	var mu sync.Mutex
	var calls []string
	o := Options{Nodes: 2, Listen: func(node int, network, addr string) (net.Listener, error) {
		mu.Lock()
		calls = append(calls, fmt.Sprintf("%d %s %s", node, network, addr))
		mu.Unlock()
		return net.Listen(network, addr)
	}}
	c := startCluster(t, o)
	if _, err := c.AddNode(); err != nil {
		t.Fatalf("AddNode: %v", err)
	}
	form := url.Values{"hostname": {"127.0.0.1"}, "user": {testUser}, "password": {testPass}}
	req, _ := http.NewRequest(http.MethodPost, c.SeedURL()+"/controller/addNode", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(testUser, testPass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST /controller/addNode: %v", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /controller/addNode: status %d, want 200", resp.StatusCode)
	}

	mu.Lock()
	got := slices.Clone(calls)
	mu.Unlock()
	want := []string{
		"0 tcp 127.0.0.1:0", "0 tcp 127.0.0.1:0",
		"1 tcp 127.0.0.1:0", "1 tcp 127.0.0.1:0",
		"2 tcp 127.0.0.1:0", "2 tcp 127.0.0.1:0",
		"-1 tcp 127.0.0.1:0", "-1 tcp 127.0.0.1:0",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Listen calls:\n got %q\nwant %q", got, want)
	}
	for _, n := range c.Nodes() {
		conn, err := net.Dial("tcp", n.KVAddr())
		if err != nil {
			t.Errorf("node %s: dial advertised KV address %s: %v", n, n.KVAddr(), err)
			continue
		}
		_ = conn.Close()
	}
}
