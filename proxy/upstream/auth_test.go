package upstream

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var testUsers = map[string]string{"Administrator": "password", "app": "s3cr3t-ü"}

func TestBootstrapMechanisms(t *testing.T) {
	tests := []struct {
		name     string
		mechs    string
		user     string
		wantMech string
	}{
		{"all prefers SHA512", "SCRAM-SHA512 SCRAM-SHA256 SCRAM-SHA1 PLAIN", "Administrator", "SCRAM-SHA512"},
		{"order on the wire does not matter", "PLAIN SCRAM-SHA1 SCRAM-SHA256", "Administrator", "SCRAM-SHA256"},
		{"SHA1 over PLAIN", "PLAIN SCRAM-SHA1", "Administrator", "SCRAM-SHA1"},
		{"PLAIN only", "PLAIN", "Administrator", "PLAIN"},
		{"unknown mechanisms ignored", "GSSAPI PLAIN CRAM-MD5", "Administrator", "PLAIN"},
		{"non-ASCII password SCRAM", "SCRAM-SHA512", "app", "SCRAM-SHA512"},
		{"non-ASCII password PLAIN", "PLAIN", "app", "PLAIN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startFakeKV(t, fakeConfig{Mechs: tt.mechs, Users: testUsers, Buckets: []string{"default", "other"}})
			log := newStateLog()
			p := NewPool(f.addr, log.options(Options{
				User: tt.user, Password: testUsers[tt.user], Bucket: "default", PoolSize: 1,
			}))
			t.Cleanup(func() { p.Close() })
			waitState(t, p, StateUp)
			mustSetGet(t, p, "auth-key", "auth-value")
			if got := f.mechsUsed(); len(got) != 1 || got[0] != tt.wantMech {
				t.Errorf("mechanisms used = %v, want [%s]", got, tt.wantMech)
			}
			if got := f.selectCount(); got != 1 {
				t.Errorf("SELECT_BUCKET count = %d, want 1", got)
			}
			if n := log.errCount(KindAuth); n != 0 {
				t.Errorf("auth errors = %d, want 0", n)
			}
		})
	}
}

func TestBootstrapRefused(t *testing.T) {
	tests := []struct {
		name     string
		cfg      fakeConfig
		opts     Options
		wantText string
	}{
		{"wrong password SCRAM-SHA512", fakeConfig{Mechs: "SCRAM-SHA512", Buckets: []string{"default"}},
			Options{User: "Administrator", Password: "wrong", Bucket: "default"}, "SASL_STEP SCRAM-SHA512"},
		{"wrong password SCRAM-SHA256", fakeConfig{Mechs: "SCRAM-SHA256", Buckets: []string{"default"}},
			Options{User: "Administrator", Password: "wrong", Bucket: "default"}, "AUTH_ERROR"},
		{"wrong password SCRAM-SHA1", fakeConfig{Mechs: "SCRAM-SHA1", Buckets: []string{"default"}},
			Options{User: "Administrator", Password: "wrong", Bucket: "default"}, "AUTH_ERROR"},
		{"wrong password PLAIN", fakeConfig{Mechs: "PLAIN", Buckets: []string{"default"}},
			Options{User: "Administrator", Password: "wrong", Bucket: "default"}, "SASL_AUTH PLAIN"},
		{"unknown user", fakeConfig{Mechs: "SCRAM-SHA512 PLAIN", Buckets: []string{"default"}},
			Options{User: "nobody", Password: "x", Bucket: "default"}, "AUTH_ERROR"},
		{"unknown bucket", fakeConfig{Mechs: "SCRAM-SHA512 PLAIN", Buckets: []string{"default"}},
			Options{User: "Administrator", Password: "password", Bucket: "nope"}, `unknown bucket "nope"`},
		{"no common mechanism", fakeConfig{Mechs: "GSSAPI CRAM-MD5", Buckets: []string{"default"}},
			Options{User: "Administrator", Password: "password", Bucket: "default"}, "no supported SASL mechanism"},
		{"server signature wrong", fakeConfig{Mechs: "SCRAM-SHA256", Buckets: []string{"default"}, BadServerFinal: true},
			Options{User: "Administrator", Password: "password", Bucket: "default"}, "server signature did not verify"},
		{"no SASL on the server", fakeConfig{Buckets: []string{"default"}},
			Options{User: "Administrator", Password: "password", Bucket: "default"}, "SASL_LIST_MECHS: UNKNOWN_COMMAND"},
		{"bucket without credentials", fakeConfig{Mechs: "PLAIN", Users: testUsers, Buckets: []string{"default"}},
			Options{Bucket: "default"}, "EACCESS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.cfg.Users == nil {
				tt.cfg.Users = testUsers
			}
			f := startFakeKV(t, tt.cfg)
			log := newStateLog()
			o := tt.opts
			o.PoolSize, o.MinBackoff, o.MaxBackoff = 2, 5*time.Millisecond, 20*time.Millisecond
			p := NewPool(f.addr, log.options(o))
			t.Cleanup(func() { p.Close() })
			waitState(t, p, StateDown)
			err := p.LastError()
			if !errors.Is(err, ErrAuth) {
				t.Fatalf("LastError = %v, want ErrAuth", err)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("LastError = %q, want it to contain %q", err, tt.wantText)
			}
			if got := p.Send(&Request{Packet: getPacket(1, "k"), Done: make(chanDone, 1)}); got != ErrNodeDown {
				t.Errorf("Send while refused = %v, want ErrNodeDown", got)
			}
			// It keeps retrying with backoff, and each refusal is counted.
			waitFor(t, "a retried refusal", func() bool { return log.errCount(KindAuth) >= 3 })
			if got := p.State(); got != StateDown {
				t.Errorf("State = %s, want down", got)
			}
			if n := log.errCount(KindDown); n != 1 {
				t.Errorf("down errors = %d, want 1", n)
			}
			if h := log.history(); len(h) != 2 || h[0] != StateConnecting || h[1] != StateDown {
				t.Errorf("states = %v, want [connecting down]", h)
			}
		})
	}
}

