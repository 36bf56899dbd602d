package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vbproxy/vbproxy/vbmap"
)

// configJSON returns a bucket config with rev, the given KV nodes and nvb
// vBuckets assigned round robin, each with the next node as its replica.
func configJSON(t testing.TB, bucket string, rev int64, nodes []string, nvb int) []byte {
	t.Helper()
	table := make([][]int, nvb)
	for i := range table {
		a := i % len(nodes)
		if len(nodes) > 1 {
			table[i] = []int{a, (a + 1) % len(nodes)}
		} else {
			table[i] = []int{a}
		}
	}
	replicas := 1
	if len(nodes) == 1 {
		replicas = 0
	}
	cfg := map[string]any{
		"rev": rev, "revEpoch": 1, "name": bucket, "nodeLocator": "vbucket",
		"vBucketServerMap": map[string]any{
			"hashAlgorithm": "CRC", "numReplicas": replicas,
			"serverList": nodes, "vBucketMap": table,
		},
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func parseMap(t testing.TB, bucket string, rev int64, nodes []string, nvb int) *vbmap.Map {
	t.Helper()
	m, err := vbmap.Parse(configJSON(t, bucket, rev, nodes, nvb), vbmap.ParseOptions{Origin: vbmap.OriginStream})
	if err != nil {
		t.Fatalf("vbmap.Parse: %v", err)
	}
	return m
}

// fakeMap is a MapProvider and Reloader whose map the test swaps.
type fakeMap struct {
	cur       atomic.Pointer[vbmap.Map]
	next      atomic.Pointer[vbmap.Map] // applied by Refresh
	reloadErr error
}

func (f *fakeMap) Current() *vbmap.Map { return f.cur.Load() }

func (f *fakeMap) Refresh(ctx context.Context) (old, new vbmap.Revision, err error) {
	if f.reloadErr != nil {
		return vbmap.Revision{}, vbmap.Revision{}, f.reloadErr
	}
	if m := f.cur.Load(); m != nil {
		old = m.Revision()
	}
	if n := f.next.Load(); n != nil {
		f.cur.Store(n)
	}
	return old, f.cur.Load().Revision(), nil
}

func nodeAddrs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("127.0.0.1:%d", 11210+i)
	}
	return out
}

// metricValue finds `name{labels} value` in exposition text; labels is the
// exact label string as exposed (sorted by name), "" for none.
func metricValue(t testing.TB, text, name, labels string) (string, bool) {
	t.Helper()
	prefix := name
	if labels != "" {
		prefix += "{" + labels + "}"
	}
	prefix += " "
	for line := range strings.SplitSeq(text, "\n") {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			return v, true
		}
	}
	return "", false
}
