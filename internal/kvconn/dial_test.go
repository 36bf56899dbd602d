package kvconn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/internal/mctest"
	"github.com/vbproxy/vbproxy/memcached"
	"github.com/vbproxy/vbproxy/sim"
)

func startSim(t *testing.T, o sim.Options) *sim.Cluster {
	t.Helper()
	o.Host = "127.0.0.1"
	if o.Nodes == 0 {
		o.Nodes = 1
	}
	if o.VBuckets == 0 {
		o.VBuckets = 64
	}
	c, err := sim.Start(o)
	if err != nil {
		t.Fatalf("sim.Start: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// configName asks the connection for its cluster config and returns the
// config's "name" ("" for the global config of a connection without a bucket).
func configName(t *testing.T, c *Conn) string {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	defer func() { _ = c.SetDeadline(time.Time{}) }()
	if _, err := c.Write(memcached.AppendRequest(nil, memcached.OpGetClusterConfig, 0, 77, 0, nil, nil, nil)); err != nil {
		t.Fatalf("write GET_CLUSTER_CONFIG: %v", err)
	}
	var p memcached.Packet
	for {
		if err := c.Reader.ReadServerPacket(&p); err != nil {
			t.Fatalf("read GET_CLUSTER_CONFIG reply: %v", err)
		}
		if p.Magic == memcached.MagicResponse {
			break
		}
	}
	if p.Status != memcached.StatusSuccess || p.Opaque != 77 {
		t.Fatalf("GET_CLUSTER_CONFIG: status %s opaque %d, want SUCCESS 77 (%q)", p.Status, p.Opaque, p.Value)
	}
	var cfg struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal(p.Value, &cfg); err != nil {
		t.Fatalf("config JSON: %v", err)
	}
	return cfg.Name
}

func dial(t *testing.T, addr string, o Options) (*Conn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, addr, o)
	if err == nil {
		t.Cleanup(func() { _ = c.Close() })
	}
	return c, err
}

func TestDialSim(t *testing.T) {
	c := startSim(t, sim.Options{Buckets: []string{"default", "other"}})
	addr := c.Nodes()[0].KVAddr()
	notify := []uint16{FeatureXError, FeatureSelectBucket, FeatureDuplex, FeatureGetClusterConfigKnownVer,
		FeatureClustermapNotificationBrief, FeatureClustermapNotification}
	tests := []struct {
		name         string
		o            Options
		wantMech     string
		wantFeatures []uint16
		wantBucket   string
	}{
		{"default features", Options{User: "Administrator", Password: "password", Bucket: "default"},
			"SCRAM-SHA512", []uint16{FeatureXError, FeatureSelectBucket}, "default"},
		{"other bucket", Options{User: "Administrator", Password: "password", Bucket: "other"},
			"SCRAM-SHA512", []uint16{FeatureXError, FeatureSelectBucket}, "other"},
		// Both notification modes asked for: only brief is enabled (facts D.4).
		{"duplex and notifications", Options{User: "Administrator", Password: "password", Bucket: "default", Features: notify},
			"SCRAM-SHA512", []uint16{FeatureXError, FeatureSelectBucket, FeatureDuplex, FeatureGetClusterConfigKnownVer, FeatureClustermapNotificationBrief}, "default"},
		{"full notifications", Options{User: "Administrator", Password: "password", Bucket: "default",
			Features: []uint16{FeatureDuplex, FeatureClustermapNotification}},
			"SCRAM-SHA512", []uint16{FeatureDuplex, FeatureClustermapNotification}, "default"},
		{"no bucket", Options{User: "Administrator", Password: "password"},
			"SCRAM-SHA512", []uint16{FeatureXError, FeatureSelectBucket}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kc, err := dial(t, addr, tt.o)
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			if kc.Mech != tt.wantMech || kc.Plain {
				t.Errorf("Mech, Plain = %q, %v; want %q, false", kc.Mech, kc.Plain, tt.wantMech)
			}
			if !slices.Equal(kc.Features, tt.wantFeatures) {
				t.Errorf("Features = %#x, want %#x", kc.Features, tt.wantFeatures)
			}
			for _, f := range tt.wantFeatures {
				if !kc.Has(f) {
					t.Errorf("Has(%#x) = false", f)
				}
			}
			if got := configName(t, kc); got != tt.wantBucket {
				t.Errorf("config name = %q, want %q (the selected bucket)", got, tt.wantBucket)
			}
		})
	}
}

func TestDialRefused(t *testing.T) {
	c := startSim(t, sim.Options{})
	addr := c.Nodes()[0].KVAddr()
	tests := []struct {
		name       string
		o          Options
		wantText   string
		wantBucket bool // also ErrNoBucket
	}{
		{"wrong password", Options{User: "Administrator", Password: "wrong", Bucket: "default"}, "SCRAM-SHA512 as \"Administrator\": AUTH_ERROR", false},
		{"unknown user", Options{User: "nobody", Password: "x", Bucket: "default"}, "AUTH_ERROR", false},
		{"unknown bucket", Options{User: "Administrator", Password: "password", Bucket: "nope"}, `SELECT_BUCKET: unknown bucket "nope"`, true},
		{"bucket without credentials", Options{Bucket: "default"}, `SELECT_BUCKET "default": EACCESS (no access)`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := dial(t, addr, tt.o)
			if !errors.Is(err, ErrAuth) {
				t.Fatalf("Dial error = %v, want ErrAuth", err)
			}
			if got := errors.Is(err, ErrNoBucket); got != tt.wantBucket {
				t.Errorf("errors.Is(err, ErrNoBucket) = %v, want %v (%v)", got, tt.wantBucket, err)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("Dial error = %q, want it to contain %q", err, tt.wantText)
			}
		})
	}
}

