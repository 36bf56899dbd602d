package sim

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/vbproxy/vbproxy/memcached"
)

// appendCollectionID appends cid as canonical unsigned LEB128, as a client
// prefixes keys.
func appendCollectionID(dst []byte, cid uint32) []byte {
	for cid >= 0x80 {
		dst = append(dst, byte(cid)|0x80)
		cid >>= 7
	}
	return append(dst, byte(cid))
}

// collKey is key prefixed with collection cid.
func collKey(cid uint32, key string) []byte { return append(appendCollectionID(nil, cid), key...) }

func TestDecodeDocKey(t *testing.T) {
	tests := []struct {
		name    string
		key     []byte
		cid     uint32
		logical string
		reason  string
	}{
		// kv_engine docs/Collections.md encodings.
		{"0x00", []byte("\x00k"), 0, "k", ""},
		{"0x7f", []byte("\x7fk"), 0x7f, "k", ""},
		{"0x80", []byte("\x80\x01k"), 0x80, "k", ""},
		{"0x555", []byte("\xd5\x0ak"), 0x555, "k", ""},
		{"0x7fff", []byte("\xff\xff\x01k"), 0x7fff, "k", ""},
		{"0x8000", []byte("\x80\x80\x02k"), 0x8000, "k", ""},
		{"0xcafef00", []byte("\x80\xde\xbf\x65k"), 0xcafef00, "k", ""},
		{"0xcafef00d", []byte("\x8d\xe0\xfb\xd7\x0ck"), 0xcafef00d, "k", ""},
		{"0xffffffff", []byte("\xff\xff\xff\xff\x0fk"), 0xffffffff, "k", ""},
		// kv_engine's 32-bit decode drops a fifth byte's bits beyond bit 31.
		{"fifth byte truncated", []byte("\xff\xff\xff\xff\x7fk"), 0xffffffff, "k", ""},
		{"non-canonical 1 as 2 bytes", []byte("\x81\x00k"), 0, "", "Key contains non-canonical leb128"},
		{"non-canonical 0 as 5 bytes", []byte("\x80\x80\x80\x80\x00k"), 0, "", "Key contains non-canonical leb128"},
		{"truncates to a short value", []byte("\x80\x80\x80\x80\x10k"), 0, "", "Key contains non-canonical leb128"},
		{"no stop byte in 5 bytes", []byte("\x80\x80\x80\x80\x80\x00"), 0, "", "No stop-byte found"},
		{"no stop byte at all", []byte("\x88\x88"), 0, "", "No stop-byte found"},
		{"one byte", []byte("\x00"), 0, "", "Key length must be >= 2"},
		{"no logical key", []byte("\x80\x01"), 0, "", "No logical key found"},
		{"reserved 1", []byte("\x01k"), 0, "", "Invalid collection-id:1"},
		{"reserved 7", []byte("\x07k"), 0, "", "Invalid collection-id:7"},
		{"first user ID", []byte("\x08k"), 8, "k", ""},
		{"250 bytes in the default collection", collKey(0, strings.Repeat("a", 250)), 0, strings.Repeat("a", 250), ""},
		{"251 bytes in the default collection", collKey(0, strings.Repeat("a", 251)), 0, "", "Logical key exceeds 250"},
		{"246 bytes in a collection", collKey(8, strings.Repeat("a", 246)), 8, strings.Repeat("a", 246), ""},
		{"247 bytes in a collection", collKey(8, strings.Repeat("a", 247)), 0, "", "Logical key exceeds 246"},
	}
	for _, tt := range tests {
		cid, logical, reason := decodeDocKey(tt.key)
		if reason != tt.reason || cid != tt.cid || string(logical) != tt.logical {
			t.Errorf("%s: decodeDocKey(%x) = %#x %q %q, want %#x %q %q", tt.name, tt.key, cid, logical, reason, tt.cid, tt.logical, tt.reason)
		}
	}
	for _, cid := range []uint32{0, 8, 0x7f, 0x80, 0x3fff, 0x4000, 0x1fffff, 0x200000, 0xfffffff, 0x10000000, 0xffffffff} {
		if got, rest, reason := decodeCollectionID(appendCollectionID(nil, cid)); got != cid || len(rest) != 0 || reason != "" {
			t.Errorf("round trip %#x: %#x rest %x %q", cid, got, rest, reason)
		}
	}
}

