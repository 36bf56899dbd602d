package vbmap

import (
	"fmt"
	"slices"
	"sync"
	"testing"
)

func TestRevision(t *testing.T) {
	tests := []struct {
		a, b      Revision
		wantNewer bool
	}{
		{Revision{1, 10}, Revision{1, 9}, true},
		{Revision{1, 9}, Revision{1, 10}, false},
		{Revision{1, 10}, Revision{1, 10}, false},
		{Revision{2, 1}, Revision{1, 9999}, true},  // a higher epoch wins over any rev
		{Revision{1, 9999}, Revision{2, 1}, false}, // ... and loses to a higher epoch
		{Revision{0, 5}, Revision{0, 4}, true},
	}
	for _, tt := range tests {
		if got := tt.a.Newer(tt.b); got != tt.wantNewer {
			t.Errorf("%v.Newer(%v) = %v, want %v", tt.a, tt.b, got, tt.wantNewer)
		}
	}
	if got, want := (Revision{1, 1073}).String(), "1/1073"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got, want := (Revision{0, -1}).String(), "0/-1"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestMapLookups(t *testing.T) {
	m, err := Parse(readTestdata(t, "rebalance-forward.json"), ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		vb          uint16
		active, fwd int
		replicas    []int
	}{
		{0, 0, 0, []int{1}},
		{43, 0, 1, []int{1}},
		{64, 1, 1, []int{0}},
		{127, 1, 2, []int{0}},
		{128, -1, -1, nil}, // out of range
		{65535, -1, -1, nil},
	}
	for _, tt := range tests {
		if got := m.Active(tt.vb); got != tt.active {
			t.Errorf("Active(%d) = %d, want %d", tt.vb, got, tt.active)
		}
		if got := m.Forward(tt.vb); got != tt.fwd {
			t.Errorf("Forward(%d) = %d, want %d", tt.vb, got, tt.fwd)
		}
		if got := m.Replicas(tt.vb); !slices.Equal(got, tt.replicas) {
			t.Errorf("Replicas(%d) = %v, want %v", tt.vb, got, tt.replicas)
		}
	}
	// No forward map: Forward is -1 everywhere.
	full, err := Parse(readTestdata(t, "cluster-3node-full.json"), ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := full.Forward(0); got != -1 || full.HasForward() {
		t.Errorf("Forward(0) = %d HasForward = %v without vBucketMapForward, want -1 false", got, full.HasForward())
	}
}

func TestRoute(t *testing.T) {
	m, err := Parse(readTestdata(t, "cluster-3node-full.json"), ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		key      string
		wantVB   uint16
		wantNode int
		wantAddr string
	}{
		{"k0", 265, 0, "10.0.0.1:11210"},    // vBuckets 0-341 on node 0
		{"hello", 528, 1, "10.0.0.2:11210"}, // 342-682 on node 1
		{"foo", 115, 0, "10.0.0.1:11210"},
		{"user::1234567890", 319, 0, "10.0.0.1:11210"},
		{"a", 183, 0, "10.0.0.1:11210"},
	}
	for _, tt := range tests {
		vb, node := m.Route([]byte(tt.key))
		if vb != tt.wantVB || node != tt.wantNode {
			t.Errorf("Route(%q) = (%d, %d), want (%d, %d)", tt.key, vb, node, tt.wantVB, tt.wantNode)
			continue
		}
		if got := m.Nodes()[node].Addr; got != tt.wantAddr {
			t.Errorf("Route(%q) node addr = %q, want %q", tt.key, got, tt.wantAddr)
		}
	}
	// A vBucket without an active node routes to -1.
	none, err := Parse([]byte(`{"vBucketServerMap":{"serverList":["a:1"],"vBucketMap":[[-1]]}}`), ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if vb, node := none.Route([]byte("x")); vb != 0 || node != -1 {
		t.Errorf("Route on a map with no active node = (%d, %d), want (0, -1)", vb, node)
	}
}

func TestSameRouting(t *testing.T) {
	base := string(uniformConfig(8, 2, 5, ""))
	parse := func(s string) *Map {
		t.Helper()
		m, err := Parse([]byte(s), ParseOptions{})
		if err != nil {
			t.Fatalf("Parse(%s): %v", s, err)
		}
		return m
	}
	a := parse(base)
	tests := []struct {
		name string
		b    *Map
		want bool
	}{
		{"itself", a, true},
		{"nil", nil, false},
		{"same content, other rev", parse(string(uniformConfig(8, 2, 99, `"revEpoch":4,`))), true},
		{"other vbucket count", parse(string(uniformConfig(16, 2, 5, ""))), false},
		{"other node count", parse(string(uniformConfig(8, 3, 5, ""))), false},
		{"other node address", parse(`{"vBucketServerMap":{"serverList":["127.0.0.1:20000","127.0.0.1:29999"],"vBucketMap":[[0,1],[1,0],[0,1],[1,0],[0,1],[1,0],[0,1],[1,0]]}}`), false},
		{"other active", parse(`{"vBucketServerMap":{"serverList":["127.0.0.1:20000","127.0.0.1:20001"],"vBucketMap":[[1,0],[1,0],[0,1],[1,0],[0,1],[1,0],[0,1],[1,0]]}}`), false},
		{"only replicas differ", parse(`{"vBucketServerMap":{"serverList":["127.0.0.1:20000","127.0.0.1:20001"],"vBucketMap":[[0],[1],[0],[1],[0],[1],[0],[1]]}}`), true},
		{"forward added", parse(`{"vBucketServerMap":{"serverList":["127.0.0.1:20000","127.0.0.1:20001"],"vBucketMap":[[0,1],[1,0],[0,1],[1,0],[0,1],[1,0],[0,1],[1,0]],"vBucketMapForward":[[0,1],[1,0],[0,1],[1,0],[0,1],[1,0],[0,1],[1,0]]}}`), false},
	}
	for _, tt := range tests {
		if got := a.SameRouting(tt.b); got != tt.want {
			t.Errorf("%s: SameRouting = %v, want %v", tt.name, got, tt.want)
		}
	}
	// sameContent also looks at replicas.
	if a.sameContent(tests[7].b) {
		t.Errorf("sameContent with other replicas = true, want false")
	}
	if !a.sameContent(tests[2].b) {
		t.Errorf("sameContent with only another rev = false, want true")
	}
}

// Lookups from many goroutines while configs are swapped: run with -race.
func TestConcurrentLookupsDuringSwaps(t *testing.T) {
	src, err := NewSource(SourceOptions{Seeds: []string{"http://127.0.0.1:1"}, Bucket: "default"})
	if err != nil {
		t.Fatal(err)
	}
	var configs []*Map
	for i, nodes := range []int{1, 2, 3, 4, 5, 6, 7, 8} {
		n := []int{64, 1024, 128}[i%3]
		m, err := Parse(uniformConfig(n, nodes, int64(i+1), ""), ParseOptions{Origin: OriginStream})
		if err != nil {
			t.Fatal(err)
		}
		configs = append(configs, m)
	}
	if _, err := src.apply(configs[0], false); err != nil {
		t.Fatal(err)
	}
	var notified []Revision
	src.Subscribe(func(old, new *Map) { notified = append(notified, new.Revision()) })

	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := []byte(fmt.Sprintf("key-%d-0000", g))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key[len(key)-1] = byte('0' + i%10)
				m := src.Current()
				vb, node := m.Route(key)
				if int(vb) >= m.NumVBuckets() || node < 0 || node >= len(m.Nodes()) {
					errs <- fmt.Errorf("Route(%q) = (%d, %d) on a map of %d vBuckets, %d nodes", key, vb, node, m.NumVBuckets(), len(m.Nodes()))
					return
				}
				_ = m.Nodes()[node].Addr
			}
		}()
	}
	for round := range 50 {
		for _, m := range configs[1:] {
			// Only the first round applies (later ones are not newer).
			applied, err := src.apply(m, false)
			if err != nil {
				t.Error(err)
			}
			if applied != (round == 0) {
				t.Errorf("round %d rev %v: applied = %v", round, m.Revision(), applied)
			}
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got, want := len(notified), len(configs)-1; got != want {
		t.Errorf("subscriber called %d times, want %d", got, want)
	}
	if got, want := src.Current().Revision(), configs[len(configs)-1].Revision(); got != want {
		t.Errorf("final revision %v, want %v", got, want)
	}
}

func benchSource(b *testing.B) *Source {
	src, err := NewSource(SourceOptions{Seeds: []string{"http://127.0.0.1:1"}, Bucket: "default"})
	if err != nil {
		b.Fatal(err)
	}
	m, err := Parse(readTestdata(b, "cluster-3node-full.json"), ParseOptions{})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := src.apply(m, false); err != nil {
		b.Fatal(err)
	}
	return src
}

var sinkAddr string

// BenchmarkRoute is the full routing lookup of the proxy: load the current
// map, hash a 16-byte key, find the active node's address.
func BenchmarkRoute(b *testing.B) {
	src := benchSource(b)
	key := []byte("user::1234567890")
	b.ReportAllocs()
	for b.Loop() {
		m := src.Current()
		_, node := m.Route(key)
		sinkAddr = m.Nodes()[node].Addr
	}
}

func BenchmarkRouteParallel(b *testing.B) {
	src := benchSource(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		key := []byte("user::1234567890")
		var addr string
		for pb.Next() {
			m := src.Current()
			_, node := m.Route(key)
			addr = m.Nodes()[node].Addr
		}
		_ = addr
	})
}

func BenchmarkParse(b *testing.B) {
	data := readTestdata(b, "cluster-3node-full.json")
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse(data, ParseOptions{Host: "10.0.0.1"}); err != nil {
			b.Fatal(err)
		}
	}
}
