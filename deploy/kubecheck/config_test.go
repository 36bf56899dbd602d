package kubecheck

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseProxyConfig(t *testing.T) {
	const good = `
listeners:
  - {address: ":11211", bucket: default, users: [{name: app, password_env: APP_PW}]}
  - {address: "0.0.0.0:11212", bucket: b2}
cluster: {seeds: ["http://cb:8091"], user: u, password_file: /s/pw, network: external}
admin: {address: "[::]:8080"}
shutdown: {drain_timeout: 1m30s}
`
	c, err := ParseProxyConfig([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.ListenerPorts(), []int{11211, 11212}; !slices.Equal(got, want) {
		t.Errorf("ListenerPorts = %v, want %v", got, want)
	}
	if got := c.AdminPort(); got != 8080 {
		t.Errorf("AdminPort = %d, want 8080", got)
	}
	if c.DrainTimeout != 90*time.Second {
		t.Errorf("DrainTimeout = %v, want 1m30s", c.DrainTimeout)
	}
	want := []ProxySecretRef{{Name: "u", PasswordFile: "/s/pw"}, {Name: "app", PasswordEnv: "APP_PW"}}
	if got := c.SecretRefs(); !slices.Equal(got, want) {
		t.Errorf("SecretRefs = %+v, want %+v", got, want)
	}
	if c.Network != "external" || c.Seeds[0] != "http://cb:8091" {
		t.Errorf("network %q seeds %v", c.Network, c.Seeds)
	}

	bad := []struct {
		name, in, want string
	}{
		{"no listeners", "admin: {address: ':8080'}", "listeners: none"},
		{"no port", "listeners: [{address: ':'}]\nadmin: {address: ':8080'}", "listeners[0].address"},
		{"loopback", "listeners: [{address: '127.0.0.1:11211'}]\nadmin: {address: ':8080'}", "loopback"},
		{"localhost admin", "listeners: [{address: ':11211'}]\nadmin: {address: 'localhost:8080'}", "admin.address"},
		{"fixed pod IP", "listeners: [{address: '10.1.2.3:11211'}]\nadmin: {address: ':8080'}", "bind all addresses"},
		{"port 0", "listeners: [{address: ':0'}]\nadmin: {address: ':8080'}", "not in 1..65535"},
		{"duplicate port", "listeners: [{address: ':1'}, {address: ':1'}]\nadmin: {address: ':8080'}", "already used by listeners[0]"},
		{"admin on a listener port", "listeners: [{address: ':1'}]\nadmin: {address: ':1'}", "admin.address: port 1 already used"},
		{"no admin", "listeners: [{address: ':1'}]", "admin.address: empty"},
		{"bad drain", "listeners: [{address: ':1'}]\nadmin: {address: ':2'}\nshutdown: {drain_timeout: 10}", "shutdown.drain_timeout"},
		{"not yaml", "listeners: [", "vbproxy config"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseProxyConfig([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrConfig) {
				t.Errorf("ParseProxyConfig error = %v, want ErrConfig containing %q", err, tt.want)
			}
		})
	}
}

func FuzzParseProxyConfig(f *testing.F) {
	f.Add([]byte("listeners: [{address: ':11211'}]\nadmin: {address: ':8080'}\nshutdown: {drain_timeout: 5s}"))
	f.Add([]byte("listeners: [{address: '[::1]:1'}]"))
	f.Add([]byte("listeners: [{address: ':11207', tls: {cert_file: /c, key_file: /k, client_ca_file: /ca}}]\n" +
		"cluster: {seeds: [https://a:18091], tls: {ca_file: /x, client_cert_file: /y, client_key_file: /z}}\n" +
		"admin: {address: ':8080', token_file: /t, tls: {cert_file: /ac, key_file: /ak}}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseProxyConfig(data)
		if err != nil {
			return
		}
		for _, p := range append(c.ListenerPorts(), c.AdminPort()) {
			if p < 1 || p > 65535 {
				t.Fatalf("accepted port %d", p)
			}
		}
		for _, f := range c.Files {
			if f.Path == "" || f.Field == "" || int(f.Kind) >= len(fileKindNames) {
				t.Fatalf("file %+v: empty path or field, or unknown kind", f)
			}
		}
	})
}

func TestParseGoMemLimit(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"460MiB", 460 << 20, true},
		{"1GiB", 1 << 30, true},
		{"1024", 1024, true},
		{"10B", 10, true},
		{"2KiB", 2048, true},
		{"1TiB", 1 << 40, true},
		{"1Gi", 0, false}, // Kubernetes quantity syntax, not Go's
		{"1GB", 0, false},
		{"-1", 0, false},
		{"off", 0, false},
		{"", 0, false},
		{"99999999999TiB", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseGoMemLimit(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseGoMemLimit(%q) = %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func FuzzParseGoMemLimit(f *testing.F) {
	for _, s := range []string{"460MiB", "1", "9223372036854775807", "8388608TiB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseGoMemLimit(s)
		if err == nil && n < 0 {
			t.Fatalf("ParseGoMemLimit(%q) = %d", s, n)
		}
	})
}
