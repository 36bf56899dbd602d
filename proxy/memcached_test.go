package proxy

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/vbproxy/vbproxy/memcached"
)

// directHits asks a memcached node for keys (GETKQ batches ended by NOOP)
// and returns the keys it holds, with their values.
func directHits(t *testing.T, addr string, keys []string) map[string]string {
	t.Helper()
	c := dial(t, addr)
	hits := map[string]string{}
	const batch = 1000
	for start := 0; start < len(keys); start += batch {
		var p []byte
		for _, k := range keys[start:min(start+batch, len(keys))] {
			p = append(p, req(memcached.OpGetKQ, 0, nil, []byte(k), nil)...)
		}
		p = append(p, req(memcached.OpNoop, 1, nil, nil, nil)...)
		c.write(p)
		for {
			h, b := c.read()
			if h.Opcode == memcached.OpNoop {
				break
			}
			body := b[memcached.HeaderLen+int(h.ExtrasLen):]
			hits[string(body[:h.KeyLen])] = string(body[h.KeyLen:])
		}
	}
	return hits
}

// TestKeysLandOnOwnerMemcached sets 100k keys through the proxy over three
// real memcached servers and reads every node directly: each key is on the
// node the map assigns its vBucket to, and only there.
func TestKeysLandOnOwnerMemcached(t *testing.T) {
	_, addr, nodes, src := memcachedCluster(t, 3, Options{})
	keys := make([]string, 100_000)
	for i := range keys {
		keys[i] = fmt.Sprintf("mc-owner-%d", i)
	}
	val := func(k string) string { return "v:" + k }
	dial(t, addr).setPipelined(keys, val)
	m := src.Current()
	for i, n := range nodes {
		hits := directHits(t, n, keys)
		want := 0
		for _, k := range keys {
			_, owner := m.Route([]byte(k))
			v, ok := hits[k]
			switch {
			case owner == i && (!ok || v != val(k)):
				t.Fatalf("key %q missing on its owner %s: %q %v", k, n, v, ok)
			case owner != i && ok:
				t.Fatalf("key %q (owner %s) found on %s", k, nodes[owner], n)
			}
			if owner == i {
				want++
			}
		}
		if len(hits) != want {
			t.Errorf("node %s holds %d keys, want %d", n, len(hits), want)
		}
	}
}

// TestQuietPipelineMemcachedByteExact sends "GETKQ x 100, NOOP" over keys
// spread on three memcached servers. The expected bytes are each owner's own
// GETKQ reply (read directly from the node) with the client's opaque, then
// the NOOP: the proxy's reply must be identical.
func TestQuietPipelineMemcachedByteExact(t *testing.T) {
	_, addr, nodes, src := memcachedCluster(t, 3, Options{})
	m := src.Current()
	cl := dial(t, addr)
	direct := make([]*client, len(nodes))
	for i, n := range nodes {
		direct[i] = dial(t, n)
	}
	var pipeline, expected []byte
	spread := map[int]int{}
	for i := range 100 {
		key := []byte(fmt.Sprintf("exact-%d", i))
		_, owner := m.Route(key)
		spread[owner]++
		if i%3 != 0 {
			cl.set(string(key), fmt.Sprintf("value-%d", i))
			direct[owner].write(req(memcached.OpGetKQ, uint32(500+i), nil, key, nil))
			direct[owner].write(req(memcached.OpNoop, 0, nil, nil, nil))
			_, b := direct[owner].read()
			expected = append(expected, b...)
			if h, _ := direct[owner].read(); h.Opcode != memcached.OpNoop {
				t.Fatalf("direct read of %s: unexpected %s", key, h.Opcode)
			}
		}
		pipeline = append(pipeline, req(memcached.OpGetKQ, uint32(500+i), nil, key, nil)...)
	}
	if len(spread) != len(nodes) {
		t.Fatalf("keys span %d nodes, want %d", len(spread), len(nodes))
	}
	pipeline = append(pipeline, req(memcached.OpNoop, 9999, nil, nil, nil)...)
	expected = append(expected, resp(memcached.OpNoop, 9999, 0, 0, nil, nil, nil)...)
	cl.write(pipeline)
	if got := cl.readN(len(expected)); !bytes.Equal(got, expected) {
		t.Fatalf("reply differs from the nodes' own replies\n got %x\nwant %x", got, expected)
	}
}