// FuzzDecodeDocKey: decodeDocKey never panics, and an accepted key is its
// canonical re-encoding (except kv_engine's truncated fifth byte).
func FuzzDecodeDocKey(f *testing.F) {
	f.Add([]byte("\x00k"))
	f.Add([]byte("\xff\xff\xff\xff\x0fk"))
	f.Add([]byte("\x81\x00k"))
	f.Add([]byte("\x80\x80\x80\x80\x80\x00"))
	f.Fuzz(func(t *testing.T, key []byte) {
		cid, logical, reason := decodeDocKey(key)
		if reason != "" {
			if cid != 0 || logical != nil {
				t.Fatalf("refused %x but returned %#x %x", key, cid, logical)
			}
			return
		}
		if len(logical) == 0 || cid >= 1 && cid <= 7 || len(logical) > 250 || cid != 0 && len(logical) > 246 {
			t.Fatalf("accepted %x: cid %#x logical %d bytes", key, cid, len(logical))
		}
		prefix := key[:len(key)-len(logical)]
		if len(prefix) < 5 || prefix[4] <= 0x0f {
			if re := appendCollectionID(nil, cid); !bytes.Equal(re, prefix) {
				t.Fatalf("accepted prefix %x of %#x, canonical %x", prefix, cid, re)
			}
		}
	})
}

// collectionsClient is a connection with XERROR and Collections on bucket
// "default".
func collectionsClient(t *testing.T, n *Node) *kvClient {
	t.Helper()
	kv := dialKV(t, n.KVAddr())
	r := kv.do(memcached.OpHello, 0, 0, nil, nil, featureList(featureXError, featureSelectBucket, featureCollections))
	if !bytes.Equal(r.Value, featureList(featureXError, featureSelectBucket, featureCollections)) {
		t.Fatalf("HELLO: %x, want collections enabled", r.Value)
	}
	kv.login("default")
	return kv
}

// collectionID asks GET_COLLECTION_ID for path.
func (c *kvClient) collectionID(path string) (memcached.Status, uint64, uint32, []byte) {
	c.t.Helper()
	r := c.do(opGetCollectionID, 0, 0, nil, nil, []byte(path))
	if r.Status != memcached.StatusSuccess {
		return r.Status, 0, 0, r.Value
	}
	if len(r.Extras) != 12 || len(r.Key) != 0 || len(r.Value) != 0 {
		c.t.Fatalf("GET_COLLECTION_ID %q: extras %d key %d value %d, want 12 0 0", path, len(r.Extras), len(r.Key), len(r.Value))
	}
	return r.Status, binary.BigEndian.Uint64(r.Extras), binary.BigEndian.Uint32(r.Extras[8:]), nil
}

// manifestUIDOf returns the manifest_uid of an unknown scope/collection body.
func manifestUIDOf(t *testing.T, body []byte) string {
	t.Helper()
	var v struct {
		Error struct {
			Context string `json:"context"`
		} `json:"error"`
		ManifestUID string `json:"manifest_uid"`
	}
	if err := json.Unmarshal(body, &v); err != nil || v.Error.Context == "" {
		t.Fatalf("body %q: %v, want {\"error\":{\"context\":...},\"manifest_uid\":...}", body, err)
	}
	return v.ManifestUID
}

