package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vbproxy/vbproxy/sim"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
		check   func(t *testing.T, o sim.Options)
	}{
		{"defaults", nil, "", func(t *testing.T, o sim.Options) {
			if o.Nodes != 3 || o.HostBase != "127.0.0.11" || o.MgmtPort != 8091 || o.KVPort != 11210 ||
				!slices.Equal(o.Buckets, []string{"default"}) || o.VBuckets != 1024 || o.Replicas != 1 ||
				o.User != "Administrator" || o.Password != "password" || o.AllowFlush || o.NoReplicas ||
				o.TLSDir != "" || o.KVTLSPort != 11207 || o.ClientCertAuth != sim.ClientCertDisable {
				t.Errorf("defaults: %+v", o)
			}
		}},
		{"tls", []string{"-tls-dir", "/tmp/x", "-kv-tls-port", "12207", "-client-cert-auth", "mandatory"}, "", func(t *testing.T, o sim.Options) {
			if o.TLSDir != "/tmp/x" || o.KVTLSPort != 12207 || o.ClientCertAuth != sim.ClientCertMandatory {
				t.Errorf("got %+v", o)
			}
		}},
		{"tls port ephemeral with kv port 0", []string{"-host", "127.0.0.1", "-kv-port", "0", "-tls-dir", "d"}, "", func(t *testing.T, o sim.Options) {
			if o.KVTLSPort != 0 {
				t.Errorf("KVTLSPort = %d, want 0 (ephemeral like -kv-port 0)", o.KVTLSPort)
			}
		}},
		{"explicit tls port with kv port 0", []string{"-host", "127.0.0.1", "-kv-port", "0", "-tls-dir", "d", "-kv-tls-port", "12000"}, "", func(t *testing.T, o sim.Options) {
			if o.KVTLSPort != 12000 {
				t.Errorf("KVTLSPort = %d, want 12000", o.KVTLSPort)
			}
		}},
		{"client cert auth without tls", []string{"-client-cert-auth", "enable"}, "-client-cert-auth enable needs -tls-dir", nil},
		{"buckets and flags", []string{"-buckets", "a, b", "-flush", "-external-host", "203.0.113.5", "-replicas", "0"}, "", func(t *testing.T, o sim.Options) {
			if !slices.Equal(o.Buckets, []string{"a", "b"}) || !o.AllowFlush || o.ExternalHost != "203.0.113.5" || !o.NoReplicas {
				t.Errorf("got %+v", o)
			}
		}},
		{"host clears host-base", []string{"-host", "127.0.0.1", "-kv-port", "0"}, "", func(t *testing.T, o sim.Options) {
			if o.Host != "127.0.0.1" || o.HostBase != "" || o.KVPort != 0 {
				t.Errorf("got %+v", o)
			}
		}},
		{"no nodes", []string{"-nodes", "0"}, "-nodes 0", nil},
		{"bad replicas", []string{"-replicas", "5"}, "-replicas 5", nil},
		{"empty buckets", []string{"-buckets", ","}, "-buckets", nil},
		{"bad log level", []string{"-log-level", "loud"}, "-log-level", nil},
		{"stray argument", []string{"extra"}, "unexpected arguments", nil},
		{"collections and push off", []string{"-no-collections", "-no-push"}, "", func(t *testing.T, o sim.Options) {
			if !o.NoCollections || !o.NoClustermapPush {
				t.Errorf("got %+v", o)
			}
		}},
		{"bad control address", []string{"-control", "nope"}, "-control", nil},
		{"unknown flag", []string{"-nope"}, "flag provided but not defined", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parseFlags(tt.args, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseFlags: %v", err)
			}
			tt.check(t, cfg.opts)
		})
	}
	if _, err := parseFlags([]string{"-h"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v, want flag.ErrHelp", err)
	}
}

// With -tls-dir cbsim serves TLS, prints the TLS addresses and the CA
// path, and the CA it wrote verifies every node's KV TLS port.
func TestPrintReadyTLS(t *testing.T) {
	dir := t.TempDir()
	cfg, err := parseFlags([]string{"-host", "127.0.0.1", "-mgmt-port", "0", "-kv-port", "0", "-nodes", "2", "-vbuckets", "4", "-tls-dir", dir}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c, err := sim.Start(cfg.opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	var buf bytes.Buffer
	printReady(&buf, c, cfg.opts)
	out := buf.String()
	if want := "tls: seed " + c.TLSSeedURL() + ", CA " + filepath.Join(dir, "ca.pem"); !strings.Contains(out, want) {
		t.Errorf("output %q lacks %q", out, want)
	}
	pem, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	for _, n := range c.Nodes() {
		if !strings.Contains(out, "kv-tls "+n.KVTLSAddr()+"  mgmt-tls "+n.MgmtTLSURL()) {
			t.Errorf("output %q lacks node %s's TLS addresses", out, n)
		}
		conn, err := tls.Dial("tcp", n.KVTLSAddr(), &tls.Config{RootCAs: pool})
		if err != nil {
			t.Errorf("node %s: TLS dial %s with ca.pem: %v", n, n.KVTLSAddr(), err)
			continue
		}
		_ = conn.Close()
	}
}

func TestPrintReady(t *testing.T) {
	o := sim.Options{Host: "127.0.0.1", Nodes: 2, VBuckets: 4}
	c, err := sim.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	var buf bytes.Buffer
	printReady(&buf, c, o)
	out := buf.String()
	if !strings.Contains(out, "seed "+c.SeedURL()) {
		t.Errorf("output %q lacks the seed URL %s", out, c.SeedURL())
	}
	for _, n := range c.Nodes() {
		if !strings.Contains(out, n.OTPName()) || !strings.Contains(out, n.KVAddr()) {
			t.Errorf("output %q lacks node %s at %s", out, n.OTPName(), n.KVAddr())
		}
	}
}

func TestServeControl(t *testing.T) {
	c, err := sim.Start(sim.Options{Host: "127.0.0.1", Nodes: 1, VBuckets: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if cfg, err := parseFlags([]string{"-control", "127.0.0.1:0"}, io.Discard); err != nil || cfg.control != "127.0.0.1:0" {
		t.Fatalf("-control: %v %q", err, cfg.control)
	}
	srv, u, err := serveControl(c, "127.0.0.1:0", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	post := func(value string) int {
		req, err := http.NewRequest("POST", u+"/sim/mgmt", strings.NewReader(url.Values{"reachable": {value}}.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("Administrator", "password")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if code := post("false"); code != 200 || c.MgmtReachable() {
		t.Fatalf("reachable=false: %d, reachable %v", code, c.MgmtReachable())
	}
	if code := post("true"); code != 200 || !c.MgmtReachable() {
		t.Fatalf("reachable=true: %d, reachable %v", code, c.MgmtReachable())
	}
}
