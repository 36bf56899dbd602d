package admin

import (
	"net/http"
	"strings"
	"testing"
)

func doAuth(t *testing.T, method, url, authorization string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, resp.Header, b.String()
}

const testToken = "0123456789abcdef-token"

// TestAdminToken: with a token, reload, pprof and probes need it; health,
// readiness, metrics, the map and the console stay open.
func TestAdminToken(t *testing.T) {
	env := apiEnv(t, Options{Token: testToken, Pprof: true})
	env.maps[0].next.Store(env.maps[0].cur.Load())
	guarded := []struct{ method, path string }{
		{"POST", "/reload"},
		{"GET", "/debug/pprof/"},
		{"GET", "/debug/pprof/cmdline"},
		{"GET", "/api/key?key=user:1&probe=1"},
	}
	for _, g := range guarded {
		code, hdr, body := doAuth(t, g.method, env.url+g.path, "")
		if code != 401 || hdr.Get("WWW-Authenticate") != `Bearer realm="vbproxy admin"` {
			t.Errorf("%s %s without a token: %d %q, want 401 with a Bearer challenge", g.method, g.path, code, hdr.Get("WWW-Authenticate"))
		}
		sameJSON(t, g.path+" without a token", body, `{"error":"this endpoint needs the admin token: send Authorization: Bearer <admin.token_file contents>"}`)
		for _, wrong := range []string{"Bearer nope", "Bearer " + testToken + "x", "Bearer " + testToken[:len(testToken)-1], "Basic " + testToken} {
			code, hdr, _ := doAuth(t, g.method, env.url+g.path, wrong)
			if code != 401 {
				t.Errorf("%s %s with %q: %d, want 401", g.method, g.path, wrong, code)
			}
			if strings.HasPrefix(wrong, "Bearer") && !strings.Contains(hdr.Get("WWW-Authenticate"), `error="invalid_token"`) {
				t.Errorf("%s %s with %q: challenge %q, want error=\"invalid_token\"", g.method, g.path, wrong, hdr.Get("WWW-Authenticate"))
			}
		}
		for _, right := range []string{"Bearer " + testToken, "bearer " + testToken, "Bearer  " + testToken + " "} {
			if code, _, body := doAuth(t, g.method, env.url+g.path, right); code != 200 {
				t.Errorf("%s %s with %q: %d %s, want 200", g.method, g.path, right, code, body)
			}
		}
	}
	open := []string{"/healthz", "/readyz", "/metrics", "/vbmap", "/", "/api/state", "/api/grid", "/api/key?key=a", "/assets/console.js"}
	for _, p := range open {
		if code, _, body := doAuth(t, "GET", env.url+p, ""); code != 200 {
			t.Errorf("GET %s without a token: %d %s, want 200 (open)", p, code, body)
		}
	}

	// A reloaded token replaces the old one at once; "" opens the endpoints.
	env.srv.SetToken("another-token-of-16+")
	if code, _, _ := doAuth(t, "POST", env.url+"/reload", "Bearer "+testToken); code != 401 {
		t.Errorf("old token after SetToken: %d, want 401", code)
	}
	if code, _, _ := doAuth(t, "POST", env.url+"/reload", "Bearer another-token-of-16+"); code != 200 {
		t.Errorf("new token after SetToken: %d, want 200", code)
	}
	env.srv.SetToken("")
	if code, _, _ := doAuth(t, "POST", env.url+"/reload", ""); code != 200 || env.srv.TokenRequired() {
		t.Errorf("no token after SetToken(\"\"): %d (required %v), want 200", code, env.srv.TokenRequired())
	}
}