func TestGetCollectionID(t *testing.T) {
	c := startCluster(t, Options{Nodes: 1})
	if _, err := c.CreateScope("default", "app"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateCollection("default", "app", "c1"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateCollection("default", "_default", "c2"); err != nil {
		t.Fatal(err)
	}
	uid := c.ManifestUID("default")
	if uid != 4 {
		t.Fatalf("manifest uid %d after three changes, want 4 (7.6 starts at 1)", uid)
	}
	kv := collectionsClient(t, c.Nodes()[0])
	tests := []struct {
		path   string
		status memcached.Status
		cid    uint32
	}{
		{".", memcached.StatusSuccess, 0},
		{"_default._default", memcached.StatusSuccess, 0},
		{"_default.", memcached.StatusSuccess, 0},
		{"app.c1", memcached.StatusSuccess, 10},
		{".c2", memcached.StatusSuccess, 11},
		{"_system._query", memcached.StatusSuccess, 9},
		{"_system._mobile", memcached.StatusSuccess, 8},
		{"app.nope", statusUnknownCollection, 0},
		{"app", memcached.StatusEINVAL, 0},
		{"app.c1.x", memcached.StatusEINVAL, 0},
		{"", memcached.StatusEINVAL, 0},
		{"nope.c1", statusUnknownScope, 0},
		{"bad name.c1", memcached.StatusEINVAL, 0},
		{"$app.c1", memcached.StatusEINVAL, 0},
		{"app.c" + strings.Repeat("x", 251), memcached.StatusEINVAL, 0},
	}
	for _, tt := range tests {
		status, gotUID, cid, body := kv.collectionID(tt.path)
		if status != tt.status || cid != tt.cid {
			t.Errorf("GET_COLLECTION_ID %q: %s cid %d, want %s cid %d", tt.path, status, cid, tt.status, tt.cid)
			continue
		}
		switch status {
		case memcached.StatusSuccess:
			if gotUID != uid {
				t.Errorf("%q: manifest uid %d, want %d", tt.path, gotUID, uid)
			}
		case statusUnknownScope, statusUnknownCollection:
			if got := manifestUIDOf(t, body); got != "4" {
				t.Errorf("%q: manifest_uid %q, want \"4\"", tt.path, got)
			}
		}
	}
	// The path may be in the key; not in both, nor with a vBucket.
	if r := kv.do(opGetCollectionID, 0, 0, nil, []byte("app.c1"), nil); r.Status != memcached.StatusSuccess || binary.BigEndian.Uint32(r.Extras[8:]) != 10 {
		t.Errorf("path in the key: %s", r.Status)
	}
	if r := kv.do(opGetCollectionID, 0, 0, nil, []byte("app.c1"), []byte("app.c1")); r.Status != memcached.StatusEINVAL {
		t.Errorf("path in key and value: %s, want EINVAL", r.Status)
	}
	if r := kv.do(opGetCollectionID, 3, 0, nil, nil, []byte("app.c1")); r.Status != memcached.StatusEINVAL {
		t.Errorf("vBucket 3: %s, want EINVAL", r.Status)
	}
	// Without XERROR and collections, an unknown collection is EINVAL.
	plain := dialKV(t, c.Nodes()[0].KVAddr())
	plain.login("default")
	if r := plain.do(opGetCollectionID, 0, 0, nil, nil, []byte("app.nope")); r.Status != memcached.StatusEINVAL {
		t.Errorf("unknown collection, no XERROR/collections: %s, want EINVAL", r.Status)
	}
	if r := plain.do(opGetCollectionID, 0, 0, nil, nil, []byte("app.c1")); r.Status != memcached.StatusSuccess {
		t.Errorf("known collection without collections negotiated: %s, want SUCCESS", r.Status)
	}
}

func TestCollectionsKV(t *testing.T) {
	c := startCluster(t, Options{Nodes: 2, VBuckets: 16})
	for _, name := range []string{"c1", "c2"} {
		if _, err := c.CreateCollection("default", "_default", name); err != nil {
			t.Fatal(err)
		}
	}
	c1, _ := c.CollectionID("default", "_default", "c1")
	c2, _ := c.CollectionID("default", "_default", "c2")
	// route sends a collection key to the active node of the logical key's
	// vBucket.
	clients := map[*Node]*kvClient{}
	route := func(logical string) (*kvClient, uint16) {
		vb := vbucketOf([]byte(logical), 16)
		n := c.VBucketOwner("default", vb)
		if clients[n] == nil {
			clients[n] = collectionsClient(t, n)
		}
		return clients[n], uint16(vb)
	}
	kv, vb := route("doc")
	for cid, val := range map[uint32]string{0: "in default", c1: "in c1", c2: "in c2"} {
		if r := kv.do(memcached.OpSet, vb, 0, setExtras(0, 0), collKey(cid, "doc"), []byte(val)); r.Status != memcached.StatusSuccess {
			t.Fatalf("SET cid %d: %s %q", cid, r.Status, r.Value)
		}
	}
	for cid, want := range map[uint32]string{0: "in default", c1: "in c1", c2: "in c2"} {
		r := kv.do(memcached.OpGetK, vb, 0, nil, collKey(cid, "doc"), nil)
		if r.Status != memcached.StatusSuccess || string(r.Value) != want || !bytes.Equal(r.Key, collKey(cid, "doc")) {
			t.Errorf("GETK cid %d: %s %q key %x, want %q with the prefixed key", cid, r.Status, r.Value, r.Key, want)
		}
	}
	// The oracle hashes the logical key; the default collection is what
	// clients without collections see.
	if v, ok := c.GetFrom("default", "_default", "c1", []byte("doc")); !ok || string(v) != "in c1" {
		t.Errorf("GetFrom c1: %q %v", v, ok)
	}
	if v, ok := c.Get("default", []byte("doc")); !ok || string(v) != "in default" {
		t.Errorf("Get: %q %v", v, ok)
	}
	plainNode := c.VBucketOwner("default", int(vb))
	plain := dialKV(t, plainNode.KVAddr())
	plain.login("default")
	if r := plain.do(memcached.OpGet, vb, 0, nil, []byte("doc"), nil); string(r.Value) != "in default" {
		t.Errorf("GET without collections: %s %q, want the default collection's", r.Status, r.Value)
	}
	// Replicas hold every collection.
	replica := c.topo.Load().maps[0].chains[vb][1]
	rk := collectionsClient(t, replica)
	if r := rk.do(memcached.OpGetReplica, vb, 0, nil, collKey(c1, "doc"), nil); r.Status != memcached.StatusSuccess || string(r.Value) != "in c1" {
		t.Errorf("GET_REPLICA c1 on the replica: %s %q", r.Status, r.Value)
	}

	// Key validation.
	long := func(n int) string { return strings.Repeat("k", n) }
	keyTests := []struct {
		name string
		key  []byte
		want memcached.Status
	}{
		{"reserved ID", collKey(3, "doc"), memcached.StatusEINVAL},
		{"non-canonical", []byte("\x80\x00doc"), memcached.StatusEINVAL},
		{"no logical key", []byte{0x80, 0x01}, memcached.StatusEINVAL},
		{"unknown collection", collKey(99, "doc"), statusUnknownCollection},
		{"251-byte key field, default collection", collKey(0, long(250)), memcached.StatusKeyENOENT},
		{"246 bytes in c1", collKey(c1, long(246)), memcached.StatusKeyENOENT},
		{"247 bytes in c1", collKey(c1, long(247)), memcached.StatusEINVAL},
		{"252-byte key field", collKey(0, long(251)), memcached.StatusEINVAL},
	}
	for _, tt := range keyTests {
		// Valid keys go to the node of their logical key's vBucket.
		k, kvb := kv, vb
		if _, l, reason := decodeDocKey(tt.key); reason == "" {
			k, kvb = route(string(l))
		}
		if r := k.do(memcached.OpGet, kvb, 0, nil, tt.key, nil); r.Status != tt.want {
			t.Errorf("%s: GET %s %q, want %s", tt.name, r.Status, r.Value, tt.want)
		}
	}
	// An unknown collection wins over NOT_MY_VBUCKET, as in kv_engine.
	other := (vb + 1) % 16
	for c.VBucketOwner("default", int(other)) == plainNode {
		other = (other + 1) % 16
	}
	if r := kv.do(memcached.OpGet, other, 0, nil, collKey(99, "doc"), nil); r.Status != statusUnknownCollection {
		t.Errorf("unknown collection on a foreign vBucket: %s, want UnknownCollection", r.Status)
	}

	// Drop c1: its documents go, its ID stays unknown, a recreated c1 has a
	// new ID and no documents.
	uid, err := c.DropCollection("default", "_default", "c1")
	if err != nil {
		t.Fatal(err)
	}
	r := kv.do(memcached.OpGet, vb, 0, nil, collKey(c1, "doc"), nil)
	if r.Status != statusUnknownCollection || manifestUIDOf(t, r.Value) != uidHex(uid) {
		t.Errorf("GET in dropped c1: %s %q, want UnknownCollection with manifest_uid %x", r.Status, r.Value, uid)
	}
	if _, err := c.CreateCollection("default", "_default", "c1"); err != nil {
		t.Fatal(err)
	}
	newC1, _ := c.CollectionID("default", "_default", "c1")
	if newC1 == c1 {
		t.Fatalf("recreated c1 has the old ID %d", c1)
	}
	if r := kv.do(memcached.OpGet, vb, 0, nil, collKey(newC1, "doc"), nil); r.Status != memcached.StatusKeyENOENT {
		t.Errorf("GET in recreated c1: %s %q, want KEY_ENOENT", r.Status, r.Value)
	}
	if r := kv.do(memcached.OpGet, vb, 0, nil, collKey(c1, "doc"), nil); r.Status != statusUnknownCollection {
		t.Errorf("GET with the old c1 ID: %s, want UnknownCollection", r.Status)
	}
	if v, ok := c.GetFrom("default", "_default", "c2", []byte("doc")); !ok || string(v) != "in c2" {
		t.Errorf("c2 after dropping c1: %q %v", v, ok)
	}
	for _, n := range c.Nodes() {
		for vb, s := range n.data[0] {
			if s != nil && s.find(c1) != nil {
				t.Errorf("node %v vb %d still holds dropped collection %d", n, vb, c1)
			}
		}
	}

	// Dropping the default collection: clients without collections get
	// EINVAL, or UnknownCollection with XERROR.
	if _, err := c.DropCollection("default", "_default", "_default"); err != nil {
		t.Fatal(err)
	}
	if r := plain.do(memcached.OpGet, vb, 0, nil, []byte("doc"), nil); r.Status != memcached.StatusEINVAL {
		t.Errorf("GET without collections, default dropped: %s, want EINVAL", r.Status)
	}
	xerr := dialKV(t, plainNode.KVAddr())
	xerr.do(memcached.OpHello, 0, 0, nil, nil, featureList(featureXError))
	xerr.login("default")
	if r := xerr.do(memcached.OpGet, vb, 0, nil, []byte("doc"), nil); r.Status != statusUnknownCollection {
		t.Errorf("GET with XERROR, default dropped: %s, want UnknownCollection", r.Status)
	}
}

func TestCollectionsREST(t *testing.T) {
	c := startCluster(t, Options{Nodes: 2})
	base := c.SeedURL() + "/pools/default/buckets/default/scopes"
	do := func(method, path string, form url.Values) (int, string) {
		t.Helper()
		code, body := httpDo(t, method, base+path, testUser, testPass, form)
		return code, string(body)
	}
	code, body := do("GET", "", nil)
	want := `{"uid":"1","scopes":[{"name":"_default","uid":"0","collections":[{"name":"_default","uid":"0","maxTTL":0,"history":false}]},` +
		`{"name":"_system","uid":"8","collections":[{"name":"_query","uid":"9","maxTTL":0,"history":false},{"name":"_mobile","uid":"8","maxTTL":0,"history":false}]}]}`
	if code != 200 || body != want {
		t.Errorf("GET scopes: %d %s\nwant %s", code, body, want)
	}
	rev := c.Revision()
	steps := []struct {
		method, path string
		form         url.Values
		code         int
		body         string
	}{
		{"POST", "", url.Values{"name": {"app"}}, 200, `{"uid":"2"}`},
		{"POST", "", url.Values{"name": {"app"}}, 400, `{"errors":{"_":"Scope with name \"app\" already exists"}}`},
		{"POST", "", url.Values{"name": {"_x"}}, 400, `{"errors":{"name":"First character must not be _ or %"}}`},
		{"POST", "", url.Values{"name": {"a b"}}, 400, `{"errors":{"name":"Can only contain characters A-Z, a-z, 0-9 and the following symbols _ - %"}}`},
		{"POST", "", url.Values{"name": {strings.Repeat("s", 252)}}, 400, `{"errors":{"name":"Name length (252) must be in the range from 1 to 251, inclusive"}}`},
		{"POST", "", url.Values{}, 400, `{"errors":{"name":"The value must be supplied"}}`},
		{"POST", "", url.Values{"name": {"x"}, "color": {"red"}}, 400, `{"errors":{"color":"Unsupported key"}}`},
		{"POST", "/app/collections", url.Values{"name": {"c1"}}, 200, `{"uid":"3"}`},
		{"POST", "/app/collections", url.Values{"name": {"c1"}}, 400, `{"errors":{"_":"Collection with name \"c1\" in scope \"app\" already exists"}}`},
		{"POST", "/app/collections", url.Values{"name": {"c2"}, "maxTTL": {"0"}, "history": {"false"}}, 200, `{"uid":"4"}`},
		{"POST", "/app/collections", url.Values{"name": {"c3"}, "maxTTL": {"60"}}, 400, `{"errors":{"maxTTL":"The simulator supports only maxTTL=0 (the bucket's)"}}`},
		{"POST", "/nope/collections", url.Values{"name": {"c1"}}, 404, `{"errors":{"_":"Scope with name \"nope\" is not found"}}`},
		{"POST", "/_system/collections", url.Values{"name": {"c1"}}, 400, `{"errors":{"_":"cannot create collection in '_system' scope"}}`},
		{"DELETE", "/app/collections/nope", nil, 404, `{"errors":{"_":"Collection with name \"nope\" in scope \"app\" is not found"}}`},
		{"DELETE", "/_system/collections/_query", nil, 400, `{"errors":{"_":"Cannot drop system collection \"_query\" for scope \"_system\""}}`},
		{"DELETE", "/_default", nil, 400, `{"errors":{"_":"Deleting _default scope is not allowed"}}`},
		{"DELETE", "/_system", nil, 400, `{"errors":{"_":"Deleting _system scope is not allowed"}}`},
		{"DELETE", "/app/collections/c1", nil, 200, `{"uid":"5"}`},
		{"DELETE", "/app", nil, 200, `{"uid":"6"}`},
		{"DELETE", "/app", nil, 404, `{"errors":{"_":"Scope with name \"app\" is not found"}}`},
	}
	for _, s := range steps {
		code, body := do(s.method, s.path, s.form)
		if code != s.code || body != s.body {
			t.Errorf("%s %s %v: %d %s, want %d %s", s.method, s.path, s.form, code, body, s.code, s.body)
		}
	}
	// Five changes: five more revisions, each config naming its manifest.
	if got := c.Revision(); got != rev+5 {
		t.Errorf("revision %d after 5 manifest changes, want %d", got, rev+5)
	}
	var cfg struct {
		UID  string   `json:"collectionsManifestUid"`
		Caps []string `json:"bucketCapabilities"`
	}
	if err := json.Unmarshal(c.ConfigJSON("default"), &cfg); err != nil || cfg.UID != "6" || !slices.Contains(cfg.Caps, "collections") {
		t.Errorf("config collectionsManifestUid %q capabilities %v (%v), want \"6\" with collections", cfg.UID, cfg.Caps, err)
	}
	if code, _ := httpDo(t, "GET", c.SeedURL()+"/pools/default/buckets/nope/scopes", testUser, testPass, nil); code != 404 {
		t.Errorf("unknown bucket: %d, want 404", code)
	}
	if code, _ := httpDo(t, "GET", base, "", "", nil); code != 401 {
		t.Errorf("no credentials: %d, want 401", code)
	}
	var me *ManifestError
	if _, err := c.CreateScope("default", "_bad"); !errors.As(err, &me) || !errors.Is(err, ErrBadName) || me.Status != 400 {
		t.Errorf("CreateScope _bad: %v, want a 400 ManifestError wrapping ErrBadName", err)
	}
	if _, err := c.DropCollection("default", "x", "y"); !errors.Is(err, ErrUnknownScope) {
		t.Errorf("DropCollection in an unknown scope: %v, want ErrUnknownScope", err)
	}
	if _, err := c.CreateScope("nope", "s"); !errors.Is(err, ErrUnknownBucket) {
		t.Errorf("CreateScope in an unknown bucket: %v, want ErrUnknownBucket", err)
	}
}

func TestNoCollections(t *testing.T) {
	c := startCluster(t, Options{Nodes: 1, NoCollections: true})
	n := c.Nodes()[0]
	kv := dialKV(t, n.KVAddr())
	r := kv.do(memcached.OpHello, 0, 0, nil, nil, featureList(featureXError, featureCollections))
	if !bytes.Equal(r.Value, featureList(featureXError)) {
		t.Errorf("HELLO: %x, want collections declined", r.Value)
	}
	kv.login("default")
	if r := kv.do(opGetCollectionID, 0, 0, nil, nil, []byte(".")); r.Status != memcached.StatusNotSupported {
		t.Errorf("GET_COLLECTION_ID: %s, want NOT_SUPPORTED", r.Status)
	}
	cfg := string(c.ConfigJSON("default"))
	if strings.Contains(cfg, "collections") || strings.Contains(cfg, "collectionsManifestUid") {
		t.Errorf("config mentions collections: %.300s", cfg)
	}
	if code, _ := httpDo(t, "GET", c.SeedURL()+"/pools/default/buckets/default/scopes", testUser, testPass, nil); code != 404 {
		t.Errorf("GET scopes: %d, want 404", code)
	}
	if _, err := c.CreateScope("default", "s"); !errors.Is(err, ErrNoCollections) {
		t.Errorf("CreateScope: %v, want ErrNoCollections", err)
	}
	if _, ok := c.CollectionID("default", "_default", "_default"); ok {
		t.Error("CollectionID found a collection without collections")
	}
	key := []byte("k")
	vb := uint16(vbucketOf(key, c.NumVBuckets()))
	if r := kv.do(memcached.OpSet, vb, 0, setExtras(0, 0), key, []byte("v")); r.Status != memcached.StatusSuccess {
		t.Errorf("SET: %s", r.Status)
	}
	if v, ok := c.Get("default", key); !ok || string(v) != "v" {
		t.Errorf("Get: %q %v", v, ok)
	}
}
