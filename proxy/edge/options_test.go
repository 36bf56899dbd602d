package edge

import (
	"crypto/tls"
	"crypto/x509"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestNewErrors(t *testing.T) {
	p := newPKI(t)
	empty := filepath.Join(t.TempDir(), "empty.pem")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	other := p.server(t)
	_, otherKey, err := other.WriteFiles(t.TempDir(), "other")
	if err != nil {
		t.Fatal(err)
	}
	withTLS := func(f func(o *TLSOptions)) Options {
		o := p.tlsOptions()
		f(o)
		return Options{TLS: o}
	}
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"optional without trusted", Options{ProxyProtocol: ProxyOptional},
			"trusted_cidrs: required with proxy_protocol optional (the load balancers' addresses; 0.0.0.0/0 and ::/0 trust every source)"},
		{"trusted with off", Options{TrustedCIDRs: trustedCIDRs}, "trusted_cidrs: set but proxy_protocol is off"},
		{"invalid prefix", Options{ProxyProtocol: ProxyRequired, TrustedCIDRs: []netip.Prefix{trustedCIDRs[0], {}}},
			"trusted_cidrs[1]: invalid prefix"},
		{"unknown mode", Options{ProxyProtocol: 7}, "proxy_protocol: unknown mode 7"},
		{"negative header timeout", Options{HeaderTimeout: -1}, "header_timeout: -1ns is negative"},
		{"negative handshake timeout", Options{HandshakeTimeout: -1}, "handshake_timeout: -1ns is negative"},
		{"no cert file", withTLS(func(o *TLSOptions) { o.CertFile = "" }), "tls.cert_file: required"},
		{"no key file", withTLS(func(o *TLSOptions) { o.KeyFile = "" }), "tls.key_file: required"},
		{"missing cert file", withTLS(func(o *TLSOptions) { o.CertFile = "/nonexistent/tls.crt" }),
			"tls.cert_file: open /nonexistent/tls.crt: no such file or directory"},
		{"empty cert file", withTLS(func(o *TLSOptions) { o.CertFile = empty }), "tls.cert_file: no certificates found in " + empty},
		{"key of another pair", withTLS(func(o *TLSOptions) { o.KeyFile = otherKey }),
			"tls.cert_file: " + p.certFile + " and " + otherKey + ": tls: private key does not match public key"},
		{"bad client auth", withTLS(func(o *TLSOptions) { o.ClientAuth = "optional" }),
			`tls.client_auth: unknown value "optional": want none, request or require`},
		{"require without CA", withTLS(func(o *TLSOptions) { o.ClientAuth = "require" }),
			"tls.client_ca_file: required with client_auth require"},
		{"CA without client auth", withTLS(func(o *TLSOptions) { o.ClientCAFile = p.caFile }),
			"tls.client_ca_file: set but client_auth is none (use request or require)"},
		{"empty client CA", withTLS(func(o *TLSOptions) { o.ClientAuth, o.ClientCAFile = "request", empty }),
			"tls.client_ca_file: no certificates found in " + empty},
		{"users without client auth", withTLS(func(o *TLSOptions) { o.CertUsers = []CertUser{{Match: "cn:a", User: "a"}} }),
			"tls.cert_users: client certificates are not requested (set client_auth to request or require)"},
		{"users and UserFromCert", withTLS(func(o *TLSOptions) {
			o.ClientAuth, o.ClientCAFile = "require", p.caFile
			o.CertUsers = []CertUser{{Match: "cn:a", User: "a"}}
			o.UserFromCert = func(*x509.Certificate) (string, bool) { return "", false }
		}), "tls.cert_users: set together with UserFromCert (use one)"},
		{"bad match", withTLS(func(o *TLSOptions) {
			o.ClientAuth, o.ClientCAFile = "require", p.caFile
			o.CertUsers = []CertUser{{Match: "cn:a", User: "a"}, {Match: "app", User: "a"}}
		}), `tls.cert_users[1].match: "app": want cn:NAME, dns:NAME, email:ADDR or uri:URI`},
		{"unknown match field", withTLS(func(o *TLSOptions) {
			o.ClientAuth, o.ClientCAFile = "require", p.caFile
			o.CertUsers = []CertUser{{Match: "ou:ops", User: "a"}}
		}), `tls.cert_users[0].match: unknown field "ou": want cn, dns, email or uri`},
		{"no user", withTLS(func(o *TLSOptions) {
			o.ClientAuth, o.ClientCAFile = "require", p.caFile
			o.CertUsers = []CertUser{{Match: "cn:a"}}
		}), "tls.cert_users[0].user: required"},
		{"old min version", withTLS(func(o *TLSOptions) { o.MinVersion = tls.VersionTLS11 }),
			"tls.min_version: unsupported TLS version TLS 1.1: use TLS 1.2 or 1.3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := New(tc.o)
			if err == nil {
				e.Close()
				t.Fatalf("New succeeded, want %s", tc.want)
			}
			if err.Error() != tc.want {
				t.Fatalf("err = %s\nwant  %s", err, tc.want)
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	e := newEdge(t, Options{ProxyProtocol: ProxyOptional, TrustedCIDRs: []netip.Prefix{netip.MustParsePrefix("10.1.2.3/8")}})
	defer e.Close()
	if e.o.HeaderTimeout != DefaultHeaderTimeout || e.o.HandshakeTimeout != DefaultHandshakeTimeout {
		t.Fatalf("timeouts %s %s", e.o.HeaderTimeout, e.o.HandshakeTimeout)
	}
	if want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}; !reflect.DeepEqual(e.o.trusted, want) {
		t.Fatalf("trusted %v, want %v (masked)", e.o.trusted, want)
	}
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]Mode{"": ProxyOff, "off": ProxyOff, "optional": ProxyOptional, "required": ProxyRequired} {
		var m Mode
		if err := m.UnmarshalText([]byte(in)); err != nil || m != want {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v", in, m, err, want)
		}
		if in != "" {
			if b, _ := want.MarshalText(); string(b) != in {
				t.Errorf("MarshalText(%v) = %q", want, b)
			}
		}
	}
	if _, err := ParseMode("true"); err == nil || err.Error() != `unknown mode "true": want off, optional or required` {
		t.Errorf("ParseMode(true) err = %v", err)
	}
}

func TestParsePrefixes(t *testing.T) {
	got, err := ParsePrefixes([]string{"10.0.0.0/8", " 192.0.2.7 ", "2001:db8::/32", "::1", "::ffff:198.18.0.1", "10.1.2.3/16"})
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32"),
		netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("::1/128"),
		netip.MustParsePrefix("198.18.0.1/32"), netip.MustParsePrefix("10.1.0.0/16"),
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
	for in, msg := range map[string]string{
		"lb.example.com": `trusted_cidrs[1]: "lb.example.com" is neither an address nor a prefix`,
		"10.0.0.0/33":    `trusted_cidrs[1]: netip.ParsePrefix("10.0.0.0/33"): prefix length out of range`,
	} {
		if _, err := ParsePrefixes([]string{"10.0.0.0/8", in}); err == nil || err.Error() != msg {
			t.Errorf("ParsePrefixes(%q) err = %v\nwant %s", in, err, msg)
		}
	}
}
