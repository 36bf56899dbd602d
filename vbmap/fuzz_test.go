package vbmap

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
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

// FuzzParseSeeds: any seed list either fails with an error or yields
// normalized seeds: http(s) URLs with a host and port and no path, and KV
// addresses that are "host:port" with a valid port, each listed once.
func FuzzParseSeeds(f *testing.F) {
	for _, s := range []string{"couchbase://a,b:1", "couchbases://[::1]:2", "a:11210", "h:11207", "http://x", "https://y:1/p",
		"couchbase://a/b", "couchbase://", "couchbase://::1", "a", "memcached://a", " COUCHBASE://a, b ,c/ "} {
		f.Add(s, "", false)
		f.Add(s, "couchbase://z", true)
	}
	f.Fuzz(func(t *testing.T, a, b string, useTLS bool) {
		seeds := []string{a}
		if b != "" {
			seeds = append(seeds, b)
		}
		set, err := parseSeeds(seeds, useTLS)
		if err != nil {
			return
		}
		for _, u := range set.http {
			if (u.Scheme != "http" && u.Scheme != "https") || u.Port() == "" || u.Hostname() == "" || u.Path != "" {
				t.Fatalf("parseSeeds(%q): cluster manager seed %q not normalized", seeds, u)
			}
			if useTLS && u.Scheme != "https" {
				t.Fatalf("parseSeeds(%q, TLS): http seed %q accepted", seeds, u)
			}
		}
		seen := map[string]bool{}
		for _, addr := range set.kv {
			h, p, err := net.SplitHostPort(addr)
			n, perr := strconv.Atoi(p)
			if err != nil || h == "" || perr != nil || n <= 0 || n > 65535 || seen[addr] {
				t.Fatalf("parseSeeds(%q): KV seed %q is not a host:port listed once", seeds, addr)
			}
			seen[addr] = true
		}
		if useTLS && !set.tls {
			t.Fatalf("parseSeeds(%q, TLS): set not TLS", seeds)
		}
	})
}
