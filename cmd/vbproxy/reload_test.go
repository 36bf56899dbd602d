package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
	"github.com/vbproxy/vbproxy/sim"
)

// reloadFixture is a running vbproxy started from a config file that the
// test rewrites.
type reloadFixture struct {
	r      *running
	file   string
	token  string // path of the token file
	level  *slog.LevelVar
	hup    chan os.Signal
	render func(listen, level string, poolSize int) string
}

func startReloadable(t *testing.T, c *sim.Cluster) *reloadFixture {
	t.Helper()
	dir := t.TempDir()
	f := &reloadFixture{file: dir + "/vbproxy.yaml", token: writeFile(t, dir, "admin.token", tokenA+"\n"), hup: make(chan os.Signal, 1)}
	f.render = func(listen, level string, poolSize int) string {
		return `listeners:
  - address: ` + listen + `
    bucket: default
cluster:
  seeds: [` + c.SeedURL() + `]
  user: Administrator
  password_env: PW
upstream:
  pool_size: ` + itoa(poolSize) + `
admin:
  address: 127.0.0.1:0
  token_file: ` + f.token + `
log:
  level: ` + level + `
shutdown:
  drain_timeout: 5s
`
	}
	writeFile(t, dir, "vbproxy.yaml", f.render("127.0.0.1:0", "info", 2))
	opts, err := parseFlags([]string{"-config", f.file}, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	env := envMap(map[string]string{"PW": "password"})
	cfg, sec, errs := loadConfig(opts, env)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	f.level = new(slog.LevelVar)
	f.r = startApp(t, cfg, sec, func(a *app) {
		a.level, a.hup, a.configFile = f.level, f.hup, f.file
		a.load = func() (*Config, secrets, []FieldError) { return loadConfig(opts, env) }
	})
	waitFor(t, "readyz 200", func() bool { code, _, _ := httpDo(t, "GET", f.r.admin+"/readyz"); return code == 200 })
	return f
}

func (f *reloadFixture) rewrite(t *testing.T, content string) {
	t.Helper()
	if err := os.WriteFile(f.file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// reload posts /reload?config=1 with token and decodes the answer.
func (f *reloadFixture) reload(t *testing.T, token string) (int, map[string]any) {
	t.Helper()
	code, body := adminDo(t, httpClient, "POST", f.r.admin+"/reload?config=1", token)
	var out map[string]any
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatalf("reload answer %d: %v\n%s", code, err, body)
	}
	return code, out
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

// sameJSON compares two JSON texts, ignoring layout and key order.
func sameJSON(t *testing.T, what, got, want string) {
	t.Helper()
	norm := func(s string) string {
		var v any
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			t.Fatalf("%s: not JSON: %v\n%s", what, err, s)
		}
		b, _ := json.Marshal(v)
		return string(b)
	}
	if g, w := norm(got), norm(want); g != w {
		t.Errorf("%s:\n got %s\nwant %s", what, g, w)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestConfigReload(t *testing.T) {
	c := startSim(t, sim.Options{Nodes: 2})
	f := startReloadable(t, c)
	client := dialMC(t, f.r.proxy) // a client connected before the reloads
	if st := client.set("before", "1"); st != 0 {
		t.Fatalf("set before: %v", st)
	}

	// A new token, a new log level, and two settings that need a restart.
	writeFile(t, strings.TrimSuffix(f.token, "/admin.token"), "admin.token", tokenB+"\n")
	f.rewrite(t, f.render("127.0.0.1:1", "debug", 4))
	code, got := f.reload(t, tokenA)
	if code != 200 {
		t.Fatalf("reload: %d %v", code, got)
	}
	sameJSON(t, "reload answer", mustJSON(t, got), `{"file":"`+f.file+`",
		"applied":["admin.token_file","log.level"],
		"restart_required":["listeners[0].address","upstream.pool_size"]}`)
	if f.level.Level() != slog.LevelDebug {
		t.Errorf("log level after reload: %v, want debug", f.level.Level())
	}
	if code, _ := adminDo(t, httpClient, "POST", f.r.admin+"/reload", tokenA); code != 401 {
		t.Errorf("old token after reload: %d, want 401", code)
	}
	if code, _ := adminDo(t, httpClient, "POST", f.r.admin+"/reload", tokenB); code != 200 {
		t.Errorf("new token after reload: %d, want 200", code)
	}
	// The restart-only settings kept their running values.
	if st, v := client.get("before"); st != 0 || v != "1" {
		t.Errorf("connection opened before the reload: get = %v %q, want 0 \"1\"", st, v)
	}
	setGet(t, f.r.proxy, 5) // the listener is still on its first address

	// Reloading the same file again: the restart-only changes are still
	// pending, nothing new applies.
	_, got = f.reload(t, tokenB)
	sameJSON(t, "same file again", mustJSON(t, got), `{"file":"`+f.file+`","applied":[],
		"restart_required":["listeners[0].address","upstream.pool_size"]}`)

	// A file that does not validate changes nothing and names the fields.
	f.rewrite(t, strings.Replace(f.render("127.0.0.1:0", "error", 2), "bucket: default", "bucket: \"\"", 1)+"limits: {max_connections: -1}\n")
	code, got = f.reload(t, tokenB)
	if code != 400 {
		t.Errorf("invalid file: %d, want 400", code)
	}
	sameJSON(t, "invalid file", mustJSON(t, got), `{
		"error": "`+f.file+`: config not reloaded: listeners[0].bucket: required; limits.max_connections: must be >= 0 (0 = unlimited), got -1",
		"fields": [{"field":"listeners[0].bucket","error":"required"},
		           {"field":"limits.max_connections","error":"must be >= 0 (0 = unlimited), got -1"}]}`)
	if f.level.Level() != slog.LevelDebug {
		t.Errorf("log level after a failed reload: %v, want debug (unchanged)", f.level.Level())
	}
	if code, _ := adminDo(t, httpClient, "POST", f.r.admin+"/reload", tokenB); code != 200 {
		t.Errorf("token after a failed reload: %d, want 200 (unchanged)", code)
	}
	f.rewrite(t, "listeners: [\n")
	if code, got = f.reload(t, tokenB); code != 400 || !strings.Contains(mustJSON(t, got), "YAML syntax") {
		t.Errorf("YAML syntax error: %d %v, want 400 naming the syntax error", code, got)
	}

	// SIGHUP does the same as POST /reload?config=1.
	f.rewrite(t, f.render("127.0.0.1:0", "warn", 2))
	f.hup <- syscall.SIGHUP
	waitFor(t, "log level warn after SIGHUP", func() bool { return f.level.Level() == slog.LevelWarn })

	// Client users change on the running listener: connections already open
	// keep working (they authenticated, or needed not, when they came);
	// new ones need the new users.
	kept := dialMC(t, f.r.proxy)
	if st, v := kept.get("before"); st != 0 || v != "1" {
		t.Fatalf("a client before the users change: get = %v %q", st, v)
	}
	f.rewrite(t, strings.Replace(f.render("127.0.0.1:0", "warn", 2), "    bucket: default\n",
		"    bucket: default\n    users: [{name: app, password_env: PW}]\n", 1))
	_, got = f.reload(t, tokenB)
	sameJSON(t, "users changed", mustJSON(t, got), `{"file":"`+f.file+`","applied":["listeners[0].users"],"restart_required":[]}`)
	if st, v := kept.get("before"); st != 0 || v != "1" {
		t.Errorf("the client that was open before the users change: get = %v %q, want 0 \"1\" (connections are kept)", st, v)
	}
	if st, _ := dialMC(t, f.r.proxy).get("before"); st != memcached.StatusAuthError {
		t.Errorf("a new client without authentication after the users change: get = %v, want AUTH_ERROR", st)
	}
	wrong := dialMC(t, f.r.proxy)
	if st, _ := wrong.do(memcached.OpSASLAuth, nil, []byte("PLAIN"), []byte("\x00app\x00wrong")); st != memcached.StatusAuthError {
		t.Errorf("a wrong password: %v, want AUTH_ERROR", st)
	}
	right := dialMC(t, f.r.proxy)
	if st, _ := right.do(memcached.OpSASLAuth, nil, []byte("PLAIN"), []byte("\x00app\x00password")); st != 0 {
		t.Errorf("the new user's password: %v, want SUCCESS", st)
	}
	if st, v := right.get("before"); st != 0 || v != "1" {
		t.Errorf("an authenticated client after the users change: get = %v %q", st, v)
	}
	f.rewrite(t, f.render("127.0.0.1:0", "warn", 2))
	f.reload(t, tokenB)

	// Every reload is in the console's recent events.
	_, _, body := httpDo(t, "GET", f.r.admin+"/api/state")
	var st struct {
		Events []struct{ Kind, Message string }
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	var configEvents []string
	for _, e := range st.Events {
		if e.Kind == "config" {
			configEvents = append(configEvents, e.Message)
		}
	}
	want := []string{ // newest first: users back to none, then users set
		"POST /reload?config=1: config reloaded: applied listeners[0].users",
		"POST /reload?config=1: config reloaded: applied listeners[0].users",
		"SIGHUP: config reloaded: applied log.level",
		"POST /reload?config=1: " + f.file + ": config not reloaded: YAML syntax: line 1: did not find expected node content",
		"POST /reload?config=1: " + f.file + ": config not reloaded: listeners[0].bucket: required; limits.max_connections: must be >= 0 (0 = unlimited), got -1",
		"POST /reload?config=1: config reloaded: restart needed for listeners[0].address, upstream.pool_size",
		"POST /reload?config=1: config reloaded: applied admin.token_file, log.level; restart needed for listeners[0].address, upstream.pool_size",
	}
	if strings.Join(configEvents, "\n") != strings.Join(want, "\n") {
		t.Errorf("config events:\n got %q\nwant %q", configEvents, want)
	}
}

func TestConfigReloadWithoutFile(t *testing.T) {
	c := startSim(t, sim.Options{Nodes: 1})
	cfg, sec := testConfig(t, c)
	r := startApp(t, cfg, sec)
	code, body := adminDo(t, httpClient, "POST", r.admin+"/reload?config=1", "")
	if code != 400 {
		t.Errorf("reload without -config: %d, want 400", code)
	}
	sameJSON(t, "reload without -config", body, `{"error":"config not reloaded: config: vbproxy was started without -config: there is no file to re-read",
		"fields":[{"field":"config","error":"vbproxy was started without -config: there is no file to re-read"}]}`)
}

// TestRunReloadsOnSIGHUP sends a real SIGHUP to the process while run
// serves: the config file is re-read (and the process does not die, which
// is SIGHUP's default).
func TestRunReloadsOnSIGHUP(t *testing.T) {
	c := startSim(t, sim.Options{Nodes: 1})
	dir := t.TempDir()
	conf := func(level string) string {
		return `listeners: [{address: "127.0.0.1:0", bucket: default}]
cluster: {seeds: [` + c.SeedURL() + `], user: Administrator, password_env: PW}
admin: {address: "127.0.0.1:0"}
log: {format: json, level: ` + level + `}
`
	}
	file := writeFile(t, dir, "vbproxy.yaml", conf("info"))
	pr, pw := io.Pipe()
	logs := &logLines{added: make(chan struct{}, 1)}
	go logs.read(pr)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-config", file}, io.Discard, pw, envMap(map[string]string{"PW": "password"}))
		pw.Close()
	}()
	defer func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("run exited %d, want 0", code)
			}
		case <-time.After(30 * time.Second):
			t.Error("run did not stop within 30s of cancel")
		}
	}()
	logs.find(t, "admin listening") // SIGHUP is handled from before this line
	writeFile(t, dir, "vbproxy.yaml", conf("debug"))
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	line := logs.find(t, "config reloaded")
	if line["trigger"] != "SIGHUP" || mustJSON(t, line["applied"]) != `["log.level"]` {
		t.Errorf("reload log line %v, want trigger SIGHUP applying log.level", line)
	}
}
