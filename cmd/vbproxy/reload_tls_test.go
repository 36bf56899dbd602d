package main

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/vbproxy/vbproxy/admin"
	"github.com/vbproxy/vbproxy/internal/certs"
	"github.com/vbproxy/vbproxy/sim"
)

// TestReloadRereadsListenerCertificates: POST /reload, SIGHUP and POST
// /reload?config=1 re-read a TLS listener's certificate files; a config
// reload reports a new certificate as applied, and refuses files that do
// not load, naming the field (the old certificate keeps serving).
func TestReloadRereadsListenerCertificates(t *testing.T) {
	c := startSim(t, sim.Options{Nodes: 1})
	dir := t.TempDir()
	ca := newCA(t, "CA")
	first, certFile, keyFile := issue(t, ca, dir, "listener", certs.Options{CommonName: "first", Hosts: []string{"127.0.0.1"}})
	file := writeFile(t, dir, "vbproxy.yaml", `listeners:
  - address: 127.0.0.1:0
    bucket: default
    tls: {cert_file: `+certFile+`, key_file: `+keyFile+`}
cluster: {seeds: [`+c.SeedURL()+`], user: Administrator, password_env: PW}
admin: {address: "127.0.0.1:0"}
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
	hup := make(chan os.Signal, 1)
	r := startApp(t, cfg, sec, func(a *app) {
		a.hup, a.configFile = hup, file
		a.load = func() (*Config, secrets, []FieldError) { return loadConfig(opts, env) }
	})
	waitFor(t, "readyz 200", func() bool { code, _ := r.readyz(t); return code == 200 })
	reloads := func() float64 {
		return listenerMetric(t, r, "vbproxy_listener_certificate_reloads_total", 0, `result="ok"`)
	}
	if got := reloads(); got != 0 {
		t.Fatalf("certificate reloads at start: %v, want 0", got)
	}

	// The files have not changed, so the watcher does nothing: every
	// re-read below is the explicit one.
	if code, _, body := httpDo(t, "POST", r.admin+"/reload"); code != 200 {
		t.Fatalf("POST /reload: %d %s", code, body)
	}
	if got := reloads(); got != 1 {
		t.Errorf("certificate reloads after POST /reload: %v, want 1", got)
	}
	hup <- syscall.SIGHUP
	waitFor(t, "SIGHUP to re-read the certificate", func() bool { return reloads() == 2 })

	configReload := func() admin.ConfigChange {
		t.Helper()
		code, _, body := httpDo(t, "POST", r.admin+"/reload?config=1")
		var ch admin.ConfigChange
		if err := json.Unmarshal([]byte(body), &ch); code != 200 || err != nil {
			t.Fatalf("POST /reload?config=1: %d %s (%v)", code, body, err)
		}
		return ch
	}
	// A key that is not a key: the file does not validate, the reload
	// changes nothing and names the field; the watcher keeps the first
	// certificate serving and says it cannot load the new files.
	if err := os.WriteFile(keyFile, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, body := httpDo(t, "POST", r.admin+"/reload?config=1")
	var invalid struct{ Fields []admin.FieldProblem }
	if err := json.Unmarshal([]byte(body), &invalid); code != 400 || err != nil || len(invalid.Fields) != 1 ||
		invalid.Fields[0].Field != "listeners[0].tls.cert_file" || !strings.Contains(invalid.Fields[0].Error, "failed to find any PEM data in key input") {
		t.Errorf("reload with a broken key: %d %s, want 400 naming listeners[0].tls.cert_file", code, body)
	}
	waitFor(t, "the watcher to report the broken pair", func() bool {
		return listenerMetric(t, r, "vbproxy_listener_certificate_reload_failing", 0, "") == 1
	})
	if got := leafOf(t, r.addr(0), ca.Pool()); got.SerialNumber.Cmp(first.X509.SerialNumber) != 0 {
		t.Errorf("serving %q after a broken rotation, want the first certificate", got.Subject.CommonName)
	}

	// A good new pair: applied, whether the watcher or the reload read it.
	second, err := ca.Issue(certs.Options{CommonName: "second", Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := second.WriteFiles(filepath.Dir(certFile), "listener"); err != nil {
		t.Fatal(err)
	}
	ch := configReload()
	if len(ch.Failed) != 0 || len(ch.Applied) != 1 || ch.Applied[0] != "listeners[0].tls" {
		t.Errorf("reload with a new pair: applied %q failed %+v, want listeners[0].tls applied", ch.Applied, ch.Failed)
	}
	if got := leafOf(t, r.addr(0), ca.Pool()); got.SerialNumber.Cmp(second.X509.SerialNumber) != 0 {
		t.Errorf("serving %q after the rotation, want the second certificate", got.Subject.CommonName)
	}
	if ch = configReload(); len(ch.Applied) != 0 || len(ch.Failed) != 0 {
		t.Errorf("a reload with nothing changed: applied %q failed %+v, want neither", ch.Applied, ch.Failed)
	}
}
