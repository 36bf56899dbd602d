package vbmap

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
)

// revTemplate is a 1024-vBucket, 3-node terse config whose rev is a
// space-padded field patched in place (whitespace is valid JSON), so the
// benchmark builds no config per iteration.
type revTemplate struct {
	buf []byte
	at  int // offset of the rev digits
}

const revWidth = 12

func newRevTemplate(kvPort int) *revTemplate {
	var b strings.Builder
	b.WriteString(`{"rev":`)
	at := b.Len()
	b.WriteString(strings.Repeat(" ", revWidth))
	fmt.Fprintf(&b, `,"revEpoch":1,"name":"default","nodeLocator":"vbucket","bucketCapabilities":["cccp"],`)
	fmt.Fprintf(&b, `"vBucketServerMap":{"hashAlgorithm":"CRC","numReplicas":1,"serverList":["$HOST:%d","127.0.0.2:11210","127.0.0.3:11210"],"vBucketMap":[`, kvPort)
	for vb := range 1024 {
		if vb > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "[%d,%d]", vb%3, (vb+1)%3)
	}
	fmt.Fprintf(&b, `]},"nodesExt":[{"services":{"kv":%d},"thisNode":true},{"services":{"kv":11210},"hostname":"127.0.0.2"},{"services":{"kv":11210},"hostname":"127.0.0.3"}]}`, kvPort)
	return &revTemplate{buf: []byte(b.String()), at: at}
}

// set writes rev into the template (right-aligned in its field).
func (r *revTemplate) set(rev int64) []byte {
	field := r.buf[r.at : r.at+revWidth]
	for i := range field {
		field[i] = ' '
	}
	var digits [20]byte
	d := strconv.AppendInt(digits[:0], rev, 10)
	copy(field[revWidth-len(d):], d)
	return r.buf
}

// A pushed notification is applied within one map swap: the time from
// writing the push to the config connection's socket to Current()
// returning its revision (the subscriber signals each swap), and the
// allocations of receiving, parsing and applying it. Each push must cause
// exactly one applied change. brief adds the GET_CLUSTER_CONFIG round trip
// with the known version.
func BenchmarkPushApplied(b *testing.B) {
	for _, mode := range []string{notifyFull, notifyBrief} {
		b.Run(mode, func(b *testing.B) {
			f := newFakeNode(b, fDuplex, fKnown, fBrief, fFull)
			tmpl, nodeTmpl := newRevTemplate(f.port()), newRevTemplate(f.port())
			var rev atomic.Int64
			rev.Store(1)
			var reply []byte
			f.onConfig = func(req *memcached.Packet, n int) []byte {
				reply = memcached.AppendResponse(reply[:0], &req.Header, memcached.StatusSuccess, 0, nil, nil, nodeTmpl.set(rev.Load()))
				return reply
			}
			o := fakeOptions(ConfigSourceCCCP, "couchbase://"+f.addr())
			o.notifyFull = mode == notifyFull
			src, err := NewSource(o)
			if err != nil {
				b.Fatal(err)
			}
			var applied atomic.Int64
			swapped := make(chan struct{}, 1)
			src.Subscribe(func(_, _ *Map) {
				applied.Add(1)
				select {
				case swapped <- struct{}{}:
				default:
				}
			})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- src.Run(ctx) }()
			defer func() { cancel(); <-done }()
			deadline := time.Now().Add(10 * time.Second)
			for applied.Load() == 0 || !src.kvActive.Load() {
				if time.Now().After(deadline) {
					b.Fatal("no config connection")
				}
				time.Sleep(time.Millisecond)
			}
			start := applied.Load()
			select {
			case <-swapped: // the first map's signal
			default:
			}
			var ex [16]byte
			ex[7] = 1 // epoch 1
			var pkt []byte
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				r := int64(i + 2)
				rev.Store(r)
				ex[8], ex[9], ex[10], ex[11] = byte(r>>56), byte(r>>48), byte(r>>40), byte(r>>32)
				ex[12], ex[13], ex[14], ex[15] = byte(r>>24), byte(r>>16), byte(r>>8), byte(r)
				var value []byte
				if mode == notifyFull {
					value = tmpl.set(r)
				}
				pkt = memcached.AppendServerRequest(pkt[:0], memcached.OpClustermapChangeNotification, 0, ex[:], []byte("default"), value)
				f.write(pkt)
				for src.Current().Revision().Rev != r {
					<-swapped // each swap signals; wait without spinning
				}
			}
			b.StopTimer()
			if got := applied.Load() - start; got != int64(b.N) {
				b.Fatalf("%d pushes applied as %d map changes, want one each", b.N, got)
			}
		})
	}
}
