package sim

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
	"github.com/vbproxy/vbproxy/vbmap"
)

// featureList encodes HELLO features.
func featureList(fs ...uint16) []byte {
	var b []byte
	for _, f := range fs {
		b = binary.BigEndian.AppendUint16(b, f)
	}
	return b
}

// versionExtras encodes GET_CLUSTER_CONFIG's known-version extras.
func versionExtras(epoch, rev int64) []byte {
	b := binary.BigEndian.AppendUint64(nil, uint64(epoch))
	return binary.BigEndian.AppendUint64(b, uint64(rev))
}

// recvPacket reads the next response or server request.
func (c *kvClient) recvPacket(timeout time.Duration) (resp, error) {
	if err := c.conn.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return resp{}, err
	}
	var p memcached.Packet
	if err := c.r.ReadServerPacket(&p); err != nil {
		return resp{}, err
	}
	return resp{Header: p.Header, Extras: bytes.Clone(p.Extras), Key: bytes.Clone(p.Key), Value: bytes.Clone(p.Value)}, nil
}

func TestHelloNegotiation(t *testing.T) {
	c := startCluster(t, Options{Nodes: 1})
	kv := dialKV(t, c.Nodes()[0].KVAddr())
	tests := []struct {
		name string
		ask  []uint16
		want []uint16
	}{
		{"ascending, duplicates and unknown codes dropped",
			[]uint16{featureSelectBucket, featureXError, 0x04, featureXError, 0x0b, featureTCPNoDelay, 0x0a, 0x06, 0x0f, 0x0e, 0xffff},
			[]uint16{featureTCPNoDelay, featureXError, featureSelectBucket}},
		{"duplex and full notifications",
			[]uint16{featureClustermapNotif, featureDuplex},
			[]uint16{featureDuplex, featureClustermapNotif}},
		{"brief wins over full",
			[]uint16{featureDuplex, featureClustermapNotif, featureClustermapNotifBrief},
			[]uint16{featureDuplex, featureClustermapNotifBrief}},
		{"what gocbcore asks for",
			[]uint16{0x02, 0x06, featureSelectBucket, featureDedupeNMVB, featureKnownVersion, featureDuplex, featureXError, featureClustermapNotifBrief},
			[]uint16{featureXError, featureSelectBucket, featureDuplex, featureKnownVersion, featureDedupeNMVB, featureClustermapNotifBrief}},
		{"empty list resets everything", nil, nil},
	}
	for _, tt := range tests {
		r := kv.do(memcached.OpHello, 0, 0, nil, []byte("agent"), featureList(tt.ask...))
		if r.Status != memcached.StatusSuccess || !bytes.Equal(r.Value, featureList(tt.want...)) {
			t.Errorf("%s: HELLO %x -> %s %x, want SUCCESS %x", tt.name, featureList(tt.ask...), r.Status, r.Value, featureList(tt.want...))
		}
	}

	// A notification without Duplex is EINVAL and keeps what was enabled.
	kv.do(memcached.OpHello, 0, 0, nil, nil, featureList(featureXError))
	for _, f := range []uint16{featureClustermapNotif, featureClustermapNotifBrief} {
		if r := kv.do(memcached.OpHello, 0, 0, nil, nil, featureList(featureXError, f)); r.Status != memcached.StatusEINVAL {
			t.Errorf("HELLO 0x%02x without Duplex: %s, want EINVAL", f, r.Status)
		}
	}
	// XERROR still on: NO_BUCKET is answered instead of closing.
	if r := kv.do(memcached.OpGet, 0, 0, nil, []byte("k"), nil); r.Status != memcached.StatusNoBucket {
		t.Errorf("GET after the failed HELLO: %s, want NO_BUCKET (XERROR kept)", r.Status)
	}
	if r := kv.do(memcached.OpHello, 0, 0, nil, nil, []byte{1}); r.Status != memcached.StatusEINVAL {
		t.Errorf("HELLO odd value: %s, want EINVAL", r.Status)
	}
}

