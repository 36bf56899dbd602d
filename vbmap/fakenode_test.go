package vbmap

import (
	"encoding/binary"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
)

// fakeNode is a scripted KV node on loopback for the config connection's
// wire-level tests: it answers the handshake (SASL PLAIN as
// Administrator/password), enables the HELLO features it is told to, and
// answers each
// GET_CLUSTER_CONFIG with what onConfig returns (raw bytes: pushes may come
// before or after the reply).
type fakeNode struct {
	ln       net.Listener
	features []uint16
	// onConfig returns the bytes to write for a GET_CLUSTER_CONFIG (req
	// is the request; n counts them from 1 on this node).
	onConfig func(req *memcached.Packet, n int) []byte

	mu    sync.Mutex
	reqs  []memcached.Packet // GET_CLUSTER_CONFIG requests, copies
	conns []net.Conn
	wg    sync.WaitGroup
}

func newFakeNode(t testing.TB, features ...uint16) *fakeNode {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeNode{ln: ln, features: features}
	f.wg.Go(f.accept)
	t.Cleanup(func() {
		_ = ln.Close()
		f.mu.Lock()
		for _, c := range f.conns {
			_ = c.Close()
		}
		f.mu.Unlock()
		f.wg.Wait()
	})
	return f
}

func (f *fakeNode) addr() string { return f.ln.Addr().String() }

func (f *fakeNode) port() int { return f.ln.Addr().(*net.TCPAddr).Port }

func (f *fakeNode) accept() {
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		f.conns = append(f.conns, c)
		f.mu.Unlock()
		f.wg.Go(func() { f.serve(c) })
	}
}

// write sends raw bytes to every open connection (a push outside a reply).
func (f *fakeNode) write(b []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.conns {
		_, _ = c.Write(b)
	}
}

func (f *fakeNode) requests() []memcached.Packet {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.reqs)
}

func (f *fakeNode) serve(c net.Conn) {
	defer c.Close()
	rd := memcached.NewReader(c, memcached.ReaderOptions{})
	var p memcached.Packet
	for {
		if err := rd.ReadRequest(&p); err != nil {
			return
		}
		var out []byte
		switch p.Opcode {
		case memcached.OpHello:
			var v []byte
			for i := 0; i+1 < len(p.Value); i += 2 {
				if code := binary.BigEndian.Uint16(p.Value[i:]); slices.Contains(f.features, code) {
					v = binary.BigEndian.AppendUint16(v, code)
				}
			}
			out = memcached.AppendResponse(nil, &p.Header, memcached.StatusSuccess, 0, nil, nil, v)
		case memcached.OpSASLList:
			out = memcached.AppendResponse(nil, &p.Header, memcached.StatusSuccess, 0, nil, nil, []byte("PLAIN"))
		case memcached.OpSASLAuth:
			st := memcached.StatusSuccess
			if string(p.Key) != "PLAIN" || string(p.Value) != "\x00Administrator\x00password" {
				st = memcached.StatusAuthError
			}
			out = memcached.AppendResponse(nil, &p.Header, st, 0, nil, nil, nil)
		case memcached.OpSelectBucket:
			out = memcached.AppendResponse(nil, &p.Header, memcached.StatusSuccess, 0, nil, nil, nil)
		case memcached.OpGetClusterConfig:
			cp := memcached.Packet{Header: p.Header, Extras: slices.Clone(p.Extras)}
			f.mu.Lock()
			f.reqs = append(f.reqs, cp)
			n := len(f.reqs)
			f.mu.Unlock()
			out = f.onConfig(&cp, n)
		default:
			out = memcached.AppendResponse(nil, &p.Header, memcached.StatusUnknownCommand, 0, nil, nil, nil)
		}
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}

// nodeConfig is a terse config of one node at $HOST:kvPort with 8
// vBuckets and the given revision (epoch 0 = no revEpoch); mgmtPort is its
// cluster manager port (0: none).
func nodeConfig(epoch, rev int64, kvPort, mgmtPort int, caps ...string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `{"rev":%d,`, rev)
	if epoch != 0 {
		fmt.Fprintf(&b, `"revEpoch":%d,`, epoch)
	}
	fmt.Fprintf(&b, `"name":"default","nodeLocator":"vbucket","bucketCapabilities":[%s],`, quoteList(caps))
	fmt.Fprintf(&b, `"vBucketServerMap":{"hashAlgorithm":"CRC","numReplicas":0,"serverList":["$HOST:%d"],"vBucketMap":[`, kvPort)
	for vb := range 8 {
		if vb > 0 {
			b.WriteByte(',')
		}
		b.WriteString("[0]")
	}
	svc := fmt.Sprintf(`"kv":%d`, kvPort)
	if mgmtPort > 0 {
		svc += fmt.Sprintf(`,"mgmt":%d`, mgmtPort)
	}
	fmt.Fprintf(&b, `]},"nodesExt":[{"services":{%s},"thisNode":true}]}`, svc)
	return []byte(b.String())
}

func quoteList(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ",")
}

// configReply is a GET_CLUSTER_CONFIG reply to req.
func configReply(req *memcached.Packet, status memcached.Status, value []byte) []byte {
	return memcached.AppendResponse(nil, &req.Header, status, 0, nil, nil, value)
}

// pushPacket is a clustermap change notification for bucket with (epoch,
// rev) in 16 bytes of extras and value (nil: brief).
func pushPacket(bucket string, epoch, rev int64, value []byte) []byte {
	var ex [16]byte
	binary.BigEndian.PutUint64(ex[:], uint64(epoch))
	binary.BigEndian.PutUint64(ex[8:], uint64(rev))
	return memcached.AppendServerRequest(nil, memcached.OpClustermapChangeNotification, 0, ex[:], []byte(bucket), value)
}

// knownExtras decodes a request's known-version extras.
func knownExtras(p *memcached.Packet) (epoch, rev int64, ok bool) {
	if len(p.Extras) != 16 {
		return 0, 0, false
	}
	return int64(binary.BigEndian.Uint64(p.Extras)), int64(binary.BigEndian.Uint64(p.Extras[8:])), true
}

// fakeOptions are options for a source on fake nodes.
func fakeOptions(mode string, seeds ...string) SourceOptions {
	return SourceOptions{
		Seeds: seeds, Bucket: "default", ConfigSource: mode,
		User: "Administrator", Password: "password",
		MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
		KVTimeout: 2 * time.Second, ConfigCheckInterval: -1, SilentInterval: time.Hour,
	}
}

const (
	fDuplex = 0x0c
	fFull   = 0x0d
	fKnown  = 0x1d
	fBrief  = 0x1f
)
