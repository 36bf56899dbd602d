package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestFlagsOverrideFile: each flag replaces what the file says.
func TestFlagsOverrideFile(t *testing.T) {
	dir := t.TempDir()
	pw := writeFile(t, dir, "pw", "secret")
	mapFile := writeFile(t, dir, "map.json", `{"vBucketServerMap":{"hashAlgorithm":"CRC","numReplicas":0,"serverList":["127.0.0.1:11211"],"vBucketMap":[[0]]}}`)
	file := `
listeners:
  - {address: "127.0.0.1:11211", bucket: default}
  - {address: "127.0.0.1:11212", bucket: sessions, allow_flush: true}
cluster:
  seeds: [http://127.0.0.11:8091]
  user: vbproxy
  password_env: VBPROXY_PASSWORD
upstream: {pool_size: 2}
admin: {address: "127.0.0.1:8080"}
log: {level: info, format: text}
`
	env := map[string]string{"VBPROXY_PASSWORD": "env-pw"}
	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, c *Config, s secrets)
	}{
		{"no flags: the file", nil, func(t *testing.T, c *Config, s secrets) {
			if c.Listeners[0].Address != "127.0.0.1:11211" || s.clusterPassword != "env-pw" || c.Upstream.PoolSize != 2 {
				t.Errorf("got %+v %q", c.Listeners, s.clusterPassword)
			}
		}},
		{"listener flags", []string{"-listen", "127.0.0.1:21211", "-bucket", "other", "-allow-flush=false", "-proxy-protocol"},
			func(t *testing.T, c *Config, s secrets) {
				want := []ListenerConfig{
					{Address: "127.0.0.1:21211", Bucket: "other", ProxyProtocol: "optional", TrustedCIDRs: []string{"0.0.0.0/0", "::/0"}},
					{Address: "127.0.0.1:11212", Bucket: "sessions", ProxyProtocol: "optional", TrustedCIDRs: []string{"0.0.0.0/0", "::/0"}},
				}
				if toYAMLAny(t, c.Listeners) != toYAMLAny(t, want) {
					t.Errorf("listeners: got %+v, want %+v", c.Listeners, want)
				}
			}},
		{"cluster flags", []string{"-cluster", "http://a:8091,http://b:8091", "-cluster", "http://c:8091", "-user", "u", "-password-file", pw, "-network", "external"},
			func(t *testing.T, c *Config, s secrets) {
				if strings.Join(c.Cluster.Seeds, " ") != "http://a:8091 http://b:8091 http://c:8091" {
					t.Errorf("seeds: got %q", c.Cluster.Seeds)
				}
				if c.Cluster.User != "u" || s.clusterPassword != "secret" || c.Cluster.PasswordEnv != "" || c.Cluster.Network != "external" {
					t.Errorf("cluster: got %+v password %q", c.Cluster, s.clusterPassword)
				}
			}},
		{"kv seeds keep their host lists", []string{"-cluster", "couchbase://a, b:11210,http://c:8091", "-cluster", "d:11210,couchbase://e,f", "-password-file", pw, "-user", "u"},
			func(t *testing.T, c *Config, s secrets) {
				if got := strings.Join(c.Cluster.Seeds, " "); got != "couchbase://a,b:11210 http://c:8091 d:11210 couchbase://e,f" {
					t.Errorf("seeds: got %q", got)
				}
			}},
		{"map replaces seeds", []string{"-map", mapFile}, func(t *testing.T, c *Config, s secrets) {
			if c.Cluster.MapFile != mapFile || c.Cluster.Seeds != nil {
				t.Errorf("cluster: got %+v", c.Cluster)
			}
		}},
		{"the rest", []string{"-admin", "", "-pool-size", "8", "-log-level", "debug", "-log-format", "json", "-password-env", "OTHER"},
			func(t *testing.T, c *Config, s secrets) {
				if c.Admin.Address != "" || c.Upstream.PoolSize != 8 || c.Log != (LogConfig{Level: "debug", Format: "json"}) || s.clusterPassword != "other-pw" {
					t.Errorf("got admin %q pool %d log %+v password %q", c.Admin.Address, c.Upstream.PoolSize, c.Log, s.clusterPassword)
				}
			}},
	}
	env["OTHER"] = "other-pw"
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, s, errs := checkYAML(t, file, env, tt.args...)
			if len(errs) > 0 {
				t.Fatalf("errors: %q", errs)
			}
			tt.check(t, c, s)
		})
	}
}

