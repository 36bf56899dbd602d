package vbmap

import (
	"errors"
	"strings"
	"testing"
)

func TestParseRejects(t *testing.T) {
	tests := []struct {
		file    string
		opts    ParseOptions
		wantIs  error
		wantMsg string
	}{
		{"bad/ketama.json", ParseOptions{}, ErrMemcachedBucket, `vbmap: nodeLocator: memcached buckets are not supported`},
		{"bad/unknown-hash.json", ParseOptions{}, ErrInvalidConfig, `vbmap: vBucketServerMap.hashAlgorithm: unknown hash algorithm "MD5"`},
		{"bad/empty-map.json", ParseOptions{}, ErrInvalidConfig, `vbmap: vBucketServerMap.vBucketMap: empty (no vBuckets)`},
		{"bad/index-out-of-range.json", ParseOptions{}, ErrInvalidConfig, `vbmap: vBucketServerMap.vBucketMap[17][0]: index 5 outside serverList (3 entries)`},
		{"bad/index-negative.json", ParseOptions{}, ErrInvalidConfig, `vbmap: vBucketServerMap.vBucketMap[900][1]: index -2 outside serverList (3 entries)`},
		{"bad/forward-out-of-range.json", ParseOptions{}, ErrInvalidConfig, `vbmap: vBucketServerMap.vBucketMapForward[3][2]: index 3 outside serverList (3 entries)`},
		{"bad/forward-short.json", ParseOptions{}, ErrInvalidConfig, `vbmap: vBucketServerMap.vBucketMapForward: 64 entries, want 128`},
		{"bad/empty-serverlist.json", ParseOptions{}, ErrInvalidConfig, `vbmap: vBucketServerMap.serverList: empty`},
		{"bad/serverlist-no-port.json", ParseOptions{}, ErrInvalidConfig, `vbmap: vBucketServerMap.serverList[1]: "127.0.0.1" is not host:port`},
		{"bad/no-servermap.json", ParseOptions{}, ErrInvalidConfig, `vbmap: vBucketServerMap: missing`},
		{"bad/empty-row.json", ParseOptions{}, ErrInvalidConfig, `vbmap: vBucketServerMap.vBucketMap[4]: empty`},
		{"bad/bad-port.json", ParseOptions{}, ErrInvalidConfig, `vbmap: nodesExt[1].services.kv: invalid port 70000`},
		{"bad/truncated.json", ParseOptions{Host: "h"}, ErrInvalidConfig, `vbmap: malformed config JSON: unexpected end of JSON input`},
		{"bad/not-object.json", ParseOptions{}, ErrInvalidConfig, `vbmap: malformed config JSON: json: cannot unmarshal array`},
		{"bad/string-index.json", ParseOptions{}, ErrInvalidConfig, `vbmap: malformed config JSON: json: cannot unmarshal string`},
		// $HOST with nothing to replace it by.
		{"terse-host.json", ParseOptions{}, ErrInvalidConfig, `vbmap: vBucketServerMap.serverList[0]: "$HOST:11210" uses $HOST but the source host is unknown`},
		{"memcached-static.json", ParseOptions{Network: "internal"}, ErrInvalidConfig, `unknown network "internal"`},
		// TLS: every KV node needs a kvSSL port (the alternate network falls
		// back to the default one's), every serverList entry a nodesExt entry.
		{"bad/tls-missing-kvssl.json", ParseOptions{TLS: true}, ErrInvalidConfig, `vbmap: nodesExt[2].services.kvSSL: missing (cluster.tls is enabled)`},
		{"bad/tls-missing-kvssl.json", ParseOptions{TLS: true, Network: "external"}, ErrInvalidConfig, `vbmap: nodesExt[2].services.kvSSL: missing (cluster.tls is enabled)`},
		{"bad/tls-unmatched.json", ParseOptions{TLS: true}, ErrInvalidConfig,
			`vbmap: vBucketServerMap.serverList[1]: "10.0.0.9:11210" matches no nodesExt entry (by hostname and kv port), so its kvSSL port is unknown (cluster.tls is enabled)`},
		{"legacy-nodes.json", ParseOptions{Host: "192.168.1.10", TLS: true}, ErrInvalidConfig, `vbmap: nodesExt: missing (cluster.tls is enabled): the TLS ports are only listed there`},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			m, err := Parse(readTestdata(t, tt.file), tt.opts)
			if err == nil {
				t.Fatalf("Parse(%s) = map with %d vBuckets, want error", tt.file, m.NumVBuckets())
			}
			if !errors.Is(err, tt.wantIs) {
				t.Errorf("Parse(%s) error %q: errors.Is(%v) = false", tt.file, err, tt.wantIs)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("Parse(%s) error\n got: %s\nwant containing: %s", tt.file, err, tt.wantMsg)
			}
		})
	}
}

