package vbmap

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse: arbitrary bytes never panic, and an accepted config always
// yields a Map whose every Active/Forward/Replica index is within Nodes(),
// with and without TLS ports.
func FuzzParse(f *testing.F) {
	for _, dir := range []string{"testdata", "testdata/bad"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.json"))
		if err != nil {
			f.Fatal(err)
		}
		for _, name := range files {
			data, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			if len(data) > 4096 {
				continue
			}
			f.Add(data, "10.0.0.1", "default", false)
			f.Add(data, "10.0.0.1", "default", true)
		}
	}
	f.Add([]byte(`{"rev":1,"vBucketServerMap":{"serverList":["$HOST:1"],"vBucketMap":[[0,-1],[-1,0]],"vBucketMapForward":[[0],[0]]},"nodesExt":[{"services":{"kv":1,"mgmt":2},"alternateAddresses":{"external":{"hostname":"x","ports":{"kv":3}}}}]}`), "::1", "external", false)
	f.Add([]byte(`{"vBucketServerMap":{"serverList":["a:1"],"vBucketMap":[[0]]},"nodesExt":[{"hostname":"a","services":{"kv":1},"alternateAddresses":{"x":{"hostname":"h"}}}]}`), "h", "auto", false)
	f.Add([]byte(`{"vBucketServerMap":{"serverList":["a:1"],"vBucketMap":[[0]]},"nodesExt":[{"hostname":"a","services":{"kv":1,"kvSSL":4,"mgmtSSL":5},"alternateAddresses":{"external":{"hostname":"h","ports":{"kvSSL":6}}}}]}`), "h", "external", true)
	f.Fuzz(func(t *testing.T, data []byte, host, network string, useTLS bool) {
		m, err := Parse(data, ParseOptions{Host: host, Network: network, TLS: useTLS})
		if err != nil {
			if m != nil {
				t.Fatalf("Parse returned a map and error %v", err)
			}
			return
		}
		checkInvariants(t, m)
		if m.VBucket([]byte("k0")) != VBucket([]byte("k0"), m.NumVBuckets()) {
			t.Fatalf("Map.VBucket and VBucket disagree for %d vBuckets", m.NumVBuckets())
		}
	})
}
