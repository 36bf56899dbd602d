package sim

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/vbproxy/vbproxy/memcached"
	"github.com/vbproxy/vbproxy/vbmap"
)

// ownedVB returns a vBucket that n is active for, and one it is not.
func ownedVB(t *testing.T, c *Cluster, n *Node) (own, other uint16) {
	t.Helper()
	own, other = 0xffff, 0xffff
	for vb := range c.NumVBuckets() {
		if c.VBucketOwner("default", vb) == n {
			if own == 0xffff {
				own = uint16(vb)
			}
		} else if other == 0xffff {
			other = uint16(vb)
		}
	}
	if own == 0xffff || other == 0xffff {
		t.Fatalf("node %v: no owned or no foreign vBucket", n)
	}
	return own, other
}

func TestBeforeAuth(t *testing.T) {
	c := startCluster(t, Options{Nodes: 1})
	addr := c.Nodes()[0].KVAddr()

	t.Run("with XERROR", func(t *testing.T) {
		kv := dialKV(t, addr)
		kv.do(memcached.OpHello, 0, 0, nil, nil, featureList(featureXError))
		tests := []struct {
			op   memcached.Opcode
			key  string
			want memcached.Status
		}{
			{memcached.OpGet, "k", memcached.StatusNoBucket},
			{memcached.OpGetClusterConfig, "", memcached.StatusEAccess},
			{memcached.OpSelectBucket, "default", memcached.StatusEAccess},
			{memcached.OpNoop, "", memcached.StatusSuccess},
			{memcached.OpVersion, "", memcached.StatusSuccess},
			{memcached.OpSASLList, "", memcached.StatusSuccess},
			{0x3d, "", memcached.StatusUnknownCommand},
		}
		for _, tt := range tests {
			if r := kv.do(tt.op, 0, 0, nil, []byte(tt.key), nil); r.Status != tt.want {
				t.Errorf("%s before auth: %s, want %s", tt.op, r.Status, tt.want)
			}
		}
		// Authenticated, no bucket yet.
		if r := kv.do(memcached.OpSASLAuth, 0, 0, nil, []byte("PLAIN"), []byte("\x00"+testUser+"\x00"+testPass)); r.Status != memcached.StatusSuccess {
			t.Fatalf("PLAIN: %s", r.Status)
		}
		if r := kv.do(memcached.OpGet, 0, 0, nil, []byte("k"), nil); r.Status != memcached.StatusNoBucket {
			t.Errorf("GET without bucket: %s, want NO_BUCKET", r.Status)
		}
		if r := kv.do(memcached.OpSelectBucket, 0, 0, nil, []byte("nope"), nil); r.Status != memcached.StatusKeyENOENT {
			t.Errorf("SELECT_BUCKET unknown: %s, want KEY_ENOENT", r.Status)
		}
	})

	t.Run("without XERROR the connection closes", func(t *testing.T) {
		kv := dialKV(t, addr)
		kv.send(memcached.OpGet, 0, 0, nil, []byte("k"), nil)
		if _, err := kv.tryRecv(5e9); err != io.EOF && err != io.ErrUnexpectedEOF {
			t.Errorf("GET before auth without XERROR: err %v, want the connection closed", err)
		}
	})
}

func TestSASLBadPassword(t *testing.T) {
	c := startCluster(t, Options{Nodes: 1})
	kv := dialKV(t, c.Nodes()[0].KVAddr())
	for _, msg := range []string{"\x00" + testUser + "\x00wrong", "\x00nobody\x00" + testPass, "garbage"} {
		if r := kv.do(memcached.OpSASLAuth, 0, 0, nil, []byte("PLAIN"), []byte(msg)); r.Status != memcached.StatusAuthError {
			t.Errorf("PLAIN %q: %s, want AUTH_ERROR", msg, r.Status)
		}
	}
	if r := kv.do(memcached.OpSASLAuth, 0, 0, nil, []byte("CRAM-MD5"), nil); r.Status != memcached.StatusAuthError {
		t.Errorf("unknown mechanism: %s, want AUTH_ERROR", r.Status)
	}
	if r := kv.do(memcached.OpSASLStep, 0, 0, nil, []byte("SCRAM-SHA512"), []byte("x")); r.Status != memcached.StatusEINVAL {
		t.Errorf("SASL_STEP without AUTH: %s, want EINVAL", r.Status)
	}
	r := kv.do(memcached.OpSASLList, 0, 0, nil, nil, nil)
	if string(r.Value) != "SCRAM-SHA512 SCRAM-SHA256 SCRAM-SHA1 PLAIN" {
		t.Errorf("SASL_LIST_MECHS = %q", r.Value)
	}
}