func TestParseInline(t *testing.T) {
	tests := []struct {
		name    string
		config  string
		wantErr string // "" = accepted
	}{
		{"empty", ``, "vbmap: empty config"},
		{"whitespace", " \n\t", "vbmap: empty config"},
		{"null", `null`, "vbmap: vBucketServerMap: missing"},
		{"unknown locator", `{"nodeLocator":"consistent","vBucketServerMap":{"serverList":["a:1"],"vBucketMap":[[0]]}}`, `vbmap: nodeLocator: unknown locator "consistent"`},
		{"negative rev", `{"rev":-1,"vBucketServerMap":{"serverList":["a:1"],"vBucketMap":[[0]]}}`, "vbmap: rev: negative (-1)"},
		{"negative epoch", `{"rev":1,"revEpoch":-3,"vBucketServerMap":{"serverList":["a:1"],"vBucketMap":[[0]]}}`, "vbmap: revEpoch: negative (-3)"},
		{"negative replicas", `{"vBucketServerMap":{"numReplicas":-1,"serverList":["a:1"],"vBucketMap":[[0]]}}`, "vbmap: vBucketServerMap.numReplicas: negative (-1)"},
		{"port zero", `{"vBucketServerMap":{"serverList":["a:0"],"vBucketMap":[[0]]}}`, `vbmap: vBucketServerMap.serverList[0]: "a:0" has an invalid port`},
		{"empty host", `{"vBucketServerMap":{"serverList":[":11210"],"vBucketMap":[[0]]}}`, `vbmap: vBucketServerMap.serverList[0]: ":11210" has an empty host`},
		{"trailing garbage", `{"vBucketServerMap":{"serverList":["a:1"],"vBucketMap":[[0]]}} x`, "vbmap: malformed config JSON"},
		{"rev too big", `{"rev":99999999999999999999,"vBucketServerMap":{"serverList":["a:1"],"vBucketMap":[[0]]}}`, "vbmap: malformed config JSON"},
		{"lowercase crc", `{"vBucketServerMap":{"hashAlgorithm":"crc","serverList":["a:1"],"vBucketMap":[[0]]}}`, ""},
		{"no hash algorithm", `{"vBucketServerMap":{"serverList":["a:1"],"vBucketMap":[[0]]}}`, ""},
		{"all -1 row", `{"vBucketServerMap":{"serverList":["a:1"],"vBucketMap":[[-1,-1],[0,-1]]}}`, ""},
		{"one vbucket", `{"vBucketServerMap":{"serverList":["a:1"],"vBucketMap":[[0]]}}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse([]byte(tt.config), ParseOptions{})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Parse: %v, want accepted", err)
				}
				checkInvariants(t, m)
				return
			}
			if err == nil {
				t.Fatalf("Parse accepted, want error %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Parse error %q (Is ErrInvalidConfig: %v), want containing %q", err, errors.Is(err, ErrInvalidConfig), tt.wantErr)
			}
		})
	}
}

func TestParseTooManyVBuckets(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"vBucketServerMap":{"serverList":["a:1"],"vBucketMap":[`)
	for i := range MaxVBuckets + 1 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("[0]")
	}
	b.WriteString("]}}")
	_, err := Parse([]byte(b.String()), ParseOptions{})
	want := "vbmap: vBucketServerMap.vBucketMap: 65537 vBuckets, more than the maximum 65536"
	if err == nil || err.Error() != want {
		t.Fatalf("Parse error = %v, want %q", err, want)
	}
}

func TestParseUnversioned(t *testing.T) {
	m, err := Parse(readTestdata(t, "memcached-static.json"), ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Versioned() {
		t.Errorf("Versioned() = true for a config without rev, want false")
	}
	if got, want := m.Revision(), (Revision{}); got != want {
		t.Errorf("Revision() = %v, want %v", got, want)
	}
	if got, want := m.Bucket(), "cache"; got != want {
		t.Errorf("Bucket() = %q, want %q", got, want)
	}
}

// The $HOST placeholder takes the source host, bracketed when IPv6, in every
// place it occurs.
func TestParseHostReplacement(t *testing.T) {
	const cfg = `{"rev":1,"vBucketServerMap":{"serverList":["$HOST:11210"],"vBucketMap":[[0]]},
		"nodesExt":[{"hostname":"$HOST","services":{"kv":11210,"mgmt":8091}}]}`
	tests := []struct {
		host, wantAddr, wantMgmt string
	}{
		{"10.0.0.7", "10.0.0.7:11210", "http://10.0.0.7:8091"},
		{"10.0.0.7:8091", "10.0.0.7:11210", "http://10.0.0.7:8091"},
		{"node1.example.com", "node1.example.com:11210", "http://node1.example.com:8091"},
		{"::1", "[::1]:11210", "http://[::1]:8091"},
		{"[::1]:8091", "[::1]:11210", "http://[::1]:8091"},
		{"[fd00::7]", "[fd00::7]:11210", "http://[fd00::7]:8091"},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			m, err := Parse([]byte(cfg), ParseOptions{Host: tt.host})
			if err != nil {
				t.Fatal(err)
			}
			if got := m.Nodes()[0]; got.Addr != tt.wantAddr || got.MgmtURL != tt.wantMgmt {
				t.Errorf("node = %+v, want Addr %q MgmtURL %q", got, tt.wantAddr, tt.wantMgmt)
			}
		})
	}
}