func TestDialOptionsNotificationNeedsDuplex(t *testing.T) {
	for _, f := range []uint16{FeatureClustermapNotification, FeatureClustermapNotificationBrief} {
		_, err := Dial(context.Background(), "127.0.0.1:1", Options{Features: []uint16{FeatureXError, f}})
		if err == nil || !strings.Contains(err.Error(), "kvconn: Features: a clustermap notification") {
			t.Errorf("Dial with %#x and no Duplex: error %v, want the Features error", f, err)
		}
	}
}

// A plain memcached server: no credentials, HELLO answered UNKNOWN_COMMAND,
// nothing selected, and the connection still serves requests (the empty
// probe did not desynchronise memcached).
func TestDialPlainMemcached(t *testing.T) {
	addr := mctest.Start(t)
	kc, err := dial(t, addr, Options{Bucket: "default"})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	if !kc.Plain || kc.Features != nil || kc.Mech != "" {
		t.Fatalf("Plain, Features, Mech = %v, %v, %q; want true, nil, \"\"", kc.Plain, kc.Features, kc.Mech)
	}
	_ = kc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := kc.Write(memcached.AppendRequest(nil, memcached.OpVersion, 0, 9, 0, nil, nil, nil)); err != nil {
		t.Fatal(err)
	}
	var p memcached.Packet
	if err := kc.Reader.ReadResponse(&p); err != nil || p.Status != memcached.StatusSuccess || p.Opaque != 9 {
		t.Fatalf("VERSION after the handshake: %v, status %s, opaque %d", err, p.Status, p.Opaque)
	}
}

func TestDialTLS(t *testing.T) {
	c := startSim(t, sim.Options{TLSDir: t.TempDir()})
	addr := c.Nodes()[0].KVTLSAddr()
	trusted := &tls.Config{RootCAs: c.CA().Pool(), MinVersion: tls.VersionTLS12}
	tests := []struct {
		name     string
		scram    bool
		wantMech string
	}{
		{"PLAIN over TLS", false, "PLAIN"},
		{"SCRAM over TLS", true, "SCRAM-SHA512"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kc, err := dial(t, addr, Options{User: "Administrator", Password: "password", Bucket: "default", TLS: trusted, SCRAMOverTLS: tt.scram})
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			if _, ok := kc.Conn.(*tls.Conn); !ok {
				t.Errorf("Conn is %T, want *tls.Conn", kc.Conn)
			}
			if kc.Mech != tt.wantMech {
				t.Errorf("Mech = %q, want %q", kc.Mech, tt.wantMech)
			}
			if got := configName(t, kc); got != "default" {
				t.Errorf("config name = %q, want default", got)
			}
		})
	}
	t.Run("untrusted", func(t *testing.T) {
		_, err := dial(t, addr, Options{User: "Administrator", Password: "password", Bucket: "default",
			TLS: &tls.Config{RootCAs: x509.NewCertPool(), MinVersion: tls.VersionTLS12}})
		if !errors.Is(err, ErrTLS) {
			t.Fatalf("Dial error = %v, want ErrTLS", err)
		}
		var unknown x509.UnknownAuthorityError
		if !errors.As(err, &unknown) {
			t.Errorf("error chain %v lacks x509.UnknownAuthorityError", err)
		}
	})
}

// A node that accepts and never answers: Dial gives up at ConnectTimeout
// and says so; cancelling the context aborts it sooner.
func TestDialSilentServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { _ = c.Close() })
		}
	}()
	start := time.Now()
	_, err = Dial(context.Background(), ln.Addr().String(), Options{User: "u", Password: "p", ConnectTimeout: 200 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "bootstrap did not finish within 200ms") {
		t.Errorf("Dial error = %v, want the timeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Dial took %v with a 200ms timeout", d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start = time.Now()
	_, err = Dial(ctx, ln.Addr().String(), Options{User: "u", Password: "p", ConnectTimeout: 10 * time.Second})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Dial error after cancel = %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("cancelled Dial took %v", d)
	}
}

func TestSCRAMCache(t *testing.T) {
	c := startSim(t, sim.Options{})
	addr := c.Nodes()[0].KVAddr()
	var cache SCRAMCache
	o := Options{User: "Administrator", Password: "password", Bucket: "default", SCRAM: &cache}
	if _, err := dial(t, addr, o); err != nil {
		t.Fatal(err)
	}
	first := cache.clients[0].c
	if first == nil {
		t.Fatal("no SCRAM-SHA512 client cached after a SCRAM-SHA512 login")
	}
	if _, err := dial(t, addr, o); err != nil {
		t.Fatal(err)
	}
	if cache.clients[0].c != first {
		t.Error("second dial with the same credentials built a new client")
	}
	o.Password = "wrong"
	if _, err := dial(t, addr, o); !errors.Is(err, ErrAuth) {
		t.Fatalf("wrong password: %v, want ErrAuth", err)
	}
	if cache.clients[0].c == first || cache.clients[0].password != "wrong" {
		t.Error("a dial with other credentials reused the cached client")
	}
}
