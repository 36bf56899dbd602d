package sim

import (
	"bytes"
	"io"
	"testing"

	"github.com/vbproxy/vbproxy/memcached"
)

// FuzzKVRequests feeds arbitrary request streams to a node's command
// handler: it must answer or refuse every packet without panicking.
func FuzzKVRequests(f *testing.F) {
	seed := func(op memcached.Opcode, extras, key, value []byte) []byte {
		return memcached.AppendRequest(nil, op, 0, 1, 0, extras, key, value)
	}
	f.Add(seed(memcached.OpSet, setExtras(1, 0), []byte("k"), []byte("v")))
	f.Add(seed(memcached.OpIncrement, arithExtras(1, 2, 0), []byte("n"), nil))
	f.Add(seed(memcached.OpHello, nil, []byte("agent"), []byte{0, 7, 0, 8}))
	f.Add(seed(memcached.OpSASLAuth, nil, []byte("SCRAM-SHA256"), []byte("n,,n=Administrator,r=abc")))
	f.Add(seed(memcached.OpSASLAuth, nil, []byte("PLAIN"), []byte("\x00Administrator\x00password")))
	f.Add(seed(memcached.OpStat, nil, []byte("vbucket"), nil))
	f.Add(seed(memcached.OpGetErrorMap, nil, nil, []byte{0, 1}))
	f.Add(append(seed(memcached.OpGetKQ, nil, []byte("x"), nil), seed(memcached.OpNoop, nil, nil, nil)...))
	f.Add(append(seed(memcached.OpHello, nil, nil, []byte{0, 7, 0, 0x12}), seed(memcached.OpSet, setExtras(0, 0), []byte("\x00k"), []byte("v"))...))
	f.Add(seed(opGetCollectionID, nil, nil, []byte("_default.c1")))
	f.Add(seed(memcached.OpGetClusterConfig, versionExtras(1, 2), nil, nil))
	c := startCluster(f, Options{Nodes: 1, VBuckets: 4, AllowFlush: true, NoAuth: true})
	n := c.Nodes()[0]
	f.Fuzz(func(t *testing.T, data []byte) {
		kc := newKVConn(n, nil, nil, io.Discard)
		defer close(kc.done)
		r := memcached.NewReader(bytes.NewReader(data), memcached.ReaderOptions{})
		var p memcached.Packet
		for range 64 {
			err := r.ReadRequest(&p)
			if err != nil {
				if !memcached.IsRecoverable(err) {
					return
				}
				continue
			}
			kc.out = kc.out[:0]
			kc.handle(&p)
			if len(kc.out) == 0 && !p.Opcode.Quiet() && !kc.closing {
				t.Fatalf("%s: no reply and the connection stays open", p.Opcode)
			}
			if kc.closing {
				return
			}
		}
	})
}

func FuzzParseHostname(f *testing.F) {
	for _, s := range []string{"", "127.0.0.1", "127.0.0.1:8091", "[::1]:8091", "http://h:1/", "h:99999", "h:x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		host, port, err := parseHostname(s)
		if err != nil {
			return
		}
		if port < -1 || port > 65535 {
			t.Fatalf("parseHostname(%q) port %d", s, port)
		}
		if host == "" && port != -1 {
			t.Fatalf("parseHostname(%q) = %q %d: port without host", s, host, port)
		}
	})
}
