package main

import (
	"bytes"
	"errors"
	"flag"
	"io"
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
				o.User != "Administrator" || o.Password != "password" || o.AllowFlush || o.NoReplicas {
				t.Errorf("defaults: %+v", o)
			}
		}},
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
