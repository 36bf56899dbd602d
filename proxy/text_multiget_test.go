package proxy

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/sim"
	"github.com/vbproxy/vbproxy/vbmap"
)

// keysOnEveryNode returns perNode keys owned by each node of m, in the
// order node 0, 1, 2, ... repeated: key i is on node i%len(nodes).
func keysOnEveryNode(t testing.TB, m *vbmap.Map, prefix string, perNode int) []string {
	t.Helper()
	n := len(m.Nodes())
	byNode := make([][]string, n)
	for i := 0; ; i++ {
		k := fmt.Sprintf("%s%d", prefix, i)
		_, node := m.Route([]byte(k))
		if len(byNode[node]) < perNode {
			byNode[node] = append(byNode[node], k)
		}
		full := true
		for _, b := range byNode {
			full = full && len(b) == perNode
		}
		if full {
			break
		}
		if i > 100*n*perNode {
			t.Fatalf("could not find %d keys on each of %d nodes", perNode, n)
		}
	}
	var keys []string
	for i := range perNode {
		for node := range n {
			keys = append(keys, byNode[node][i])
		}
	}
	return keys
}

// checkMultiGetAcrossNodes stores keys that live on every node, then gets
// them in an interleaved order with duplicates and misses: the VALUE lines
// come in key order, one per occurrence, then END.
func checkMultiGetAcrossNodes(t *testing.T, addr string, m *vbmap.Map) {
	keys := keysOnEveryNode(t, m, "across-", 4) // 12 keys, node 0 1 2 0 1 2 ...
	c := dialText(t, addr)
	for i, k := range keys {
		if i%4 != 3 { // every fourth key stays a miss
			c.set(k, "v-"+k)
		}
	}
	// Reverse order, then every key again, with a duplicate of the first.
	var line []string
	for i := len(keys) - 1; i >= 0; i-- {
		line = append(line, keys[i])
	}
	line = append(line, keys...)
	line = append(line, keys[0], keys[0])
	var want strings.Builder
	for _, k := range line {
		if i := indexOf(keys, k); i%4 != 3 {
			want.WriteString(value(k, "v-"+k))
		}
	}
	want.WriteString("END\r\n")
	c.do("get "+strings.Join(line, " ")+"\r\n", want.String())
	// gets: the same order, with CAS values.
	c.send("gets " + keys[2] + " " + keys[1] + " " + keys[0] + "\r\n")
	for _, k := range []string{keys[2], keys[1], keys[0]} {
		l := c.line()
		var cas uint64
		if _, err := fmt.Sscanf(l, "VALUE "+k+" 0 %d %d\r\n", new(int), &cas); err != nil || cas == 0 {
			t.Fatalf("gets: line %q, want VALUE %s with a CAS", l, k)
		}
		c.expect("v-" + k + "\r\n")
	}
	c.expect("END\r\n")
}

func indexOf(xs []string, x string) int {
	for i, s := range xs {
		if s == x {
			return i
		}
	}
	return -1
}

func TestTextMultiGetAcrossNodesMemcached(t *testing.T) {
	_, addr, _, src := memcachedCluster(t, 3, Options{})
	checkMultiGetAcrossNodes(t, addr, src.Current())
}

func TestTextMultiGetAcrossNodesSim(t *testing.T) {
	_, _, addr, src := simCluster(t, sim.Options{}, Options{})
	checkMultiGetAcrossNodes(t, addr, src.Current())
}

// TestTextMultiGetStreams gets 5000 keys (about 60 KB of request line) on
// one line with a ring of 64 slots: the line is parsed as slots free up, so
// the session never holds more than PipelineDepth requests, and every VALUE
// arrives, in key order.
func TestTextMultiGetStreams(t *testing.T) {
	const depth = 64
	const n = 5000
	srv, addr, _, _ := memcachedCluster(t, 3, Options{PipelineDepth: depth})
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("stream-%05d", i)
	}
	c := dialText(t, addr)
	var sets strings.Builder
	for _, k := range keys {
		if hit(k) {
			fmt.Fprintf(&sets, "set %s 0 0 %d noreply\r\n%s\r\n", k, len(k), k)
		}
	}
	c.do(sets.String(), "")

	// Watch the ring while the get streams.
	var maxIssued, maxSlots atomic.Int64
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			srv.onEveryLoopWait(func(ls *loopState) {
				for s := range ls.sessions {
					maxIssued.Store(max(maxIssued.Load(), int64(s.head-s.tail)))
					maxSlots.Store(max(maxSlots.Load(), int64(len(s.slots))))
				}
			})
		}
	}()
	c.send("get " + strings.Join(keys, " ") + "\r\n")
	got := 0
	for i, k := range keys {
		if !hit(k) {
			continue
		}
		if l := c.line(); l != fmt.Sprintf("VALUE %s 0 %d\r\n", k, len(k)) {
			t.Fatalf("reply %d: %q, want the VALUE of %s (key %d)", got, l, k, i)
		}
		c.expect(k + "\r\n")
		got++
	}
	c.expect("END\r\n")
	close(stop)
	<-watched
	if maxIssued.Load() > depth || maxSlots.Load() > depth {
		t.Errorf("ring: %d requests issued, %d slots at most; want at most PipelineDepth %d", maxIssued.Load(), maxSlots.Load(), depth)
	}
	if maxIssued.Load() == 0 {
		t.Errorf("the watcher never saw a request in flight")
	}
	// Stats count every key once.
	if st := srv.Stats(); st.CmdGet != n || st.GetHits != uint64(got) {
		t.Errorf("Stats: cmd_get %d get_hits %d, want %d and %d", st.CmdGet, st.GetHits, n, got)
	}
	c.do("get "+keys[1]+"\r\n", "VALUE "+keys[1]+" 0 12\r\n"+keys[1]+"\r\nEND\r\n")
}

// hit says which keys of TestTextMultiGetStreams are stored: two of three.
func hit(k string) bool { return k[len(k)-1]%3 != 0 }
