package upstream

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
	"github.com/vbproxy/vbproxy/sim"
	"github.com/vbproxy/vbproxy/vbmap"
)

// Against the simulated Couchbase cluster: SCRAM-SHA512 login, bucket
// selection, and vBucket-addressed requests, with a connection per node on
// one loop.
func TestSimCluster(t *testing.T) {
	c, err := sim.Start(sim.Options{Nodes: 2, Host: "127.0.0.1", Buckets: []string{"default"}, VBuckets: 64})
	if err != nil {
		t.Fatalf("sim.Start: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	h := newHarness(t)
	l := h.loop()
	conns := map[string]*testConn{}
	var addrs []string
	for _, sn := range c.Nodes() {
		a := sn.KVAddr()
		addrs = append(addrs, a)
		conns[a] = h.conn(l, h.node(a, Options{User: "Administrator", Password: "password", Bucket: "default"}))
	}
	for _, tc := range conns {
		tc.waitUp(t)
	}

	for _, key := range []string{"k0", "hello", "foo", "doctor"} {
		vb := vbmap.VBucket([]byte(key), c.NumVBuckets())
		owner := c.VBucketOwner("default", int(vb)).KVAddr()
		set := setPacket(11, key, "sim-"+key)
		memcached.SetVBucket(set, vb)
		get := getPacket(12, key)
		memcached.SetVBucket(get, vb)
		for _, pkt := range [][]byte{set, get} {
			r := roundTrip(t, conns[owner], pkt)
			if r.err != nil || r.resp.Status != memcached.StatusSuccess {
				t.Fatalf("%s %s on owner: err %v status %s", memcached.Opcode(pkt[1]), key, r.err, r.resp.Status)
			}
			if r.node != owner {
				t.Errorf("Node = %s, want the owner %s", r.node, owner)
			}
		}
		if got, ok := c.Get("default", []byte(key)); !ok || string(got) != "sim-"+key {
			t.Errorf("cluster has %s = %q (%v), want %q", key, got, ok, "sim-"+key)
		}
		for _, a := range addrs {
			if a == owner {
				continue
			}
			r := roundTrip(t, conns[a], get)
			if r.err != nil || r.resp.Status != memcached.StatusNotMyVBucket || r.resp.Opaque != 12 {
				t.Errorf("GET %s on non-owner: err %v status %s opaque %d, want NOT_MY_VBUCKET opaque 12",
					key, r.err, r.resp.Status, r.resp.Opaque)
			}
		}
	}
}

func TestSimRefused(t *testing.T) {
	c, err := sim.Start(sim.Options{Nodes: 1, Host: "127.0.0.1", VBuckets: 16})
	if err != nil {
		t.Fatalf("sim.Start: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	addr := c.Nodes()[0].KVAddr()
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"wrong password", Options{User: "Administrator", Password: "nope", Bucket: "default"}, "AUTH_ERROR"},
		{"unknown bucket", Options{User: "Administrator", Password: "password", Bucket: "nope"}, "SELECT_BUCKET"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.o.MinBackoff, tt.o.MaxBackoff = 10*time.Millisecond, 50*time.Millisecond
			h := newHarness(t)
			n := h.node(addr, tt.o)
			tc := h.conn(h.loop(), n)
			waitState(t, n, StateDown)
			if err := n.LastError(); !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("LastError = %v, want ErrAuth mentioning %q", err, tt.want)
			}
			if err := tc.send(&Request{Packet: getPacket(1, "k"), Done: newRecorder(t, 1)}); err != ErrNodeDown {
				t.Errorf("Send while refused = %v, want ErrNodeDown", err)
			}
		})
	}
}
