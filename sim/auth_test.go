package sim

import (
	"errors"
	"testing"

	gm "github.com/couchbase/gomemcached"
	gmc "github.com/couchbase/gomemcached/client"
	"github.com/xdg-go/scram"
)

func connectGM(t *testing.T, addr string) *gmc.Client {
	t.Helper()
	client, err := gmc.Connect("tcp", addr)
	if err != nil {
		t.Fatalf("gomemcached Connect %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = client.Close() })
	return client
}

func TestGomemcachedPlain(t *testing.T) {
	c := startCluster(t, Options{Nodes: 1, VBuckets: 1})
	client := connectGM(t, c.Nodes()[0].KVAddr())
	if _, err := client.Auth(testUser, testPass); err != nil {
		t.Fatalf("Auth: %v", err)
	}
	if _, err := client.SelectBucket("default"); err != nil {
		t.Fatalf("SelectBucket: %v", err)
	}
	if _, err := client.Set(0, "gk", 3, 0, []byte("gv")); err != nil {
		t.Fatalf("Set: %v", err)
	}
	res, err := client.Get(0, "gk")
	if err != nil || string(res.Body) != "gv" {
		t.Fatalf("Get: %v %q, want gv", err, res.Body)
	}
	_, err = client.Get(0, "missing")
	var mcr *gm.MCResponse
	if !errors.As(err, &mcr) || mcr.Status != gm.KEY_ENOENT {
		t.Errorf("Get missing: %v, want KEY_ENOENT", err)
	}
}

func TestGomemcachedPlainWrongPassword(t *testing.T) {
	c := startCluster(t, Options{Nodes: 1, VBuckets: 1})
	client := connectGM(t, c.Nodes()[0].KVAddr())
	_, err := client.Auth(testUser, "wrong")
	var mcr *gm.MCResponse
	if !errors.As(err, &mcr) || mcr.Status != gm.AUTH_ERROR {
		t.Fatalf("Auth with a wrong password: %v, want AUTH_ERROR", err)
	}
}

// scramAuth drives SASL_AUTH/SASL_STEP with gomemcached's Send and
// xdg-go/scram's client.
func scramAuth(t *testing.T, client *gmc.Client, mech string, h scram.HashGeneratorFcn, password string) error {
	t.Helper()
	sc, err := h.NewClient(testUser, password, "")
	if err != nil {
		t.Fatal(err)
	}
	conv := sc.NewConversation()
	first, err := conv.Step("")
	if err != nil {
		t.Fatal(err)
	}
	res, err := client.Send(&gm.MCRequest{Opcode: gm.SASL_AUTH, Key: []byte(mech), Body: []byte(first)})
	if err != nil {
		return err
	}
	if res.Status != gm.AUTH_CONTINUE {
		t.Fatalf("%s SASL_AUTH: %s, want AUTH_CONTINUE", mech, res.Status)
	}
	final, err := conv.Step(string(res.Body))
	if err != nil {
		t.Fatalf("%s client-final: %v", mech, err)
	}
	res, err = client.Send(&gm.MCRequest{Opcode: gm.SASL_STEP, Key: []byte(mech), Body: []byte(final)})
	if err != nil {
		return err
	}
	if _, err := conv.Step(string(res.Body)); err != nil || !conv.Valid() {
		t.Fatalf("%s: server-final %q does not verify: %v", mech, res.Body, err)
	}
	return nil
}

func TestGomemcachedSCRAM(t *testing.T) {
	c := startCluster(t, Options{Nodes: 1, VBuckets: 1})
	for _, tt := range []struct {
		mech string
		h    scram.HashGeneratorFcn
	}{
		{"SCRAM-SHA1", scram.SHA1}, {"SCRAM-SHA256", scram.SHA256}, {"SCRAM-SHA512", scram.SHA512},
	} {
		t.Run(tt.mech, func(t *testing.T) {
			client := connectGM(t, c.Nodes()[0].KVAddr())
			if err := scramAuth(t, client, tt.mech, tt.h, testPass); err != nil {
				t.Fatalf("%s: %v", tt.mech, err)
			}
			if _, err := client.SelectBucket("default"); err != nil {
				t.Fatalf("SelectBucket after %s: %v", tt.mech, err)
			}
			if _, err := client.Set(0, "k", 0, 0, []byte("v")); err != nil {
				t.Fatalf("Set after %s: %v", tt.mech, err)
			}

			bad := connectGM(t, c.Nodes()[0].KVAddr())
			err := scramAuth(t, bad, tt.mech, tt.h, "wrong")
			var mcr *gm.MCResponse
			if !errors.As(err, &mcr) || mcr.Status != gm.AUTH_ERROR {
				t.Fatalf("%s with a wrong password: %v, want AUTH_ERROR", tt.mech, err)
			}
		})
	}
}

func TestGomemcachedAuthScramSha(t *testing.T) {
	c := startCluster(t, Options{Nodes: 1, VBuckets: 1})
	client := connectGM(t, c.Nodes()[0].KVAddr())
	if _, err := client.AuthScramSha(testUser, testPass); err != nil {
		t.Fatalf("gomemcached AuthScramSha: %v", err)
	}
	if _, err := client.SelectBucket("default"); err != nil {
		t.Fatalf("SelectBucket: %v", err)
	}
}