func TestNotMyVBucket(t *testing.T) {
	c := startCluster(t, Options{Nodes: 3})
	n := c.Nodes()[0]
	own, other := ownedVB(t, c, n)
	kv := dialKV(t, n.KVAddr())
	kv.login("default")

	r := kv.do(memcached.OpSet, other, 0, setExtras(0, 0), []byte("k"), []byte("v"))
	if r.Status != memcached.StatusNotMyVBucket {
		t.Fatalf("SET on vb %d (not owned): %s, want NOT_MY_VBUCKET", other, r.Status)
	}
	if !bytes.Contains(r.Value, []byte(`"$HOST:`)) {
		t.Errorf("NMVB body has no $HOST: %.200s", r.Value)
	}
	m, err := vbmap.Parse(r.Value, vbmap.ParseOptions{Host: n.Host()})
	if err != nil {
		t.Fatalf("NMVB body does not parse: %v", err)
	}
	if got, want := m.Revision().Rev, c.Revision(); got != want {
		t.Errorf("NMVB config rev %d, want %d", got, want)
	}
	if got, want := m.Nodes()[m.Active(other)].Addr, c.VBucketOwner("default", int(other)).KVAddr(); got != want {
		t.Errorf("NMVB config says vb %d is on %s, want %s", other, got, want)
	}
	if r := kv.do(memcached.OpSet, own, 0, setExtras(0, 0), []byte("k"), []byte("v")); r.Status != memcached.StatusSuccess {
		t.Errorf("SET on owned vb %d: %s", own, r.Status)
	}
	if r := kv.do(memcached.OpGet, uint16(c.NumVBuckets()), 0, nil, []byte("k"), nil); r.Status != memcached.StatusNotMyVBucket {
		t.Errorf("GET on vb past the end: %s, want NOT_MY_VBUCKET", r.Status)
	}
	// GET_CLUSTER_CONFIG is the same terse config.
	r = kv.do(memcached.OpGetClusterConfig, 0, 0, nil, nil, nil)
	var cfg struct {
		Rev int64 `json:"rev"`
	}
	if err := json.Unmarshal(r.Value, &cfg); r.Status != memcached.StatusSuccess || err != nil || cfg.Rev != c.Revision() {
		t.Errorf("GET_CLUSTER_CONFIG: %s rev %d err %v, want rev %d", r.Status, cfg.Rev, err, c.Revision())
	}
}