// TestConfigFreeCommandLine: without -config the flags make the listener.
func TestConfigFreeCommandLine(t *testing.T) {
	dir := t.TempDir()
	pw := writeFile(t, dir, "pw", "password\n")
	tests := []struct {
		name string
		args []string
		want ListenerConfig
	}{
		{"defaults", []string{"-cluster", "http://127.0.0.11:8091"}, ListenerConfig{Address: defaultListen, Bucket: defaultBucket}},
		{"given", []string{"-listen", "127.0.0.1:1", "-bucket", "b", "-cluster", "http://127.0.0.11:8091", "-allow-flush"},
			ListenerConfig{Address: "127.0.0.1:1", Bucket: "b", AllowFlush: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts, err := parseFlags(append(tt.args, "-user", "Administrator", "-password-file", pw), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			c, s, errs := loadConfig(opts, envMap(nil))
			if len(errs) > 0 {
				t.Fatalf("errors: %q", errs)
			}
			if len(c.Listeners) != 1 || toYAMLAny(t, c.Listeners[0]) != toYAMLAny(t, tt.want) {
				t.Errorf("listeners: got %+v, want [%+v]", c.Listeners, tt.want)
			}
			if c.Admin.Address != defaultAdmin || s.clusterPassword != "password" {
				t.Errorf("admin %q password %q, want %q and the file's password", c.Admin.Address, s.clusterPassword, defaultAdmin)
			}
		})
	}
}

// TestRunCheckConfig drives run() as main does.
func TestRunCheckConfig(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", minimal)
	bad := writeFile(t, dir, "bad.yaml", minimal+"upstream: {operation_timeout: -1s}\nlog: {level: loud}\n")
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
		wantErr  string
	}{
		{"good", []string{"-check-config", good}, 0, "config OK\n", ""},
		{"bad", []string{"-check-config", bad}, 2, "",
			"vbproxy: " + bad + ": upstream.operation_timeout: must be > 0, got -1s\n" +
				"vbproxy: " + bad + `: log.level: "loud": must be one of debug, info, warn, error` + "\n"},
		{"flags are checked too", []string{"-check-config", good, "-network", "lan"}, 2, "",
			"vbproxy: " + good + `: cluster.network: "lan": must be one of default, external, auto` + "\n"},
		{"missing file", []string{"-check-config", filepath.Join(dir, "nope.yaml")}, 2, "",
			"vbproxy: " + filepath.Join(dir, "nope.yaml") + ": open " + filepath.Join(dir, "nope.yaml") + ": no such file or directory\n"},
		{"both config flags", []string{"-check-config", good, "-config", good}, 2, "", "vbproxy: use -config or -check-config, not both\n"},
		{"stray argument", []string{"-check-config", good, "extra"}, 2, "", ""},
		{"unknown flag", []string{"-bogus"}, 2, "", ""},
		{"version", []string{"-version"}, 0, "vbproxy dev (" + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + ")\n", ""},
		{"help", []string{"-h"}, 0, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), tt.args, &out, &errb, envMap(nil))
			if code != tt.wantCode {
				t.Errorf("exit code: got %d, want %d (stderr %q)", code, tt.wantCode, errb.String())
			}
			if out.String() != tt.wantOut {
				t.Errorf("stdout: got %q, want %q", out.String(), tt.wantOut)
			}
			if tt.wantErr != "" && errb.String() != tt.wantErr {
				t.Errorf("stderr:\n got: %q\nwant: %q", errb.String(), tt.wantErr)
			}
		})
	}
}

// TestShippedConfigsValid: the example and the Kubernetes configs pass
// -check-config (with their password variables set).
func TestShippedConfigsValid(t *testing.T) {
	env := envMap(map[string]string{"VBPROXY_PASSWORD": "p", "VBPROXY_APP_PASSWORD": "a"})
	for _, f := range []string{
		"../../vbproxy.example.yaml",
		"../../deploy/kubernetes/base/vbproxy.yaml",
		"../../deploy/kubernetes/examples/two-buckets/vbproxy.yaml",
	} {
		t.Run(filepath.Base(filepath.Dir(f))+"/"+filepath.Base(f), func(t *testing.T) {
			if _, err := os.Stat(f); err != nil {
				t.Fatalf("%v", err)
			}
			var out, errb bytes.Buffer
			if code := run(context.Background(), []string{"-check-config", f}, &out, &errb, env); code != 0 {
				t.Errorf("exit %d: %s", code, errb.String())
			}
		})
	}
}

// TestExampleIsTheDefaults: every default written in vbproxy.example.yaml
// is the one the code applies.
func TestExampleIsTheDefaults(t *testing.T) {
	opts, err := parseFlags([]string{"-config", "../../vbproxy.example.yaml"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c, _, errs := loadConfig(opts, envMap(map[string]string{"VBPROXY_PASSWORD": "p", "VBPROXY_APP_PASSWORD": "a"}))
	if len(errs) > 0 {
		t.Fatalf("errors: %q", errs)
	}
	want := DefaultConfig()
	for _, pair := range []struct {
		name      string
		got, want any
	}{
		{"upstream", c.Upstream, want.Upstream},
		{"limits", c.Limits, want.Limits},
		{"admin", c.Admin, want.Admin},
		{"log", c.Log, want.Log},
		{"shutdown", c.Shutdown, want.Shutdown},
		{"cluster.network", c.Cluster.Network, want.Cluster.Network},
		{"cluster.poll_interval", c.Cluster.PollInterval, want.Cluster.PollInterval},
		{"cluster.tls", c.Cluster.TLS, want.Cluster.TLS},
	} {
		if toYAMLAny(t, pair.got) != toYAMLAny(t, pair.want) {
			t.Errorf("%s: example has %+v, default is %+v", pair.name, pair.got, pair.want)
		}
	}
	if l := c.Listeners[0]; l.ProxyProtocol != "off" || l.AllowFlush || l.Protocols != "both" || l.ReadReplicas != "never" ||
		l.Collection != defaultCollection || l.TLS.enabled() || len(l.TrustedCIDRs) != 0 {
		t.Errorf("example listener: proxy_protocol %q allow_flush %v protocols %q read_replicas %q collection %q tls %+v trusted_cidrs %q; "+
			"want the defaults off, false, both, never, %s, none, none", l.ProxyProtocol, l.AllowFlush, l.Protocols, l.ReadReplicas, l.Collection, l.TLS, l.TrustedCIDRs, defaultCollection)
	}
}