func TestHelloNotificationsOff(t *testing.T) {
	c := startCluster(t, Options{Nodes: 1, NoClustermapPush: true})
	kv := dialKV(t, c.Nodes()[0].KVAddr())
	ask := featureList(featureXError, featureDuplex, featureClustermapNotif, featureClustermapNotifBrief)
	r := kv.do(memcached.OpHello, 0, 0, nil, nil, ask)
	if want := featureList(featureXError, featureDuplex); !bytes.Equal(r.Value, want) {
		t.Errorf("HELLO with push off: %x, want %x", r.Value, want)
	}
	c.SetClustermapPush(true)
	if !c.ClustermapPush() {
		t.Fatal("ClustermapPush() false after SetClustermapPush(true)")
	}
	r = kv.do(memcached.OpHello, 0, 0, nil, nil, ask)
	if want := featureList(featureXError, featureDuplex, featureClustermapNotifBrief); !bytes.Equal(r.Value, want) {
		t.Errorf("HELLO with push on: %x, want %x", r.Value, want)
	}
}

// terse is the part of a terse config the tests check.
type terse struct {
	Rev                int64    `json:"rev"`
	RevEpoch           int64    `json:"revEpoch"`
	Name               string   `json:"name"`
	BucketCapabilities []string `json:"bucketCapabilities"`
	NodesExt           []struct {
		Hostname string         `json:"hostname"`
		ThisNode bool           `json:"thisNode"`
		Services map[string]int `json:"services"`
	} `json:"nodesExt"`
	VBucketServerMap struct {
		ServerList []string `json:"serverList"`
	} `json:"vBucketServerMap"`
}

func parseTerse(t *testing.T, b []byte) terse {
	t.Helper()
	var cfg terse
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatalf("config %.200q: %v", b, err)
	}
	return cfg
}

func TestGetClusterConfig(t *testing.T) {
	c := startCluster(t, Options{Nodes: 3})
	n := c.Nodes()[1]
	kv := dialKV(t, n.KVAddr())
	kv.login("default")

	r := kv.do(memcached.OpGetClusterConfig, 0, 0, nil, nil, nil)
	if r.Status != memcached.StatusSuccess || r.DataType != 0 {
		t.Fatalf("GET_CLUSTER_CONFIG: %s datatype %d", r.Status, r.DataType)
	}
	cfg := parseTerse(t, r.Value)
	if cfg.Rev != c.Revision() || cfg.RevEpoch != 1 || cfg.Name != "default" || !slices.Contains(cfg.BucketCapabilities, "cccp") {
		t.Errorf("config rev %d epoch %d name %q capabilities %v, want rev %d epoch 1, default, with cccp",
			cfg.Rev, cfg.RevEpoch, cfg.Name, cfg.BucketCapabilities, c.Revision())
	}
	// $HOST stands for the answering node, only there.
	wantServers := []string{c.Nodes()[0].KVAddr(), "$HOST:" + portOf(n.KVAddr()), c.Nodes()[2].KVAddr()}
	if !slices.Equal(cfg.VBucketServerMap.ServerList, wantServers) {
		t.Errorf("serverList %v, want %v", cfg.VBucketServerMap.ServerList, wantServers)
	}
	for i, e := range cfg.NodesExt {
		self := i == 1
		if e.ThisNode != self || (e.Hostname == "") != self {
			t.Errorf("nodesExt[%d]: hostname %q thisNode %v; only the answering node (1) has no hostname and thisNode", i, e.Hostname, e.ThisNode)
		}
	}
	m, err := vbmap.Parse(r.Value, vbmap.ParseOptions{Host: n.Host()})
	if err != nil || m.Nodes()[1].Addr != n.KVAddr() {
		t.Fatalf("vbmap.Parse with the node's host: %v", err)
	}

	if _, err := c.AddNode(); err != nil {
		t.Fatal(err)
	}
	rev := c.Revision()
	tests := []struct {
		name   string
		extras []byte
		want   memcached.Status
		body   bool
	}{
		{"older revision", versionExtras(1, rev-1), memcached.StatusSuccess, true},
		{"older epoch", versionExtras(-1, rev+10), memcached.StatusSuccess, true},
		{"same version", versionExtras(1, rev), memcached.StatusSuccess, false},
		{"newer version", versionExtras(1, rev+5), memcached.StatusSuccess, false},
		{"newer epoch", versionExtras(2, 1), memcached.StatusSuccess, false},
		{"revision 0", versionExtras(1, 0), memcached.StatusEINVAL, false},
		{"epoch 0", versionExtras(0, 3), memcached.StatusEINVAL, false},
		{"epoch -2", versionExtras(-2, 3), memcached.StatusEINVAL, false},
		{"8 bytes of extras", make([]byte, 8), memcached.StatusEINVAL, false},
	}
	for _, tt := range tests {
		r := kv.do(memcached.OpGetClusterConfig, 0, 0, tt.extras, nil, nil)
		if r.Status != tt.want || (tt.want == memcached.StatusSuccess && (len(r.Value) > 0) != tt.body) {
			t.Errorf("%s: %s with %d bytes, want %s (config %v)", tt.name, r.Status, len(r.Value), tt.want, tt.body)
		}
		if tt.body && parseTerse(t, r.Value).Rev != rev {
			t.Errorf("%s: body rev %d, want %d", tt.name, parseTerse(t, r.Value).Rev, rev)
		}
	}
	if r := kv.do(memcached.OpGetClusterConfig, 0, 0, nil, []byte("k"), nil); r.Status != memcached.StatusEINVAL {
		t.Errorf("with a key: %s, want EINVAL", r.Status)
	}
}

