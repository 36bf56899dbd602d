package vbmap

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseSeeds(t *testing.T) {
	tests := []struct {
		name     string
		seeds    []string
		useTLS   bool
		wantHTTP []string
		wantKV   []string
		wantTLS  bool
		wantErr  string
	}{
		{"cluster manager", []string{"http://a:8091", "b"}, false, []string{"http://a:8091", "http://b:8091"}, nil, false, ""},
		{"couchbase", []string{"couchbase://a"}, false, nil, []string{"a:11210"}, false, ""},
		{"couchbase several hosts", []string{"couchbase://a:1234, b ,[::1]"}, false, nil, []string{"a:1234", "b:11210", "[::1]:11210"}, false, ""},
		{"couchbases", []string{"couchbases://a", "couchbases://b:2000"}, false, nil, []string{"a:11207", "b:2000"}, true, ""},
		{"scheme case", []string{"CouchBase://a/"}, false, nil, []string{"a:11210"}, false, ""},
		{"bare kv port", []string{"10.0.0.1:11210"}, false, nil, []string{"10.0.0.1:11210"}, false, ""},
		{"bare kv tls port", []string{"10.0.0.1:11207"}, false, nil, []string{"10.0.0.1:11207"}, true, ""},
		{"bare other port is http", []string{"10.0.0.1:9000"}, false, []string{"http://10.0.0.1:9000"}, nil, false, ""},
		{"duplicates once", []string{"couchbase://a", "a:11210"}, false, nil, []string{"a:11210"}, false, ""},
		{"kv and http", []string{"couchbase://a", "http://b:8091"}, false, []string{"http://b:8091"}, []string{"a:11210"}, false, ""},
		{"tls kv and https", []string{"couchbases://a", "https://b"}, false, []string{"https://b:18091"}, []string{"a:11207"}, true, ""},
		{"tls option with bare host", []string{"a", "couchbases://b"}, true, []string{"https://a:18091"}, []string{"b:11207"}, true, ""},
		{"bucket path", []string{"couchbase://a/default"}, false, nil, nil, false, `vbmap: seed "couchbase://a/default": "/default" is not accepted`},
		{"options", []string{"couchbase://a?network=external"}, false, nil, nil, false, `"?network=external" is not accepted`},
		{"no host", []string{"couchbase://"}, false, nil, nil, false, `vbmap: seed "couchbase://": no host`},
		{"empty host in list", []string{"couchbase://a,,b"}, false, nil, nil, false, `empty host`},
		{"bad port", []string{"couchbase://a:x"}, false, nil, nil, false, `"a:x": invalid port "x"`},
		{"unbracketed v6", []string{"couchbase://::1"}, false, nil, nil, false, `bracket an IPv6 address`},
		{"mix kv plain and https", []string{"couchbase://a", "https://b"}, false, nil, nil, false, "vbmap: seeds mix plain (http://, couchbase://, :11210) and TLS"},
		{"mix couchbase and couchbases", []string{"couchbase://a", "couchbases://b"}, false, nil, nil, false, "vbmap: seeds mix plain"},
		{"mix http and https", []string{"http://a", "https://b"}, false, nil, nil, false, "vbmap: seeds mix http and https"},
		{"tls option with couchbase", []string{"couchbase://a"}, true, nil, nil, false, `vbmap: TLS is set but seed "couchbase://a" is a plain address`},
		{"tls option with http", []string{"http://a"}, true, nil, nil, false, "vbmap: TLS is set but the seeds are http (use https:// seeds)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, err := parseSeeds(tt.seeds, tt.useTLS)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseSeeds(%q) error %v, want %q", tt.seeds, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseSeeds(%q): %v", tt.seeds, err)
			}
			var gotHTTP []string
			for _, u := range set.http {
				gotHTTP = append(gotHTTP, u.String())
			}
			if !slices.Equal(gotHTTP, tt.wantHTTP) || !slices.Equal(set.kv, tt.wantKV) || set.tls != tt.wantTLS {
				t.Errorf("parseSeeds(%q) = http %q, kv %q, tls %v; want %q, %q, %v", tt.seeds, gotHTTP, set.kv, set.tls, tt.wantHTTP, tt.wantKV, tt.wantTLS)
			}
		})
	}
}

