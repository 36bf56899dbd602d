package main

import (
	"os"
	"strings"
	"testing"
)

// FuzzDecodeConfig: any input decodes to errors or a configuration, never
// a panic; every error names a field or a line.
func FuzzDecodeConfig(f *testing.F) {
	f.Add([]byte(minimal))
	if b, err := os.ReadFile("../../vbproxy.example.yaml"); err == nil {
		f.Add(b)
	}
	for _, s := range []string{
		"", "listeners: {address: x}", "listeners:\n  - address: [\n", "cluster:\n  foo: 1\n",
		"upstream: {pool_size: many, connect_timeout: 2}", "a: 1\na: 2\n", "---\n---\n",
		"listeners: [{address: ':1', bucket: b, users: [{name: u}]}]\ncluster: {seeds: ['ftp://x']}\n",
		"shutdown: {drain_timeout: [1s]}", "log: !!binary aGVsbG8=", "&a [*a]",
		"listeners: [{address: ':1', bucket: b, proxy_protocol: true, trusted_cidrs: [x], tls: {client_auth: y, cert_users: [{match: q}]}}]",
		"listeners: [{proxy_protocol: [1], collection: a.b.c, read_replicas: 1, protocols: {}}]\ncluster: {tls: {enabled: yes, scram_over_tls: 2}}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := DefaultConfig()
		errs, fatal := decodeConfig(data, &cfg)
		for _, e := range errs {
			if e.Field == "" && !strings.HasPrefix(e.Msg, "line ") && !strings.HasPrefix(e.Msg, "YAML") {
				t.Errorf("error without a field or line: %q", e.Msg)
			}
		}
		if fatal {
			return
		}
		// Validate without touching the file system: the input names files.
		cfg.Cluster.MapFile, cfg.Cluster.PasswordFile = "", ""
		cfg.Cluster.TLS.CAFile, cfg.Cluster.TLS.ClientCertFile, cfg.Cluster.TLS.ClientKeyFile = "", "", ""
		cfg.Admin.TokenFile, cfg.Admin.TLS = "", AdminTLSConfig{}
		for i := range cfg.Listeners {
			for j := range cfg.Listeners[i].Users {
				cfg.Listeners[i].Users[j].PasswordFile = ""
			}
			t := &cfg.Listeners[i].TLS
			t.CertFile, t.KeyFile, t.ClientCAFile = "", "", ""
		}
		_, verrs := validate(&cfg, envMap(nil))
		for _, e := range verrs {
			if e.Field == "" {
				t.Errorf("validation error without a field: %q", e.Msg)
			}
		}
	})
}
