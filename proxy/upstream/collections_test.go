package upstream

import (
	"bytes"
	"slices"
	"testing"

	"github.com/vbproxy/vbproxy/memcached"
	"github.com/vbproxy/vbproxy/sim"
	"github.com/vbproxy/vbproxy/vbmap"
)

// appendCollected writes the collection ID before the key as unsigned
// LEB128 and grows the key and body lengths to match; the rest of the
// packet is copied unchanged.
func TestAppendCollected(t *testing.T) {
	tests := []struct {
		cid  uint32
		want []byte
	}{
		{0, []byte{0x00}},
		{8, []byte{0x08}},
		{127, []byte{0x7f}},
		{128, []byte{0x80, 0x01}},
		{300, []byte{0xac, 0x02}},
		{1 << 21, []byte{0x80, 0x80, 0x80, 0x01}},
		{0xffffffff, []byte{0xff, 0xff, 0xff, 0xff, 0x0f}},
	}
	pkt := setPacket(5, "key", "value") // 8 bytes of extras
	orig := bytes.Clone(pkt)
	for _, tt := range tests {
		prefix := []byte("prefix")
		got := appendCollected(prefix, pkt, tt.cid)
		if !bytes.Equal(got[:len(prefix)], []byte("prefix")) {
			t.Fatalf("cid %d: bytes before the packet changed", tt.cid)
		}
		out := got[len(prefix):]
		var h memcached.Header
		h.Decode(out)
		if int(h.KeyLen) != 3+len(tt.want) || int(h.BodyLen) != len(pkt)-memcached.HeaderLen+len(tt.want) || len(out) != len(pkt)+len(tt.want) {
			t.Errorf("cid %d: key %d body %d packet %d bytes, want %d %d %d", tt.cid, h.KeyLen, h.BodyLen, len(out),
				3+len(tt.want), len(pkt)-memcached.HeaderLen+len(tt.want), len(pkt)+len(tt.want))
			continue
		}
		keyAt := memcached.HeaderLen + 8
		want := append(bytes.Clone(tt.want), "key"...)
		if key := out[keyAt : keyAt+int(h.KeyLen)]; !bytes.Equal(key, want) {
			t.Errorf("cid %d: key on the wire %x, want %x", tt.cid, key, want)
		}
		if !bytes.Equal(out[:2], pkt[:2]) || !bytes.Equal(out[4:8], pkt[4:8]) || !bytes.Equal(out[12:keyAt], pkt[12:keyAt]) ||
			!bytes.Equal(out[keyAt+int(h.KeyLen):], []byte("value")) {
			t.Errorf("cid %d: fields other than the key and lengths changed: %x from %x", tt.cid, out, pkt)
		}
	}
	if !bytes.Equal(pkt, orig) {
		t.Error("appendCollected modified its input packet")
	}
}

// The HELLO asks for collections only with Options.Collections.
func TestBootstrapHelloCollections(t *testing.T) {
	f := startFakeKV(t, fakeConfig{Buckets: []string{"default"}})
	h := newHarness(t)
	c := h.conn(h.loop(), h.node(f.addr, Options{Bucket: "default", Collections: true}))
	c.waitUp(t)
	got := f.hellosSeen()
	if len(got) != 2 || !slices.Equal(got[1].feats, []uint16{featureXError, featureSelectBucket, featureCollections}) {
		t.Fatalf("HELLOs %v, want the probe then XERROR, SELECT_BUCKET, collections", got)
	}
	// The fake does not agree to collections: only the default one may be
	// named, and its keys go out as they are.
	var agreed bool
	c.l.do(func() { agreed = c.collections })
	if agreed {
		t.Error("collections on although the node did not agree")
	}
	if err := c.send(&Request{Packet: getPacket(1, "k"), Collection: 8, Done: newRecorder(t, 1)}); err != ErrNoCollections {
		t.Errorf("Send with collection 8 = %v, want ErrNoCollections", err)
	}
	mustSetGet(t, c, "k", "v") // the fake finds "k": no prefix was sent
}

