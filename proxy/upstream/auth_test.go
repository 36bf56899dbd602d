package upstream

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/internal/kvconn"
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
			h := newHarness(t)
			n := h.node(f.addr, log.options(Options{User: tt.user, Password: testUsers[tt.user], Bucket: "default"}))
			c := h.conn(h.loop(), n)
			waitState(t, n, StateUp)
			c.waitUp(t)
			mustSetGet(t, c, "auth-key", "auth-value")
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
			o.MinBackoff, o.MaxBackoff = 5*time.Millisecond, 20*time.Millisecond
			h := newHarness(t)
			n := h.node(f.addr, log.options(o))
			l := h.loop()
			c1, c2 := h.conn(l, n), h.conn(l, n) // two connections, refused alike
			waitState(t, n, StateDown)
			err := n.LastError()
			if !errors.Is(err, ErrAuth) {
				t.Fatalf("LastError = %v, want ErrAuth", err)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("LastError = %q, want it to contain %q", err, tt.wantText)
			}
			for i, c := range []*testConn{c1, c2} {
				// ErrConnecting (not counted) until its first attempt is refused.
				var got error
				waitFor(t, "the connection's first refusal", func() bool {
					got = c.send(&Request{Packet: getPacket(1, "k"), Done: newRecorder(t, 1)})
					return got != ErrConnecting
				})
				if got != ErrNodeDown {
					t.Errorf("Send on connection %d while refused = %v, want ErrNodeDown", i, got)
				}
			}
			// They keep retrying with backoff, and each refusal is counted.
			waitFor(t, "retried refusals", func() bool { return log.errCount(KindAuth) >= 6 })
			if got := n.State(); got != StateDown {
				t.Errorf("State = %s, want down", got)
			}
			if got := n.Conns(); got != 0 {
				t.Errorf("Conns = %d, want 0", got)
			}
			if n := log.errCount(KindDown); n != 2 {
				t.Errorf("down errors = %d, want 2 (one per refused Send)", n)
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
			h := newHarness(t)
			n := h.node(f.addr, Options{Bucket: tt.bucket})
			c := h.conn(h.loop(), n)
			waitState(t, n, StateUp)
			c.waitUp(t)
			if tt.cfg.Buckets == nil || tt.bucket != "" {
				mustSetGet(t, c, "k", "v")
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

// The HELLO the bootstrap sends: without credentials an empty probe first
// (plain memcached stops there), then the agent name and exactly the
// features that change nothing a plain memcached client sees (XERROR,
// SELECT_BUCKET); the handshake records what the server enabled. (The
// bootstrap itself, internal/kvconn, has its own tests.)
func TestBootstrapHello(t *testing.T) {
	wanted := []uint16{featureXError, featureSelectBucket}
	tests := []struct {
		name       string
		cfg        fakeConfig
		o          Options
		wantHellos []fakeHello
		wantPlain  bool
		wantMech   string
	}{
		{"credentials", fakeConfig{Mechs: "PLAIN", Users: testUsers, Buckets: []string{"default"}},
			Options{User: "app", Password: testUsers["app"], Bucket: "default", Agent: "agent-1"},
			[]fakeHello{{"agent-1", wanted}}, false, "PLAIN"},
		{"no credentials, couchbase", fakeConfig{Buckets: []string{"default"}}, Options{Bucket: "default", Agent: "agent-2"},
			[]fakeHello{{"", []uint16{}}, {"agent-2", wanted}}, false, ""},
		{"no credentials, plain memcached", fakeConfig{NoHello: true}, Options{Bucket: "default"},
			[]fakeHello{{"", []uint16{}}}, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startFakeKV(t, tt.cfg)
			ctx, cancel := context.WithTimeout(context.Background(), waitBound)
			defer cancel()
			o := tt.o.withDefaults()
			kc, err := kvconn.Dial(ctx, f.addr, dialOptions(&o, &kvconn.SCRAMCache{}))
			if err != nil {
				t.Fatalf("bootstrap: %v", err)
			}
			defer kc.Close()
			b := &handshake{plain: kc.Plain, mech: kc.Mech, features: kc.Features}
			got := f.hellosSeen()
			if len(got) != len(tt.wantHellos) {
				t.Fatalf("HELLOs %v, want %v", got, tt.wantHellos)
			}
			for i, w := range tt.wantHellos {
				if got[i].agent != w.agent || !slices.Equal(got[i].feats, w.feats) {
					t.Errorf("HELLO %d: agent %q features %v, want %q %v", i, got[i].agent, got[i].feats, w.agent, w.feats)
				}
			}
			enabled := !tt.wantPlain
			if b.plain != tt.wantPlain || b.mech != tt.wantMech {
				t.Errorf("plain %v mech %q, want %v %q", b.plain, b.mech, tt.wantPlain, tt.wantMech)
			}
			for _, feat := range wanted {
				if got := b.hasFeature(feat); got != enabled {
					t.Errorf("hasFeature(%#x) = %v, want %v", feat, got, enabled)
				}
			}
			if b.hasFeature(0x01) {
				t.Error("hasFeature(0x01) = true for a feature never asked for")
			}
		})
	}
}