func TestGetClusterConfigWithoutBucket(t *testing.T) {
	c := startCluster(t, Options{Nodes: 2})
	n := c.Nodes()[0]
	kv := dialKV(t, n.KVAddr())
	kv.do(memcached.OpHello, 0, 0, nil, nil, featureList(featureXError))
	if r := kv.do(memcached.OpGetClusterConfig, 0, 0, nil, nil, nil); r.Status != memcached.StatusEAccess {
		t.Errorf("before auth: %s, want EACCESS", r.Status)
	}
	if r := kv.do(memcached.OpSASLAuth, 0, 0, nil, []byte("PLAIN"), []byte("\x00"+testUser+"\x00"+testPass)); r.Status != memcached.StatusSuccess {
		t.Fatalf("PLAIN: %s", r.Status)
	}
	r := kv.do(memcached.OpGetClusterConfig, 0, 0, nil, nil, nil)
	var g struct {
		Rev      int64 `json:"rev"`
		RevEpoch int64 `json:"revEpoch"`
		NodesExt []struct {
			Hostname string         `json:"hostname"`
			ThisNode bool           `json:"thisNode"`
			Services map[string]int `json:"services"`
		} `json:"nodesExt"`
		ClusterCapabilitiesVer []int `json:"clusterCapabilitiesVer"`
		VBucketServerMap       any   `json:"vBucketServerMap"`
	}
	if err := json.Unmarshal(r.Value, &g); r.Status != memcached.StatusSuccess || err != nil {
		t.Fatalf("global config: %s %v", r.Status, err)
	}
	if g.Rev != c.Revision() || g.RevEpoch != 1 || len(g.NodesExt) != 2 || g.VBucketServerMap != nil || !slices.Equal(g.ClusterCapabilitiesVer, []int{1, 0}) {
		t.Errorf("global config %s, want rev %d, epoch 1, 2 nodes, no vBucketServerMap", r.Value, c.Revision())
	}
	if !g.NodesExt[0].ThisNode || g.NodesExt[0].Hostname != "" || g.NodesExt[1].Hostname != c.Nodes()[1].Host() ||
		g.NodesExt[0].Services["kv"] != n.kvPort {
		t.Errorf("global nodesExt %+v: want this node first without hostname", g.NodesExt)
	}
}

