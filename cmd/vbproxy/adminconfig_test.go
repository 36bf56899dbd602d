package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAdminConfigGood(t *testing.T) {
	dir := t.TempDir()
	tok := writeFile(t, dir, "admin.token", "0123456789abcdef-XYZ\n")
	cert, key, _ := writeCert(t, dir, "admin")
	cfg, sec, errs := checkYAML(t, minimal+`admin:
  token_file: `+tok+`
  tls: {cert_file: `+cert+`, key_file: `+key+`}
log: {slow_request: 100ms, slow_request_keys: true}
`, nil)
	if len(errs) > 0 {
		t.Fatalf("errors: %q", errs)
	}
	if sec.adminToken != "0123456789abcdef-XYZ" {
		t.Errorf("admin token %q, want the file's line without its newline", sec.adminToken)
	}
	if sec.adminCert == nil || len(sec.adminCert.Certificate) != 1 {
		t.Errorf("admin certificate not loaded: %v", sec.adminCert)
	}
	if cfg.Log.SlowRequest != Duration(100*time.Millisecond) || !cfg.Log.SlowRequestKeys {
		t.Errorf("log: %+v, want slow_request 100ms with keys", cfg.Log)
	}
	def, defSec, _ := checkYAML(t, minimal, nil)
	if def.Log.SlowRequest != 0 || def.Log.SlowRequestKeys || defSec.adminToken != "" || defSec.adminCert != nil {
		t.Errorf("defaults: log %+v token %q cert %v, want slow log off, no token, no TLS", def.Log, defSec.adminToken, defSec.adminCert)
	}
}

func TestAdminConfigBad(t *testing.T) {
	dir := t.TempDir()
	short := writeFile(t, dir, "short.token", "abc\n")
	empty := writeFile(t, dir, "empty.token", "\n")
	spaced := writeFile(t, dir, "spaced.token", "0123456789 abcdef\n")
	twoLines := writeFile(t, dir, "two.token", "0123456789abcdef\nsecond\n")
	missing := filepath.Join(dir, "nope")
	cert, key, _ := writeCert(t, dir, "a")
	otherCert, _, _ := writeCert(t, dir, "b")
	tests := []struct {
		name, text string
		want       []string
	}{
		{"token missing", "admin: {token_file: " + missing + "}\n",
			[]string{"admin.token_file: open " + missing + ": no such file or directory"}},
		{"token empty", "admin: {token_file: " + empty + "}\n", []string{"admin.token_file: " + empty + " is empty"}},
		{"token short", "admin: {token_file: " + short + "}\n",
			[]string{"admin.token_file: " + short + ": the token has 3 characters, want at least 16 (a short token can be guessed)"}},
		{"token with a space", "admin: {token_file: " + spaced + "}\n",
			[]string{"admin.token_file: " + spaced + ": the token must be one line of visible ASCII characters (byte 10 is 0x20)"}},
		{"token on two lines", "admin: {token_file: " + twoLines + "}\n",
			[]string{"admin.token_file: " + twoLines + ": the token must be one line of visible ASCII characters (byte 16 is 0x0a)"}},
		{"tls cert only", "admin: {tls: {cert_file: " + cert + "}}\n", []string{"admin.tls.key_file: required with admin.tls.cert_file"}},
		{"tls key only", "admin: {tls: {key_file: " + key + "}}\n", []string{"admin.tls.cert_file: required with admin.tls.key_file"}},
		{"tls pair mismatch", "admin: {tls: {cert_file: " + otherCert + ", key_file: " + key + "}}\n",
			[]string{"admin.tls: " + otherCert + " and " + key + ": tls: private key does not match public key"}},
		{"slow request negative", "log: {slow_request: -1ms}\n", []string{"log.slow_request: must be >= 0 (0 = off), got -1ms"}},
		{"unknown admin key", "admin: {tokenfile: x}\n",
			[]string{"admin.tokenfile: unknown field (line 7); valid fields here: address, pprof, token_file, tls"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, errs := checkYAML(t, minimal+tt.text, nil)
			if strings.Join(errs, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("errors:\n got %q\nwant %q", errs, tt.want)
			}
		})
	}
}
