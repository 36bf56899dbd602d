package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// envMap is a lookupEnv over a fixed map.
func envMap(m map[string]string) lookupEnv {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// checkYAML decodes and validates a configuration text, with the flags
// given, and returns every error line.
func checkYAML(t *testing.T, text string, env map[string]string, args ...string) (*Config, secrets, []string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "vbproxy.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := parseFlags(append([]string{"-config", path}, args...), os.Stderr)
	if err != nil {
		t.Fatalf("parseFlags: %v", err)
	}
	cfg, sec, errs := loadConfig(opts, envMap(env))
	var lines []string
	for _, e := range errs {
		lines = append(lines, e.Error())
	}
	return cfg, sec, lines
}

// writeFile writes content to a new file in dir and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const minimal = `
listeners:
  - address: 127.0.0.1:11211
    bucket: default
cluster:
  seeds: [http://127.0.0.11:8091]
`

func TestConfigGood(t *testing.T) {
	dir := t.TempDir()
	pwFile := writeFile(t, dir, "cluster.password", "s3cret\n")
	appPw := writeFile(t, dir, "app.password", "app-pw")
	mapFile := writeFile(t, dir, "map.json", `{"name":"cache","vBucketServerMap":{"hashAlgorithm":"CRC","numReplicas":0,"serverList":["127.0.0.1:11211"],"vBucketMap":[[0],[0]]}}`)
	env := map[string]string{"VBPROXY_PASSWORD": "from-env", "SESSIONS_PW": "sess"}

	tests := []struct {
		name  string
		text  string
		check func(t *testing.T, c *Config, s secrets)
	}{
		{"minimal gets the defaults", minimal, func(t *testing.T, c *Config, s secrets) {
			want := DefaultConfig()
			want.Listeners = []ListenerConfig{{Address: "127.0.0.1:11211", Bucket: "default"}}
			want.Cluster.Seeds = []string{"http://127.0.0.11:8091"}
			if got, w := toYAML(t, c), toYAML(t, &want); got != w {
				t.Errorf("config:\n%s\nwant:\n%s", got, w)
			}
		}},
		{"password file, trailing newline trimmed", minimal + "  user: Administrator\n  password_file: " + pwFile + "\n",
			func(t *testing.T, c *Config, s secrets) {
				if s.clusterPassword != "s3cret" {
					t.Errorf("cluster password: got %q, want %q", s.clusterPassword, "s3cret")
				}
			}},
		{"password env and users", `
listeners:
  - address: ":11211"
    bucket: default
    users:
      - name: app
        password_file: ` + appPw + `
  - address: ":11212"
    bucket: sessions
    users: [{name: s, password_env: SESSIONS_PW}]
  - address: "[::1]:11213"
    bucket: default
cluster:
  seeds: ["https://cb.example.com:18091", "https://[::1]:18091"]
  user: vbproxy
  password_env: VBPROXY_PASSWORD
  network: auto
  poll_interval: 2.5s
upstream: {pool_size: 4, queue_size: 100, connect_timeout: 500ms, operation_timeout: 1m}
limits: {max_connections: 0, max_request_size: 1048576, idle_timeout: 5m, reply_hold: 0s}
admin: {address: "", pprof: true}
log: {level: debug, format: json}
shutdown: {drain_timeout: 1h}
`, func(t *testing.T, c *Config, s secrets) {
			if s.clusterPassword != "from-env" || s.users[0]["app"] != "app-pw" || s.users[1]["s"] != "sess" || len(s.users[2]) != 0 {
				t.Errorf("secrets: got cluster %q users %v", s.clusterPassword, s.users)
			}
			if c.Cluster.PollInterval != Duration(2500*time.Millisecond) || c.Upstream.OperationTimeout != Duration(time.Minute) {
				t.Errorf("durations: got poll %s op %s", c.Cluster.PollInterval, c.Upstream.OperationTimeout)
			}
			if c.Admin.Address != "" || !c.Admin.Pprof || c.Limits.MaxConnections != 0 {
				t.Errorf("admin/limits: got %+v %+v", c.Admin, c.Limits)
			}
		}},
		{"kv seeds", `
listeners: [{address: "127.0.0.1:0", bucket: default}]
cluster:
  seeds: ["couchbase://10.0.0.1,10.0.0.2:11300", "10.0.0.3:11210"]
  config_source: cccp
  config_check_interval: 1s
  silent_interval: 10s
`, func(t *testing.T, c *Config, s secrets) {
			if c.Cluster.ConfigSource != "cccp" || c.Cluster.ConfigCheckInterval != Duration(time.Second) ||
				c.Cluster.SilentInterval != Duration(10*time.Second) || len(c.Cluster.Seeds) != 2 || clusterTLSOn(&c.Cluster) {
				t.Errorf("cluster: got %+v (TLS %v)", c.Cluster, clusterTLSOn(&c.Cluster))
			}
		}},
		{"couchbases seeds turn TLS on", `
listeners: [{address: "127.0.0.1:0", bucket: default}]
cluster: {seeds: ["couchbases://10.0.0.1", "10.0.0.2:11207"]}
`, func(t *testing.T, c *Config, s secrets) {
			if !clusterTLSOn(&c.Cluster) {
				t.Error("cluster TLS off with couchbases:// seeds")
			}
		}},
		{"static map", `
listeners: [{address: "127.0.0.1:0", bucket: cache}, {address: "127.0.0.1:0", bucket: cache}]
cluster: {map_file: ` + mapFile + `}
`, func(t *testing.T, c *Config, s secrets) {
			if c.Cluster.MapFile != mapFile || len(c.Listeners) != 2 {
				t.Errorf("got %+v", c.Cluster)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, s, errs := checkYAML(t, tt.text, env)
			if len(errs) > 0 {
				t.Fatalf("errors: %q, want none", errs)
			}
			tt.check(t, c, s)
		})
	}
}

// TestConfigBad pins the exact error text for each kind of mistake.
func TestConfigBad(t *testing.T) {
	dir := t.TempDir()
	empty := writeFile(t, dir, "empty.password", "\n")
	badMap := writeFile(t, dir, "bad.json", `{"vBucketServerMap":{"hashAlgorithm":"CRC","serverList":[],"vBucketMap":[]}}`)
	missing := filepath.Join(dir, "nope")

	tests := []struct {
		name string
		text string
		want []string
	}{
		{"empty file", "", []string{
			"listeners: at least one listener is required",
			"cluster: exactly one of seeds or map_file must be set",
		}},
		{"missing bucket", `
listeners:
  - {address: ":11211", bucket: default}
  - {address: ":11212"}
cluster: {seeds: [http://h:8091]}
`, []string{"listeners[1].bucket: required"}},
		{"negative timeout and sizes", minimal + `
upstream: {operation_timeout: -1s, pool_size: 0, queue_size: -5, connect_timeout: 0s}
limits: {max_connections: -1, max_request_size: 0, idle_timeout: -1s, reply_hold: -1ms}
shutdown: {drain_timeout: 0s}
`, []string{
			"upstream.pool_size: must be > 0, got 0",
			"upstream.queue_size: must be > 0, got -5",
			"upstream.connect_timeout: must be > 0, got 0s",
			"upstream.operation_timeout: must be > 0, got -1s",
			"limits.max_connections: must be >= 0 (0 = unlimited), got -1",
			"limits.max_request_size: must be > 0, got 0",
			"limits.idle_timeout: must be >= 0 (0 = none), got -1s",
			"limits.reply_hold: must be between 0s (never wait) and 100ms, got -1ms",
			"shutdown.drain_timeout: must be > 0, got 0s",
		}},
		{"seeds and map file", `
listeners: [{address: ":1", bucket: b}]
cluster: {seeds: [http://h:8091], map_file: /x}
`, []string{
			"cluster: exactly one of seeds or map_file must be set, got both",
			"cluster.map_file: open /x: no such file or directory",
		}},
		{"password file missing", minimal + "  user: u\n  password_file: " + missing + "\n",
			[]string{"cluster.password_file: open " + missing + ": no such file or directory"}},
		{"password file empty", minimal + "  user: u\n  password_file: " + empty + "\n",
			[]string{"cluster.password_file: " + empty + " is empty"}},
		{"password env unset and both set", minimal + "  user: u\n  password_env: NOPE\n",
			[]string{"cluster.password_env: environment variable NOPE is not set"}},
		{"password without user", minimal + "  password_env: VBPROXY_PASSWORD\n",
			[]string{"cluster.user: required when a password is set"}},
		{"user without password", minimal + "  user: u\n",
			[]string{`cluster: user "u" has no password: set password_file or password_env`}},
		{"unknown keys", `listeners:
  - address: ":11211"
    bucket: default
    buckt: x
cluster:
  seeds: [http://h:8091]
  foo: 1
`, []string{
			"listeners[0].buckt: unknown field (line 4); valid fields here: address, bucket, protocols, collection, read_replicas, proxy_protocol, trusted_cidrs, header_timeout, handshake_timeout, tls, allow_flush, users",
			"cluster.foo: unknown field (line 7); valid fields here: seeds, map_file, user, password_file, password_env, network, poll_interval, config_source, config_check_interval, silent_interval, tls",
		}},
		{"wrong types", minimal + `upstream:
  pool_size: many
  connect_timeout: 2
  operation_timeout: [1s]
admin:
  pprof: maybe
`, []string{
			`upstream.pool_size: want a whole number, got "many" (line 8)`,
			`upstream.connect_timeout: invalid duration "2": want a number with a unit (ns, us, ms, s, m, h), such as "2.5s" (line 9)`,
			`upstream.operation_timeout: want a duration such as "2.5s" (line 10)`,
			`admin.pprof: want true or false, got "maybe" (line 12)`,
		}},
		{"listeners not a list", "listeners: {address: x}\ncluster: {seeds: [http://h:8091]}\n", []string{
			"listeners: want a list, got a mapping (line 1)", // and no "at least one listener" noise
		}},
		{"bad addresses", `
listeners:
  - {address: "localhost", bucket: a}
  - {address: "127.0.0.1:99999", bucket: b}
  - {address: "127.0.0.1:11211", bucket: c}
  - {address: "0.0.0.0:11211", bucket: "bad name"}
  - {address: "127.0.0.1:0", bucket: e}
  - {address: "127.0.0.1:0", bucket: e}
cluster: {seeds: [http://h:8091]}
admin: {address: ":11211"}
`, []string{
			`listeners[0].address: "localhost": want host:port, such as 127.0.0.1:11211 or :11211 (missing port in address)`,
			`listeners[1].address: "127.0.0.1:99999": port "99999" is not a number from 0 to 65535`,
			`listeners[3].address: "0.0.0.0:11211" is also listeners[2].address`,
			`listeners[3].bucket: "bad name": bucket names have 1 to 100 letters, digits, '.', '_', '-' or '%'`,
			`admin.address: ":11211" is also listeners[2].address`,
			`admin.address: ":11211" is also listeners[3].address`,
		}},
		{"bad seeds and enums", `
listeners: [{address: ":1", bucket: b}]
cluster:
  seeds: ["ftp://h:8091", "http://", "127.0.0.1:8091", "http://h:0", "http://h:8091/pools", "http://h:8091/"]
  network: internal
  poll_interval: 0s
log: {level: verbose, format: xml}
`, []string{
			`cluster.seeds[0]: "ftp://h:8091": want an http:// or https:// URL such as http://10.0.0.1:8091, or KV addresses such as couchbase://10.0.0.1 or 10.0.0.1:11210`,
			`cluster.seeds[1]: "http://": no host`,
			`cluster.seeds[2]: "127.0.0.1:8091" is not a URL: first path segment in URL cannot contain colon`,
			`cluster.seeds[3]: "http://h:0": port "0" is not a number from 1 to 65535`,
			`cluster.seeds[4]: "http://h:8091/pools": want no path (the cluster manager's root, such as http://10.0.0.1:8091)`,
			`cluster.network: "internal": must be one of default, external, auto`,
			"cluster.poll_interval: must be > 0, got 0s",
			`log.level: "verbose": must be one of debug, info, warn, error`,
			`log.format: "xml": must be one of text, json`,
		}},
		{"bad kv seeds and config source", `
listeners: [{address: ":1", bucket: b}]
cluster:
  seeds: ["couchbase://h/default", "couchbase://", "couchbase://a,,b", "couchbase://[::1]:x"]
  config_source: kv
  config_check_interval: 0s
  silent_interval: -1s
`, []string{
			`cluster.seeds[0]: "couchbase://h/default": "/default" is not accepted (a connection string's bucket and options are set in their own fields)`,
			`cluster.seeds[1]: "couchbase://": no host`,
			`cluster.seeds[2]: "couchbase://a,,b": empty host`,
			`cluster.seeds[3]: "couchbase://[::1]:x": "[::1]:x": invalid port "x"`,
			`cluster.config_source: "kv": must be one of auto, http, cccp`,
			"cluster.config_check_interval: must be > 0, got 0s",
			"cluster.silent_interval: must be > 0, got -1s",
		}},
		{"kv seeds with config source http", `
listeners: [{address: ":1", bucket: b}]
cluster: {seeds: ["http://h:8091", "h:11210"], config_source: http}
`, []string{
			`cluster.seeds[1]: "h:11210" is a KV address, but cluster.config_source is http (it needs http:// or https:// seeds; use auto or cccp)`,
		}},
		{"kv seeds mixing plain and TLS", `
listeners: [{address: ":1", bucket: b}]
cluster: {seeds: ["couchbase://a", "couchbases://b"]}
`, []string{
			"cluster.seeds: seeds mix plain (http://, couchbase://, :11210) and TLS (https://, couchbases://, :11207) addresses",
		}},
		{"bad map file", "listeners: [{address: \":1\", bucket: b}]\ncluster: {map_file: " + badMap + "}\n", []string{
			"cluster.map_file: " + badMap + ": vbmap: vBucketServerMap.serverList: empty",
		}},
		{"users", `
listeners:
  - address: ":1"
    bucket: b
    users:
      - {password_env: A}
      - {name: x}
      - {name: x, password_env: A, password_file: /f}
      - {name: y, password_env: UNSET}
cluster: {seeds: [http://h:8091]}
`, []string{
			"listeners[0].users[0].name: required",
			"listeners[0].users[1]: exactly one of password_file or password_env must be set",
			`listeners[0].users[2].name: user "x" is listed twice`,
			"listeners[0].users[2]: exactly one of password_file or password_env must be set, got both",
			"listeners[0].users[3].password_env: environment variable UNSET is not set",
		}},
		{"syntax error", "listeners:\n  - address: [\n", []string{
			"YAML syntax: line 2: did not find expected node content",
		}},
		{"duplicate key", minimal + "cluster:\n  network: auto\n", []string{
			`cluster: set twice (lines 5 and 7)`,
		}},
		{"two documents", minimal + "---\nlisteners: []\n", []string{
			"line 7: a second YAML document; the file must hold exactly one",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, got := checkYAML(t, tt.text, map[string]string{"A": "a", "VBPROXY_PASSWORD": "p"})
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("errors:\n  got:  %q\n  want: %q", got, tt.want)
			}
		})
	}
}

// TestReplyHoldMapping: limits.reply_hold defaults to 500µs, and 0s (never
// wait) becomes the proxy's "never" (negative), not its "default" (zero).
func TestReplyHoldMapping(t *testing.T) {
	if d := DefaultConfig().Limits.ReplyHold; d != Duration(500*time.Microsecond) {
		t.Errorf("default limits.reply_hold = %s, want 500µs", d)
	}
	for _, tc := range []struct {
		in   Duration
		want time.Duration
	}{{0, -1}, {Duration(time.Millisecond), time.Millisecond}, {Duration(500 * time.Microsecond), 500 * time.Microsecond}} {
		if got := replyHold(tc.in); got != tc.want {
			t.Errorf("replyHold(%s) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