// Without credentials, a server that answers HELLO with UNKNOWN_COMMAND is
// plain memcached: no SELECT_BUCKET even when a bucket is configured.
func TestBootstrapNoCredentials(t *testing.T) {
	tests := []struct {
		name        string
		cfg         fakeConfig
		bucket      string
		wantSelects int
	}{
		{"plain memcached with bucket", fakeConfig{NoHello: true}, "default", 0},
		{"plain memcached no bucket", fakeConfig{NoHello: true}, "", 0},
		{"couchbase without auth selects bucket", fakeConfig{Buckets: []string{"default"}}, "default", 1},
		{"couchbase without auth no bucket", fakeConfig{Buckets: []string{"default"}}, "", 0},
		{"select unsupported tolerated", fakeConfig{}, "default", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startFakeKV(t, tt.cfg)
			p := NewPool(f.addr, Options{Bucket: tt.bucket, PoolSize: 1})
			t.Cleanup(func() { p.Close() })
			waitState(t, p, StateUp)
			if tt.cfg.Buckets == nil || tt.bucket != "" {
				mustSetGet(t, p, "k", "v")
			}
			if got := f.selectCount(); got != tt.wantSelects {
				t.Errorf("SELECT_BUCKET count = %d, want %d", got, tt.wantSelects)
			}
			if got := f.mechsUsed(); len(got) != 0 {
				t.Errorf("SASL mechanisms used = %v, want none", got)
			}
		})
	}
}

func FuzzChooseMechanism(f *testing.F) {
	for _, s := range []string{"", "PLAIN", "SCRAM-SHA512 SCRAM-SHA256 SCRAM-SHA1 PLAIN", "  SCRAM-SHA1\tPLAIN ", "GSSAPI"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, list string) {
		i := chooseMechanism(list)
		if i < -1 || i >= len(mechanisms) {
			t.Fatalf("chooseMechanism(%q) = %d, out of range", list, i)
		}
		if i >= 0 && !strings.Contains(list, mechanisms[i].name) {
			t.Fatalf("chooseMechanism(%q) = %s, not in the list", list, mechanisms[i].name)
		}
	})
}

func TestChooseMechanism(t *testing.T) {
	tests := []struct{ list, want string }{
		{"SCRAM-SHA512 SCRAM-SHA256 SCRAM-SHA1 PLAIN", "SCRAM-SHA512"},
		{"PLAIN SCRAM-SHA256", "SCRAM-SHA256"},
		{"PLAIN", "PLAIN"},
		{"SCRAM-SHA5121 PLAINX", ""},
		{"", ""},
	}
	for _, tt := range tests {
		got := ""
		if i := chooseMechanism(tt.list); i >= 0 {
			got = mechanisms[i].name
		}
		if got != tt.want {
			t.Errorf("chooseMechanism(%q) = %q, want %q", tt.list, got, tt.want)
		}
	}
}
