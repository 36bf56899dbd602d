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
// selection, and vBucket-addressed requests.
func TestSimCluster(t *testing.T) {
	c, err := sim.Start(sim.Options{Nodes: 2, Host: "127.0.0.1", Buckets: []string{"default"}, VBuckets: 64})
	if err != nil {
		t.Fatalf("sim.Start: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	ps := NewPools(Options{User: "Administrator", Password: "password", Bucket: "default"})
	t.Cleanup(func() { ps.Close() })
	var addrs []string
	for _, n := range c.Nodes() {
		addrs = append(addrs, n.KVAddr())
	}
	ps.Update(addrs)
	for _, p := range ps.All() {
		waitState(t, p, StateUp)
	}

	for _, key := range []string{"k0", "hello", "foo", "doctor"} {
		vb := vbmap.VBucket([]byte(key), c.NumVBuckets())
		owner := c.VBucketOwner("default", int(vb)).KVAddr()
		set := setPacket(11, key, "sim-"+key)
		memcached.SetVBucket(set, vb)
		get := getPacket(12, key)
		memcached.SetVBucket(get, vb)
		for _, pkt := range [][]byte{set, get} {
			r := roundTrip(t, ps.Get(owner), pkt)
			if r.Err != nil || r.Resp.Status != memcached.StatusSuccess {
				t.Fatalf("%s %s on owner: err %v status %s", memcached.Opcode(pkt[1]), key, r.Err, r.Resp.Status)
			}
		}
		if got, ok := c.Get("default", []byte(key)); !ok || string(got) != "sim-"+key {
			t.Errorf("cluster has %s = %q (%v), want %q", key, got, ok, "sim-"+key)
		}
		for _, a := range addrs {
			if a == owner {
				continue
			}
			r := roundTrip(t, ps.Get(a), get)
			if r.Err != nil || r.Resp.Status != memcached.StatusNotMyVBucket || r.Resp.Opaque != 12 {
				t.Errorf("GET %s on non-owner: err %v status %s opaque %d, want NOT_MY_VBUCKET opaque 12",
					key, r.Err, r.Resp.Status, r.Resp.Opaque)
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
			p := NewPool(addr, tt.o)
			t.Cleanup(func() { p.Close() })
			waitState(t, p, StateDown)
			if err := p.LastError(); !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("LastError = %v, want ErrAuth mentioning %q", err, tt.want)
			}
		})
	}
}