func TestNotMyVBucketDedupe(t *testing.T) {
	c := startCluster(t, Options{Nodes: 2})
	n := c.Nodes()[0]
	_, other := ownedVB(t, c, n)
	kv := dialKV(t, n.KVAddr())
	kv.do(memcached.OpHello, 0, 0, nil, nil, featureList(featureXError, featureSelectBucket, featureDedupeNMVB))
	kv.login("default")
	nmvb := func() resp {
		t.Helper()
		r := kv.do(memcached.OpGet, other, 0, nil, []byte("k"), nil)
		if r.Status != memcached.StatusNotMyVBucket {
			t.Fatalf("GET on vb %d: %s, want NOT_MY_VBUCKET", other, r.Status)
		}
		return r
	}
	if r := nmvb(); parseTerse(t, r.Value).Rev != c.Revision() {
		t.Fatalf("first NMVB: %.100q, want the config", r.Value)
	}
	if r := nmvb(); len(r.Value) != 0 {
		t.Errorf("second NMVB: %d bytes, want none (the client has this version)", len(r.Value))
	}
	if _, err := c.AddNode(); err != nil {
		t.Fatal(err)
	}
	if r := nmvb(); parseTerse(t, r.Value).Rev != c.Revision() {
		t.Errorf("NMVB after a change: %.100q, want the new config (rev %d)", r.Value, c.Revision())
	}
	// A version learnt through GET_CLUSTER_CONFIG counts too.
	if _, err := c.AddNode(); err != nil {
		t.Fatal(err)
	}
	kv.do(memcached.OpGetClusterConfig, 0, 0, nil, nil, nil)
	if r := nmvb(); len(r.Value) != 0 {
		t.Errorf("NMVB after GET_CLUSTER_CONFIG: %d bytes, want none", len(r.Value))
	}

	// Without the feature every NMVB carries the config.
	plain := dialKV(t, n.KVAddr())
	plain.login("default")
	for i := range 2 {
		if r := plain.do(memcached.OpGet, other, 0, nil, []byte("k"), nil); len(r.Value) == 0 {
			t.Errorf("NMVB %d without dedupe: no body", i)
		}
	}
}

// pushClient is a connection that negotiated Duplex and a notification
// mode on bucket "default".
func pushClient(t *testing.T, n *Node, mode uint16) *kvClient {
	t.Helper()
	kv := dialKV(t, n.KVAddr())
	r := kv.do(memcached.OpHello, 0, 0, nil, []byte("push"), featureList(featureXError, featureSelectBucket, featureDuplex, mode))
	if !bytes.Contains(r.Value, featureList(mode)) {
		t.Fatalf("HELLO: %x lacks 0x%02x", r.Value, mode)
	}
	kv.login("default")
	return kv
}

// checkPush checks a notification packet and returns its revision.
func checkPush(t *testing.T, p resp, full bool) int64 {
	t.Helper()
	if p.Magic != memcached.MagicServerRequest || p.Opcode != memcached.OpClustermapChangeNotification ||
		string(p.Key) != "default" || len(p.Extras) != 16 {
		t.Fatalf("push: magic 0x%02x %s key %q extras %d, want 0x82 opcode 0x01 key default 16 bytes", p.Magic, p.Opcode, p.Key, len(p.Extras))
	}
	epoch, rev := int64(binary.BigEndian.Uint64(p.Extras)), int64(binary.BigEndian.Uint64(p.Extras[8:]))
	if epoch != 1 {
		t.Errorf("push epoch %d, want 1", epoch)
	}
	if full {
		if cfg := parseTerse(t, p.Value); cfg.Rev != rev || !bytes.Contains(p.Value, []byte(`"$HOST:`)) {
			t.Errorf("full push: config rev %d (extras rev %d), $HOST present %v", cfg.Rev, rev, bytes.Contains(p.Value, []byte(`"$HOST:`)))
		}
	} else if len(p.Value) != 0 {
		t.Errorf("brief push carries %d bytes, want none", len(p.Value))
	}
	return rev
}