func TestKeyCommands(t *testing.T) {
	c := startCluster(t, Options{Nodes: 1, VBuckets: 4})
	kv := dialKV(t, c.Nodes()[0].KVAddr())
	kv.login("default")
	key := []byte("key")
	vb := vbmap.VBucket(key, 4)

	r := kv.do(memcached.OpSet, vb, 0, setExtras(0xdeadbeef, 0), key, []byte("v1"))
	if r.Status != memcached.StatusSuccess || r.CAS == 0 {
		t.Fatalf("SET: %s cas %d", r.Status, r.CAS)
	}
	cas := r.CAS
	r = kv.do(memcached.OpGetK, vb, 0, nil, key, nil)
	if r.Status != memcached.StatusSuccess || string(r.Key) != "key" || string(r.Value) != "v1" ||
		binary.BigEndian.Uint32(r.Extras) != 0xdeadbeef || r.CAS != cas {
		t.Errorf("GETK: %s key %q value %q extras %x cas %d", r.Status, r.Key, r.Value, r.Extras, r.CAS)
	}
	if got, ok := c.Get("default", key); !ok || string(got) != "v1" {
		t.Errorf("oracle Get = %q %v, want v1", got, ok)
	}
	if r := kv.do(memcached.OpSet, vb, cas+1, setExtras(0, 0), key, []byte("v2")); r.Status != memcached.StatusKeyEEXISTS {
		t.Errorf("SET stale CAS: %s, want KEY_EEXISTS", r.Status)
	}
	if r := kv.do(memcached.OpAppend, vb, 0, nil, key, []byte("+")); r.Status != memcached.StatusSuccess {
		t.Errorf("APPEND: %s", r.Status)
	}
	r = kv.do(memcached.OpGAT, vb, 0, expExtras(100), key, nil)
	if r.Status != memcached.StatusSuccess || string(r.Value) != "v1+" || len(r.Key) != 0 {
		t.Errorf("GAT: %s key %q value %q, want v1+ and no key", r.Status, r.Key, r.Value)
	}
	if r := kv.do(memcached.OpTouch, vb, 0, expExtras(100), []byte("missing"), nil); r.Status != memcached.StatusKeyENOENT {
		t.Errorf("TOUCH missing: %s", r.Status)
	}
	r = kv.do(memcached.OpGetK, vb, 0, nil, []byte("missing"), nil)
	if r.Status != memcached.StatusKeyENOENT || string(r.Key) != "missing" {
		t.Errorf("GETK miss: %s key %q, want KEY_ENOENT with the key", r.Status, r.Key)
	}
	r = kv.do(memcached.OpIncrement, vb, 0, arithExtras(5, 100, 0), []byte("ctr"), nil)
	if r.Status != memcached.StatusSuccess || binary.BigEndian.Uint64(r.Value) != 100 {
		t.Errorf("INCR create: %s %x", r.Status, r.Value)
	}
	r = kv.do(memcached.OpIncrement, vb, 0, arithExtras(5, 100, 0), []byte("ctr"), nil)
	if r.Status != memcached.StatusSuccess || binary.BigEndian.Uint64(r.Value) != 105 {
		t.Errorf("INCR: %s %x, want 105", r.Status, r.Value)
	}
	if r := kv.do(memcached.OpIncrement, vb, 0, arithExtras(1, 0, 0), key, nil); r.Status != memcached.StatusDeltaBadval {
		t.Errorf("INCR non-numeric: %s", r.Status)
	}
	r = kv.do(memcached.OpDelete, vb, 0, nil, key, nil)
	if r.Status != memcached.StatusSuccess || r.CAS == 0 {
		t.Errorf("DELETE: %s cas %d, want SUCCESS and the deletion's CAS (Couchbase)", r.Status, r.CAS)
	}
	if r := kv.do(memcached.OpGet, vb, 0, nil, key, nil); r.Status != memcached.StatusKeyENOENT || len(r.Value) != 0 {
		t.Errorf("GET deleted: %s %q, want KEY_ENOENT, no body", r.Status, r.Value)
	}
	if r := kv.do(memcached.OpSet, vb, 0, nil, key, []byte("v")); r.Status != memcached.StatusEINVAL {
		t.Errorf("SET without extras: %s, want EINVAL", r.Status)
	}
	if r := kv.do(memcached.OpGet, vb, 0, nil, nil, nil); r.Status != memcached.StatusEINVAL {
		t.Errorf("GET without key: %s, want EINVAL", r.Status)
	}
	if r := kv.do(memcached.OpFlush, 0, 0, nil, nil, nil); r.Status != memcached.StatusNotSupported {
		t.Errorf("FLUSH (not allowed): %s, want NOT_SUPPORTED", r.Status)
	}
	if r := kv.do(memcached.OpGATK, vb, 0, nil, key, nil); r.Status != memcached.StatusUnknownCommand {
		t.Errorf("0x23 (IOCTL_GET on Couchbase): %s, want UNKNOWN_COMMAND", r.Status)
	}
}

func TestValueSizeLimit(t *testing.T) {
	c := startCluster(t, Options{Nodes: 1, VBuckets: 1})
	kv := dialKV(t, c.Nodes()[0].KVAddr())
	kv.login("default")
	big := make([]byte, MaxValueLen)
	if r := kv.do(memcached.OpSet, 0, 0, setExtras(0, 0), []byte("big"), big); r.Status != memcached.StatusSuccess {
		t.Errorf("SET 20 MiB: %s, want SUCCESS", r.Status)
	}
	r := kv.do(memcached.OpGet, 0, 0, nil, []byte("big"), nil)
	if r.Status != memcached.StatusSuccess || len(r.Value) != MaxValueLen {
		t.Errorf("GET 20 MiB: %s, %d bytes", r.Status, len(r.Value))
	}
	if r := kv.do(memcached.OpSet, 0, 0, setExtras(0, 0), []byte("big"), append(big, 'x')); r.Status != memcached.StatusE2BIG {
		t.Errorf("SET 20 MiB + 1: %s, want E2BIG", r.Status)
	}
	if r := kv.do(memcached.OpSet, 0, 0, setExtras(0, 0), []byte("big"), make([]byte, MaxValueLen+1000)); r.Status != memcached.StatusE2BIG {
		t.Errorf("SET far above the limit: %s, want E2BIG", r.Status)
	}
	// The stream is still in sync.
	if r := kv.do(memcached.OpNoop, 0, 0, nil, nil, nil); r.Status != memcached.StatusSuccess {
		t.Errorf("NOOP after E2BIG: %s", r.Status)
	}
}