func TestConfigErrorUnwrap(t *testing.T) {
	_, err := Parse(readTestdata(t, "bad/ketama.json"), ParseOptions{})
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("error %T %v is not a *ConfigError", err, err)
	}
	if ce.Field != "nodeLocator" {
		t.Errorf("Field = %q, want nodeLocator", ce.Field)
	}
	if !errors.Is(err, ErrInvalidConfig) || !errors.Is(err, ErrMemcachedBucket) {
		t.Errorf("errors.Is: invalid=%v memcached=%v, want both true", errors.Is(err, ErrInvalidConfig), errors.Is(err, ErrMemcachedBucket))
	}
}

// With TLS each serverList entry takes the kvSSL port of the nodesExt entry
// with its hostname and kv port; the cases pin the matching rule.
func TestParseTLSMatching(t *testing.T) {
	const vbm = `"vBucketMap":[[0]]`
	tests := []struct {
		name   string
		config string
		tls    bool
		want   Node
	}{
		{"plain", `{"vBucketServerMap":{"serverList":["h1:11210"],` + vbm + `},
			"nodesExt":[{"hostname":"h1","services":{"mgmt":8091,"mgmtSSL":18091,"kv":11210,"kvSSL":11207}}]}`,
			false, Node{Addr: "h1:11210", MgmtURL: "http://h1:8091"}},
		{"tls", `{"vBucketServerMap":{"serverList":["h1:11210"],` + vbm + `},
			"nodesExt":[{"hostname":"h1","services":{"mgmt":8091,"mgmtSSL":18091,"kv":11210,"kvSSL":11207}}]}`,
			true, Node{Addr: "h1:11207", MgmtURL: "https://h1:18091"}},
		{"hostname case", `{"vBucketServerMap":{"serverList":["CB-0.Example:11210"],` + vbm + `},
			"nodesExt":[{"hostname":"cb-0.example","services":{"mgmtSSL":18091,"kv":11210,"kvSSL":11207}}]}`,
			true, Node{Addr: "cb-0.example:11207", MgmtURL: "https://cb-0.example:18091"}},
		{"ipv6", `{"vBucketServerMap":{"serverList":["[fd00::1]:11210"],` + vbm + `},
			"nodesExt":[{"hostname":"[fd00::1]","services":{"mgmtSSL":18091,"kv":11210,"kvSSL":11207}}]}`,
			true, Node{Addr: "[fd00::1]:11207", MgmtURL: "https://[fd00::1]:18091"}},
		{"serverList already lists kvSSL", `{"vBucketServerMap":{"serverList":["h1:11207"],` + vbm + `},
			"nodesExt":[{"hostname":"h1","services":{"mgmtSSL":18091,"kv":11210,"kvSSL":11207}}]}`,
			true, Node{Addr: "h1:11207", MgmtURL: "https://h1:18091"}},
		{"no match without TLS keeps the address", `{"vBucketServerMap":{"serverList":["h1:11207"],` + vbm + `},
			"nodesExt":[{"hostname":"h1","services":{"mgmt":8091,"kv":11210,"kvSSL":11207}}]}`,
			false, Node{Addr: "h1:11207"}},
		// Plain kv ports match first: h1:11207 is node B's kv port, not
		// node A's kvSSL port.
		{"kv before kvSSL", `{"vBucketServerMap":{"serverList":["h1:11207"],` + vbm + `},
			"nodesExt":[{"hostname":"h1","services":{"mgmtSSL":18091,"kv":11210,"kvSSL":11207}},
			            {"hostname":"h1","services":{"mgmtSSL":18092,"kv":11207,"kvSSL":11300}}]}`,
			true, Node{Addr: "h1:11300", MgmtURL: "https://h1:18092"}},
		// A node without mgmtSSL has no management URL under TLS.
		{"no mgmtSSL", `{"vBucketServerMap":{"serverList":["h1:11210"],` + vbm + `},
			"nodesExt":[{"hostname":"h1","services":{"mgmt":8091,"kv":11210,"kvSSL":11207}}]}`,
			true, Node{Addr: "h1:11207"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse([]byte(tt.config), ParseOptions{Host: "h1", TLS: tt.tls})
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := m.Nodes()[0]; got != tt.want {
				t.Errorf("node 0 = %+v, want %+v", got, tt.want)
			}
		})
	}
	// The fixtures TLS rejects are valid plain configs.
	for _, file := range []string{"bad/tls-missing-kvssl.json", "bad/tls-unmatched.json"} {
		if _, err := Parse(readTestdata(t, file), ParseOptions{}); err != nil {
			t.Errorf("Parse(%s) without TLS: %v", file, err)
		}
	}
}
