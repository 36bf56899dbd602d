package main

import (
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/sim"
)

// adminDo sends one admin request with client, with a bearer token unless
// token is "".
func adminDo(t *testing.T, client *http.Client, method, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

const (
	tokenA = "token-A-0123456789abcdef"
	tokenB = "token-B-fedcba9876543210"
)

// TestAdminTokenOverTLS: the admin server over TLS with a token: probes and
// metrics open, reload and pprof guarded (right, wrong and missing token),
// and plain HTTP refused on the TLS port.
func TestAdminTokenOverTLS(t *testing.T) {
	c := startSim(t, sim.Options{Nodes: 2})
	dir := t.TempDir()
	cert, key, client := writeCert(t, dir, "admin")
	cfg, _ := testConfig(t, c)
	cfg.Admin.TokenFile = writeFile(t, dir, "admin.token", tokenA+"\n")
	cfg.Admin.TLS = AdminTLSConfig{CertFile: cert, KeyFile: key}
	cfg.Admin.Pprof = true
	sec, errs := validate(cfg, envMap(map[string]string{"PW": "password"}))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	r := startApp(t, cfg, sec)
	if !strings.HasPrefix(r.admin, "https://") {
		t.Fatalf("admin URL %s, want https", r.admin)
	}
	waitFor(t, "readyz 200", func() bool { code, _ := adminDo(t, client, "GET", r.admin+"/readyz", ""); return code == 200 })

	for _, p := range []string{"/healthz", "/readyz", "/metrics", "/vbmap", "/", "/api/state"} {
		if code, body := adminDo(t, client, "GET", r.admin+p, ""); code != 200 {
			t.Errorf("GET %s without a token: %d %.200s, want 200", p, code, body)
		}
	}
	for _, g := range []struct{ method, path string }{{"POST", "/reload"}, {"GET", "/debug/pprof/cmdline"}} {
		for _, tc := range []struct {
			token string
			want  int
		}{{"", 401}, {"wrong-token-0123456789", 401}, {tokenA[:len(tokenA)-1], 401}, {tokenA, 200}} {
			if code, body := adminDo(t, client, g.method, r.admin+g.path, tc.token); code != tc.want {
				t.Errorf("%s %s with token %q: %d %.200s, want %d", g.method, g.path, tc.token, code, body, tc.want)
			}
		}
	}

	plain := &http.Client{Timeout: 10 * time.Second}
	if resp, err := plain.Get("http://" + strings.TrimPrefix(r.admin, "https://") + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("plain HTTP to the TLS admin port: 200, want a refused handshake")
		}
	}
}

// TestAdminCertReload: a config reload re-reads admin.tls's files, so a
// rotated certificate is served to new connections without a restart.
func TestAdminCertReload(t *testing.T) {
	c := startSim(t, sim.Options{Nodes: 1})
	dir := t.TempDir()
	certFile, keyFile, clientA := writeCert(t, dir, "admin")
	file := writeFile(t, dir, "vbproxy.yaml", `listeners: [{address: "127.0.0.1:0", bucket: default}]
cluster: {seeds: [`+c.SeedURL()+`], user: Administrator, password_env: PW}
admin: {address: "127.0.0.1:0", tls: {cert_file: `+certFile+`, key_file: `+keyFile+`}}
`)
	opts, err := parseFlags([]string{"-config", file}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	env := envMap(map[string]string{"PW": "password"})
	cfg, sec, errs := loadConfig(opts, env)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	r := startApp(t, cfg, sec, func(a *app) {
		a.configFile = file
		a.load = func() (*Config, secrets, []FieldError) { return loadConfig(opts, env) }
	})
	if code, _ := adminDo(t, clientA, "GET", r.admin+"/healthz", ""); code != 200 {
		t.Fatalf("healthz with the first certificate: %d", code)
	}

	// A new pair in the same files (as cert-manager rotates a Secret).
	rotated := t.TempDir()
	newCert, newKey, clientB := writeCert(t, rotated, "admin")
	for _, cp := range [][2]string{{newCert, certFile}, {newKey, keyFile}} {
		data, err := os.ReadFile(cp[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(cp[1], data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	code, body := adminDo(t, clientA, "POST", r.admin+"/reload?config=1", "")
	if code != 200 {
		t.Fatalf("reload: %d %s", code, body)
	}
	sameJSON(t, "reload", body, `{"file":"`+file+`","applied":["admin.tls"],"restart_required":[]}`)
	fresh := func(c *http.Client) *http.Client { // no connection reuse
		tr := c.Transport.(*http.Transport).Clone()
		tr.DisableKeepAlives = true
		return &http.Client{Timeout: 10 * time.Second, Transport: tr}
	}
	if code, _ := adminDo(t, fresh(clientB), "GET", r.admin+"/healthz", ""); code != 200 {
		t.Errorf("healthz trusting the new certificate: %d, want 200", code)
	}
	if _, err := fresh(clientA).Get(r.admin + "/healthz"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("a client trusting only the old certificate: %v, want a certificate error", err)
	}
}
