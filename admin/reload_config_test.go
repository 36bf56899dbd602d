package admin

import (
	"context"
	"errors"
	"testing"
)

func TestReloadConfig(t *testing.T) {
	var next struct {
		change ConfigChange
		err    error
	}
	calls := 0
	env := newConsoleEnv(t, Options{ConfigReload: func(ctx context.Context) (ConfigChange, error) {
		calls++
		return next.change, next.err
	}}, "default")

	next.change = ConfigChange{File: "/etc/vbproxy.yaml", Applied: []string{"listeners[0].users", "log.level"}, RestartRequired: []string{"listeners[0].address"}}
	code, _, body := do(t, "POST", env.url+"/reload?config=1")
	if code != 200 {
		t.Errorf("reload config: %d, want 200", code)
	}
	sameJSON(t, "applied", body, `{"file":"/etc/vbproxy.yaml","applied":["listeners[0].users","log.level"],"restart_required":["listeners[0].address"]}`)

	next.change = ConfigChange{File: "/etc/vbproxy.yaml"}
	_, _, body = do(t, "POST", env.url+"/reload?config=1")
	sameJSON(t, "nothing changed", body, `{"file":"/etc/vbproxy.yaml","applied":[],"restart_required":[]}`)

	next.err = &ConfigInvalidError{File: "/etc/vbproxy.yaml", Fields: []FieldProblem{
		{Field: "listeners[0].users[1].name", Error: "required"},
		{Error: "YAML syntax: line 3: did not find expected key"},
	}}
	code, _, body = do(t, "POST", env.url+"/reload?config=1")
	if code != 400 {
		t.Errorf("invalid config: %d, want 400", code)
	}
	sameJSON(t, "invalid", body, `{
		"error": "/etc/vbproxy.yaml: config not reloaded: listeners[0].users[1].name: required; YAML syntax: line 3: did not find expected key",
		"fields": [{"field":"listeners[0].users[1].name","error":"required"},{"field":"","error":"YAML syntax: line 3: did not find expected key"}]}`)

	next.err = errors.New("listeners[0]: proxy refused the new settings")
	if code, _, body := do(t, "POST", env.url+"/reload?config=1"); code != 500 {
		t.Errorf("failed apply: %d %s, want 500", code, body)
	}
	if calls != 4 {
		t.Errorf("config reloader called %d times, want 4", calls)
	}

	none := newConsoleEnv(t, Options{}, "default")
	code, _, body = do(t, "POST", none.url+"/reload?config=1")
	if code != 501 {
		t.Errorf("no config reloader: %d, want 501", code)
	}
	sameJSON(t, "not supported", body, `{"error":"config reload is not supported"}`)
}