// TestPushOnEveryChange adds a node, rebalances (in batches) and fails the
// node over while two clients (full and brief) keep NOOPs flowing: every
// reply arrives, in order, notifications come between replies with the
// revisions of every change, and the last one is the final revision.
func TestPushOnEveryChange(t *testing.T) {
	c := startCluster(t, Options{Nodes: 2, VBuckets: 64, RebalanceBatch: 8, RebalanceDelay: 20 * time.Millisecond})
	n := c.Nodes()[0]
	for _, tc := range []struct {
		name string
		mode uint16
	}{{"full", featureClustermapNotif}, {"brief", featureClustermapNotifBrief}} {
		t.Run(tc.name, func(t *testing.T) {
			kv := pushClient(t, n, tc.mode)
			start := c.Revision()
			var batches []int64 // the revision of every rebalance batch
			c.afterBatch = func() { batches = append(batches, c.Revision()) }
			changes := make(chan error, 1)
			go func() {
				added, err := c.AddNode()
				if err == nil {
					err = c.Rebalance(context.Background())
				}
				if err == nil {
					err = c.Failover(added)
				}
				changes <- err
			}()
			// Keep NOOPs flowing from another goroutine.
			stop := make(chan struct{})
			sentc := make(chan uint32, 1)
			go func() {
				opaque := uint32(1000)
				defer func() { sentc <- opaque }()
				for {
					select {
					case <-stop:
						return
					case <-time.After(time.Millisecond):
					}
					opaque++
					if _, err := kv.conn.Write(memcached.AppendRequest(nil, memcached.OpNoop, 0, opaque, 0, nil, nil, nil)); err != nil {
						return
					}
				}
			}()
			var revs []int64
			next, last := uint32(1001), uint32(0)
			var changesErr error
			done := false
			for !done || next <= last || revs == nil || revs[len(revs)-1] < c.Revision() {
				if !done && len(changes) > 0 {
					changesErr = <-changes
					done = true
					close(stop)
					last = <-sentc
					continue // everything may be in already
				}
				p, err := kv.recvPacket(10 * time.Second)
				if err != nil {
					t.Fatalf("read: %v (revs %v, rev %d, replies up to %d of %d)", err, revs, c.Revision(), next-1, last)
				}
				if p.Magic == memcached.MagicServerRequest {
					rev := checkPush(t, p, tc.mode == featureClustermapNotif)
					if len(revs) > 0 && rev <= revs[len(revs)-1] || rev <= start {
						t.Fatalf("push rev %d after %v (start %d): not increasing", rev, revs, start)
					}
					revs = append(revs, rev)
					// A reply to the server request is dropped by the node.
					reply := make([]byte, memcached.HeaderLen)
					h := memcached.Header{Magic: memcached.MagicServerResponse, Opcode: memcached.OpClustermapChangeNotification}
					h.Encode(reply)
					if _, err := kv.conn.Write(reply); err != nil {
						t.Fatal(err)
					}
					continue
				}
				if p.Opcode != memcached.OpNoop || p.Opaque != next {
					t.Fatalf("reply %s opaque %d, want NOOP %d", p.Opcode, p.Opaque, next)
				}
				next++
			}
			if changesErr != nil {
				t.Fatal(changesErr)
			}
			// 20ms between batches leaves the pusher time for each one.
			for _, b := range batches {
				if !slices.Contains(revs, b) {
					t.Errorf("pushed revisions %v lack batch revision %d (batches %v)", revs, b, batches)
				}
			}
			if len(batches) < 2 {
				t.Errorf("rebalance batches %v: want several", batches)
			}
		})
	}
}

func TestPushSwitchAndPause(t *testing.T) {
	c := startCluster(t, Options{Nodes: 2})
	n := c.Nodes()[0]
	kv := pushClient(t, n, featureClustermapNotifBrief)
	if _, err := kv.recvPacket(100 * time.Millisecond); err == nil {
		t.Fatal("a push before any change")
	}
	c.SetClustermapPush(false)
	if _, err := c.AddNode(); err != nil {
		t.Fatal(err)
	}
	if p, err := kv.recvPacket(200 * time.Millisecond); err == nil {
		t.Fatalf("push %+v while push is off", p.Header)
	}
	if _, err := c.AddNode(); err != nil {
		t.Fatal(err)
	}
	c.SetClustermapPush(true)
	p, err := kv.recvPacket(5 * time.Second)
	if err != nil {
		t.Fatalf("no push after SetClustermapPush(true): %v", err)
	}
	if rev := checkPush(t, p, false); rev != c.Revision() {
		t.Errorf("push rev %d, want the newest %d", rev, c.Revision())
	}

	c.Pause(n)
	if _, err := c.AddNode(); err != nil {
		t.Fatal(err)
	}
	if p, err := kv.recvPacket(200 * time.Millisecond); err == nil {
		t.Fatalf("push %+v from a paused node", p.Header)
	}
	c.Resume(n)
	p, err = kv.recvPacket(5 * time.Second)
	if err != nil {
		t.Fatalf("no push after Resume: %v", err)
	}
	if rev := checkPush(t, p, false); rev != c.Revision() {
		t.Errorf("push rev %d after resume, want %d", rev, c.Revision())
	}
	// A connection that already has the version is not pushed it again.
	kv.do(memcached.OpGetClusterConfig, 0, 0, nil, nil, nil)
	c.wake()
	if p, err := kv.recvPacket(200 * time.Millisecond); err == nil {
		t.Fatalf("push %+v of a version the client has", p.Header)
	}
}