func TestPipelineQuiet(t *testing.T) {
	c := startCluster(t, Options{Nodes: 1, VBuckets: 1})
	kv := dialKV(t, c.Nodes()[0].KVAddr())
	kv.login("default")
	var pkt []byte
	for i := range 100 {
		k := []byte("k" + string(rune('a'+i%26)) + strings.Repeat("x", i))
		pkt = memcached.AppendRequest(pkt, memcached.OpSetQ, 0, uint32(i), 0, setExtras(0, 0), k, []byte("v"))
	}
	pkt = memcached.AppendRequest(pkt, memcached.OpGetKQ, 0, 1000, 0, nil, []byte("kb"+strings.Repeat("x", 1)), nil)
	pkt = memcached.AppendRequest(pkt, memcached.OpGetKQ, 0, 1001, 0, nil, []byte("missing"), nil)
	pkt = memcached.AppendRequest(pkt, memcached.OpAddQ, 0, 1002, 0, setExtras(0, 0), []byte("ka"), []byte("v"))
	pkt = memcached.AppendRequest(pkt, memcached.OpNoop, 0, 1003, 0, nil, nil, nil)
	if _, err := kv.conn.Write(pkt); err != nil {
		t.Fatal(err)
	}
	var got []uint32
	var statuses []memcached.Status
	for {
		r := kv.recv()
		got = append(got, r.Opaque)
		statuses = append(statuses, r.Status)
		if r.Opcode == memcached.OpNoop {
			break
		}
	}
	want := []uint32{1000, 1002, 1003}
	wantSt := []memcached.Status{memcached.StatusSuccess, memcached.StatusKeyEEXISTS, memcached.StatusSuccess}
	if !slicesEqual(got, want) || !slicesEqual(statuses, wantSt) {
		t.Errorf("replies %v %v, want %v %v (quiet successes and misses suppressed, order kept)", got, statuses, want, wantSt)
	}
}

func slicesEqual[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestGetReplicaAndFlush(t *testing.T) {
	c := startCluster(t, Options{Nodes: 2, VBuckets: 8, AllowFlush: true})
	key := []byte("rkey")
	vb := vbmap.VBucket(key, 8)
	active := c.VBucketOwner("default", int(vb))
	var replica *Node
	for _, n := range c.Nodes() {
		if n != active {
			replica = n
		}
	}
	a := dialKV(t, active.KVAddr())
	a.login("default")
	if r := a.do(memcached.OpSet, vb, 0, setExtras(7, 0), key, []byte("val")); r.Status != memcached.StatusSuccess {
		t.Fatalf("SET: %s", r.Status)
	}
	rp := dialKV(t, replica.KVAddr())
	rp.login("default")
	r := rp.do(memcached.OpGetReplica, vb, 0, nil, key, nil)
	if r.Status != memcached.StatusSuccess || string(r.Value) != "val" || binary.BigEndian.Uint32(r.Extras) != 7 {
		t.Errorf("GET_REPLICA on the replica: %s %q %x, want val flags 7", r.Status, r.Value, r.Extras)
	}
	if r := a.do(memcached.OpGetReplica, vb, 0, nil, key, nil); r.Status != memcached.StatusNotMyVBucket {
		t.Errorf("GET_REPLICA on the active: %s, want NOT_MY_VBUCKET", r.Status)
	}
	if r := a.do(memcached.OpFlush, 0, 0, nil, nil, nil); r.Status != memcached.StatusSuccess {
		t.Fatalf("FLUSH: %s", r.Status)
	}
	if _, ok := c.Get("default", key); ok {
		t.Error("key still present after FLUSH")
	}
	if _, ok := c.ReplicaGet("default", key, 1); ok {
		t.Error("replica copy still present after FLUSH")
	}
}

func TestStat(t *testing.T) {
	c := startCluster(t, Options{Nodes: 1, VBuckets: 4})
	kv := dialKV(t, c.Nodes()[0].KVAddr())
	kv.login("default")
	kv.send(memcached.OpStat, 0, 0, nil, nil, nil)
	stats := map[string]string{}
	for {
		r := kv.recv()
		if r.Status != memcached.StatusSuccess {
			t.Fatalf("STAT: %s", r.Status)
		}
		if len(r.Key) == 0 {
			break
		}
		stats[string(r.Key)] = string(r.Value)
	}
	if stats["vb_active_num"] != "4" || stats["version"] == "" {
		t.Errorf("stats %v: want vb_active_num 4 and a version", stats)
	}
	if r := kv.do(memcached.OpStat, 0, 0, nil, []byte("nosuchgroup"), nil); r.Status != memcached.StatusKeyENOENT {
		t.Errorf("STAT unknown group: %s, want KEY_ENOENT", r.Status)
	}
}

func TestQuit(t *testing.T) {
	c := startCluster(t, Options{Nodes: 1})
	kv := dialKV(t, c.Nodes()[0].KVAddr())
	if r := kv.do(memcached.OpQuit, 0, 0, nil, nil, nil); r.Status != memcached.StatusSuccess {
		t.Errorf("QUIT: %s", r.Status)
	}
	if _, err := kv.tryRecv(5e9); err != io.EOF {
		t.Errorf("after QUIT: %v, want EOF", err)
	}
}