// Against the simulated cluster, which agrees to collections: a request
// for a named collection reaches it (the ID prefixed on the wire, the
// Request's packet untouched), the default collection is ID 0, an unknown
// ID is UNKNOWN_COLLECTION, and keyless opcodes go out unprefixed. A
// cluster without collections refuses nothing but named collections.
func TestSimCollections(t *testing.T) {
	c, err := sim.Start(sim.Options{Nodes: 1, Host: "127.0.0.1", VBuckets: 16})
	if err != nil {
		t.Fatalf("sim.Start: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.CreateScope("default", "app"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateCollection("default", "app", "users"); err != nil {
		t.Fatal(err)
	}
	cid, ok := c.CollectionID("default", "app", "users")
	if !ok {
		t.Fatal("no ID for app.users")
	}
	h := newHarness(t)
	tc := h.conn(h.loop(), h.node(c.Nodes()[0].KVAddr(), Options{User: "Administrator", Password: "password", Bucket: "default", Collections: true}))
	tc.waitUp(t)
	var agreed bool
	tc.l.do(func() { agreed = tc.collections })
	if !agreed {
		t.Fatal("collections off against a cluster that supports them")
	}
	vbOf := func(pkt []byte, key string) []byte {
		memcached.SetVBucket(pkt, vbmap.VBucket([]byte(key), c.NumVBuckets()))
		return pkt
	}
	send := func(pkt []byte, coll uint32) result {
		t.Helper()
		orig := bytes.Clone(pkt)
		d := newRecorder(t, 1)
		if err := tc.send(&Request{Packet: pkt, Collection: coll, Done: d}); err != nil {
			t.Fatalf("Send(%s, collection %d): %v", memcached.Opcode(pkt[1]), coll, err)
		}
		r := d.wait(t, 1)[0]
		if !bytes.Equal(pkt, orig) {
			t.Errorf("Send modified the request's packet")
		}
		return r
	}
	if r := send(vbOf(setPacket(1, "u1", "in-users"), "u1"), cid); r.err != nil || r.resp.Status != memcached.StatusSuccess {
		t.Fatalf("SET u1 in app.users: err %v status %s", r.err, r.resp.Status)
	}
	if got, ok := c.GetFrom("default", "app", "users", []byte("u1")); !ok || string(got) != "in-users" {
		t.Errorf("app.users has u1 = %q (%v), want in-users", got, ok)
	}
	if _, ok := c.Get("default", []byte("u1")); ok {
		t.Error("u1 is in the default collection too")
	}
	if r := send(vbOf(getPacket(2, "u1"), "u1"), cid); r.err != nil || string(r.value()) != "in-users" {
		t.Errorf("GET u1 from app.users: err %v status %s value %q", r.err, r.resp.Status, r.value())
	}
	if r := send(vbOf(getPacket(3, "u1"), "u1"), 0); r.err != nil || r.resp.Status != memcached.StatusKeyENOENT {
		t.Errorf("GET u1 from _default: err %v status %s, want KEY_ENOENT", r.err, r.resp.Status)
	}
	if r := send(vbOf(getPacket(4, "u1"), "u1"), 999); r.err != nil || r.resp.Status != memcached.StatusUnknownCollection {
		t.Errorf("GET u1 from collection 999: err %v status %s, want UNKNOWN_COLLECTION", r.err, r.resp.Status)
	}
	noop := memcached.AppendRequest(nil, memcached.OpNoop, 0, 5, 0, nil, nil, nil)
	if r := send(noop, 0); r.err != nil || r.resp.Status != memcached.StatusSuccess {
		t.Errorf("NOOP: err %v status %s, want success", r.err, r.resp.Status)
	}
	if err := tc.send(&Request{Packet: noop, Collection: cid, Done: newRecorder(t, 1)}); err != ErrNoCollections {
		t.Errorf("NOOP naming a collection: Send = %v, want ErrNoCollections (no key to prefix)", err)
	}

	t.Run("cluster without collections", func(t *testing.T) {
		c, err := sim.Start(sim.Options{Nodes: 1, Host: "127.0.0.1", VBuckets: 16, NoCollections: true})
		if err != nil {
			t.Fatalf("sim.Start: %v", err)
		}
		t.Cleanup(func() { c.Close() })
		h := newHarness(t)
		tc := h.conn(h.loop(), h.node(c.Nodes()[0].KVAddr(), Options{User: "Administrator", Password: "password", Bucket: "default", Collections: true}))
		tc.waitUp(t)
		if err := tc.send(&Request{Packet: getPacket(1, "k"), Collection: 8, Done: newRecorder(t, 1)}); err != ErrNoCollections {
			t.Errorf("Send with collection 8 = %v, want ErrNoCollections", err)
		}
		set := setPacket(2, "k", "plain")
		memcached.SetVBucket(set, vbmap.VBucket([]byte("k"), c.NumVBuckets()))
		if r := roundTrip(t, tc, set); r.err != nil || r.resp.Status != memcached.StatusSuccess {
			t.Fatalf("SET k: err %v status %s", r.err, r.resp.Status)
		}
		if got, ok := c.Get("default", []byte("k")); !ok || string(got) != "plain" {
			t.Errorf("cluster has k = %q (%v), want plain (sent without a prefix)", got, ok)
		}
	})
}

// The collection prefix on the routing path: writing a request into the
// connection's output with its collection ID allocates nothing.
func BenchmarkAppendCollected(b *testing.B) {
	pkt := memcached.AppendRequest(nil, memcached.OpGet, 7, 1, 0, nil, []byte("user:00000001"), nil)
	out := make([]byte, 0, 64<<10)
	b.ReportAllocs()
	for b.Loop() {
		out = appendCollected(out[:0], pkt, 0x555)
	}
	if len(out) != len(pkt)+2 {
		b.Fatalf("%d bytes, want %d", len(out), len(pkt)+2)
	}
}