func TestPushGlobalConfigWithoutBucket(t *testing.T) {
	c := startCluster(t, Options{Nodes: 1})
	kv := dialKV(t, c.Nodes()[0].KVAddr())
	kv.do(memcached.OpHello, 0, 0, nil, nil, featureList(featureXError, featureDuplex, featureClustermapNotif))
	if r := kv.do(memcached.OpSASLAuth, 0, 0, nil, []byte("PLAIN"), []byte("\x00"+testUser+"\x00"+testPass)); r.Status != memcached.StatusSuccess {
		t.Fatalf("PLAIN: %s", r.Status)
	}
	if _, err := c.AddNode(); err != nil {
		t.Fatal(err)
	}
	p, err := kv.recvPacket(5 * time.Second)
	if err != nil {
		t.Fatalf("no push: %v", err)
	}
	var g struct {
		Rev      int64 `json:"rev"`
		NodesExt []any `json:"nodesExt"`
	}
	if p.Magic != memcached.MagicServerRequest || len(p.Key) != 0 || len(p.Extras) != 16 || json.Unmarshal(p.Value, &g) != nil || g.Rev != c.Revision() {
		t.Errorf("push key %q extras %d value %.100q, want the global config (rev %d) with an empty key", p.Key, len(p.Extras), p.Value, c.Revision())
	}
}

// TestGetReplicaOnEveryReplica: with two replicas both replica nodes serve
// the replicated value (flags and CAS of the active's copy); a node that
// holds no copy, and the active itself, answer NOT_MY_VBUCKET with the
// config.
func TestGetReplicaOnEveryReplica(t *testing.T) {
	c := startCluster(t, Options{Nodes: 4, Replicas: 2, VBuckets: 16})
	key := []byte("replicated")
	vb := vbucketOf(key, 16)
	chain := c.topo.Load().maps[0].chains[vb]
	a := dialKV(t, chain[0].KVAddr())
	a.login("default")
	set := a.do(memcached.OpSet, uint16(vb), 0, setExtras(9, 0), key, []byte("v1"))
	if set.Status != memcached.StatusSuccess {
		t.Fatalf("SET: %s", set.Status)
	}
	for i, n := range chain[1:] {
		kv := dialKV(t, n.KVAddr())
		kv.login("default")
		r := kv.do(memcached.OpGetReplica, uint16(vb), 0, nil, key, nil)
		if r.Status != memcached.StatusSuccess || string(r.Value) != "v1" || binary.BigEndian.Uint32(r.Extras) != 9 || r.CAS != set.CAS {
			t.Errorf("GET_REPLICA on replica %d: %s %q flags %x cas %d, want v1 flags 9 cas %d", i+1, r.Status, r.Value, r.Extras, r.CAS, set.CAS)
		}
	}
	var outsider *Node
	for _, n := range c.Nodes() {
		if !slices.Contains(chain, n) {
			outsider = n
		}
	}
	for _, n := range []*Node{outsider, chain[0]} {
		kv := dialKV(t, n.KVAddr())
		kv.login("default")
		r := kv.do(memcached.OpGetReplica, uint16(vb), 0, nil, key, nil)
		if r.Status != memcached.StatusNotMyVBucket || parseTerse(t, r.Value).Rev != c.Revision() {
			t.Errorf("GET_REPLICA on %v (not a replica): %s, want NOT_MY_VBUCKET with the config", n, r.Status)
		}
	}
	// A delete reaches the replicas too.
	if r := a.do(memcached.OpDelete, uint16(vb), 0, nil, key, nil); r.Status != memcached.StatusSuccess {
		t.Fatalf("DELETE: %s", r.Status)
	}
	kv := dialKV(t, chain[1].KVAddr())
	kv.login("default")
	if r := kv.do(memcached.OpGetReplica, uint16(vb), 0, nil, key, nil); r.Status != memcached.StatusKeyENOENT {
		t.Errorf("GET_REPLICA after DELETE: %s, want KEY_ENOENT", r.Status)
	}
}