func TestNewSourceConfigSource(t *testing.T) {
	tests := []struct {
		name    string
		o       SourceOptions
		wantErr string
	}{
		{"http with kv seed", SourceOptions{Seeds: []string{"couchbase://a"}, Bucket: "b", ConfigSource: "http"},
			`vbmap: config source "http" needs cluster manager seeds (http:// or https://), but a:11210 is a KV address`},
		{"unknown", SourceOptions{Seeds: []string{"http://a"}, Bucket: "b", ConfigSource: "kv"}, `vbmap: unknown config source "kv" (want auto, http or cccp)`},
		{"cccp with http seeds", SourceOptions{Seeds: []string{"http://a"}, Bucket: "b", ConfigSource: "cccp"}, ""},
		{"auto kv only", SourceOptions{Seeds: []string{"couchbase://a"}, Bucket: "b"}, ""},
	}
	for _, tt := range tests {
		_, err := NewSource(tt.o)
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr) {
			t.Errorf("%s: NewSource error %v, want %q", tt.name, err, tt.wantErr)
		}
	}
	s, err := NewSource(SourceOptions{Seeds: []string{"couchbases://a"}, Bucket: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if !s.tls || s.kvTLS == nil || s.mode != ConfigSourceAuto || s.o.ConfigCheckInterval != DefaultConfigCheckInterval ||
		s.o.SilentInterval != DefaultSilentInterval || s.o.KVTimeout != DefaultKVTimeout {
		t.Errorf("couchbases seed: tls %v kvTLS %v mode %q check %v silent %v kv timeout %v; want TLS and the defaults",
			s.tls, s.kvTLS != nil, s.mode, s.o.ConfigCheckInterval, s.o.SilentInterval, s.o.KVTimeout)
	}
}

// The silent rule: behind the known revision and no advance for the
// interval, counted from the later of the last advance and the first check
// that found it behind.
func TestProgressSilent(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	const interval = 100 * time.Millisecond
	p := newProgress(t0)
	r := func(rev int64) Revision { return Revision{1, rev} }
	steps := []struct {
		ms      int
		advance int64 // 0: none
		known   int64 // 0: nothing known
		want    bool
	}{
		{0, 0, 0, false},   // nothing known
		{10, 0, 5, false},  // behind (nothing told yet), since 10
		{100, 0, 5, false}, // 90ms
		{110, 0, 5, true},  // 100ms
		{120, 5, 5, false}, // told of 5: caught up
		{150, 0, 6, false}, // behind again, since 150
		{200, 0, 6, false},
		{240, 6, 7, false}, // advanced to 6 (still behind 7): counted from 240
		{330, 0, 7, false},
		{340, 0, 7, true},
		{350, 4, 7, true}, // an older revision is no advance
	}
	for _, s := range steps {
		if s.advance > 0 {
			p.advance(r(s.advance), at(s.ms))
		}
		if got := p.silent(r(s.known), s.known > 0, at(s.ms), interval); got != s.want {
			t.Errorf("at %dms (advance %d, known %d): silent = %v, want %v", s.ms, s.advance, s.known, got, s.want)
		}
	}
}

func TestCheckKVSeed(t *testing.T) {
	tests := []struct {
		seed    string
		isKV    bool
		wantErr string
	}{
		{"couchbase://a,b:1", true, ""},
		{"couchbases://a", true, ""},
		{"a:11210", true, ""},
		{"a:11207", true, ""},
		{"http://a:8091", false, ""},
		{"a:8091", false, ""},
		{"couchbase://a/b", true, `"/b" is not accepted (a connection string's bucket and options are set in their own fields)`},
		{"couchbase://", true, "no host"},
	}
	for _, tt := range tests {
		isKV, err := CheckKVSeed(tt.seed)
		if isKV != tt.isKV || (tt.wantErr == "") != (err == nil) || (err != nil && err.Error() != tt.wantErr) {
			t.Errorf("CheckKVSeed(%q) = %v, %v; want %v, %q", tt.seed, isKV, err, tt.isKV, tt.wantErr)
		}
	}
}
