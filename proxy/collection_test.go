package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
	"github.com/vbproxy/vbproxy/sim"
)

// TestTwoCollectionsOneBucket: two listeners serve two collections of one
// bucket over the same upstream connections (a third the default
// collection): the same key holds a different value in each; a key too long
// for a named collection is refused by the proxy; a dropped collection gives
// a clear error (binary UNKNOWN_COLLECTION, text SERVER_ERROR unknown
// collection), a recreated one works again.
func TestTwoCollectionsOneBucket(t *testing.T) {
	c, src := simSource(t, sim.Options{})
	_, err := c.CreateScope("default", "app")
	must(t, err)
	for _, name := range []string{"c1", "c2"} {
		_, err := c.CreateCollection("default", "app", name)
		must(t, err)
	}
	srv, err := New(simOptions(Options{Collections: true, OperationTimeout: 2 * time.Second}, src))
	must(t, err)
	addrs := map[string]string{}
	served := make(chan error, 3)
	for _, coll := range []string{"", "app.c1", "app.c2"} {
		ln := listen(t)
		addrs[coll] = ln.Addr().String()
		go func() { served <- srv.ServeListener(ln, Listener{Collection: coll}) }()
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		must(t, srv.Shutdown(ctx))
		for range 3 {
			if err := <-served; !errors.Is(err, ErrServerClosed) {
				t.Errorf("ServeListener = %v", err)
			}
		}
	})
	waitUp(t, srv)

	cls := map[string]*client{}
	for coll, addr := range addrs {
		cls[coll] = dial(t, addr)
	}
	for coll, cl := range cls {
		cl.set("same-key", "value in "+coll)
	}
	for coll, cl := range cls {
		if v, st := cl.get("same-key"); v != "value in "+coll {
			t.Errorf("collection %q: same-key = %q %v", coll, v, st)
		}
	}
	if v, ok := c.Get("default", []byte("same-key")); !ok || string(v) != "value in " {
		t.Errorf("the default collection on the cluster holds %q %v", v, ok)
	}
	// One set of connections for all three listeners.
	for _, n := range srv.Nodes() {
		if n.Conns != srv.connsPerNode() {
			t.Errorf("node %s has %d connections, want %d shared by the listeners", n.Addr, n.Conns, srv.connsPerNode())
		}
	}
	long := strings.Repeat("k", collectionMaxKey+1)
	cls["app.c1"].write(req(memcached.OpGet, 3, nil, []byte(long), nil))
	if h, b := cls["app.c1"].read(); h.Status != memcached.StatusEINVAL || !bytes.Contains(b, []byte("246")) {
		t.Errorf("a %d-byte key in a named collection: %v %q", len(long), h.Status, b[memcached.HeaderLen:])
	}
	if _, st := cls[""].get(long); st != memcached.StatusKeyENOENT {
		t.Errorf("a %d-byte key in the default collection: %v, want a miss", len(long), st)
	}

	_, err = c.DropCollection("default", "app", "c1")
	must(t, err)
	waitFor(t, func() bool {
		cls["app.c1"].write(req(memcached.OpGet, 4, nil, []byte("same-key"), nil))
		h, b := cls["app.c1"].read()
		if h.Status == memcached.StatusUnknownCollection {
			if !bytes.Contains(b, []byte("app.c1")) {
				t.Errorf("UNKNOWN_COLLECTION reply %q does not name the collection", b[memcached.HeaderLen:])
			}
			return true
		}
		return false
	})
	tc, err := net.Dial("tcp", addrs["app.c1"])
	must(t, err)
	defer tc.Close()
	_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(tc)
	fmt.Fprintf(tc, "get same-key\r\n")
	line, _ := r.ReadString('\n')
	end, _ := r.ReadString('\n')
	if line != "SERVER_ERROR unknown collection app.c1\r\n" || end != "END\r\n" {
		t.Errorf("text get in a dropped collection: %q %q", line, end)
	}
	if v, _ := cls["app.c2"].get("same-key"); v != "value in app.c2" {
		t.Errorf("app.c2 after dropping app.c1: %q", v)
	}

	_, err = c.CreateCollection("default", "app", "c1")
	must(t, err)
	waitFor(t, func() bool {
		cls["app.c1"].write(req(memcached.OpSet, 5, setExtras(0, 0), []byte("after"), []byte("v")))
		h, _ := cls["app.c1"].read()
		return h.Status == memcached.StatusSuccess
	})
	if v, st := cls["app.c1"].get("same-key"); st != memcached.StatusKeyENOENT {
		t.Errorf("same-key in the recreated app.c1 = %q %v, want a miss (its documents were dropped)", v, st)
	}
}
