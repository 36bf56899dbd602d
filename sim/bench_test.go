package sim

import (
	"io"
	"testing"

	"github.com/vbproxy/vbproxy/memcached"
)

// benchConn returns a kvConn on the node of a one-node cluster, writing to
// io.Discard, with key "bench" set to a 100-byte value.
func benchConn(b *testing.B) (*kvConn, []byte) {
	c := startCluster(b, Options{Nodes: 1, VBuckets: 1024, NoReplicas: true})
	kv := dialKV(b, c.Nodes()[0].KVAddr())
	kv.login("default")
	key := []byte("bench")
	vb := uint16(vbucketOf(key, 1024))
	if r := kv.do(memcached.OpSet, vb, 0, setExtras(0, 0), key, make([]byte, 100)); r.Status != memcached.StatusSuccess {
		b.Fatalf("SET: %s", r.Status)
	}
	kc := newKVConn(c.Nodes()[0], nil, nil, io.Discard)
	kc.authed, kc.bucket = true, 0
	return kc, memcached.AppendRequest(nil, memcached.OpGet, vb, 1, 0, nil, key, nil)
}

// BenchmarkHandleGet measures the node's GET path without the network:
// ownership check, lookup and reply encoding.
func BenchmarkHandleGet(b *testing.B) {
	kc, req := benchConn(b)
	var p memcached.Packet
	r := memcached.NewReader(&repeatReader{b: req}, memcached.ReaderOptions{})
	b.ReportAllocs()
	for b.Loop() {
		if err := r.ReadRequest(&p); err != nil {
			b.Fatal(err)
		}
		kc.out = kc.w.AvailableBuffer()
		kc.handle(&p)
		if _, err := kc.w.Write(kc.out); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGetRoundTrip measures one GET over loopback TCP, client
// included.
func BenchmarkGetRoundTrip(b *testing.B) {
	kc, req := benchConn(b)
	kv := dialKV(b, kc.n.KVAddr())
	kv.login("default")
	var p memcached.Packet
	b.ReportAllocs()
	for b.Loop() {
		if _, err := kv.conn.Write(req); err != nil {
			b.Fatal(err)
		}
		if err := kv.r.ReadResponse(&p); err != nil || p.Status != memcached.StatusSuccess {
			b.Fatalf("GET: %v %s", err, p.Status)
		}
	}
}

// BenchmarkGetPipelined measures GETs sent 100 per write.
func BenchmarkGetPipelined(b *testing.B) {
	kc, req := benchConn(b)
	kv := dialKV(b, kc.n.KVAddr())
	kv.login("default")
	var batch []byte
	for range 100 {
		batch = append(batch, req...)
	}
	var p memcached.Packet
	b.ReportAllocs()
	for b.Loop() {
		if _, err := kv.conn.Write(batch); err != nil {
			b.Fatal(err)
		}
		for range 100 {
			if err := kv.r.ReadResponse(&p); err != nil || p.Status != memcached.StatusSuccess {
				b.Fatalf("GET: %v %s", err, p.Status)
			}
		}
	}
}

// repeatReader yields b forever.
type repeatReader struct {
	b   []byte
	off int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.b[r.off:])
		n += c
		r.off = (r.off + c) % len(r.b)
	}
	return n, nil
}
