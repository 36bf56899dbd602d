package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/sim"
)

// buildBinary builds vbproxy into a temporary directory.
func buildBinary(t *testing.T, version string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the end-to-end test builds the binary and needs go on PATH: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "vbproxy")
	cmd := exec.Command(goBin, "build", "-ldflags", "-X main.version="+version, "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// logLines collects the JSON log lines of a process and signals the ones a
// test waits for.
type logLines struct {
	mu    sync.Mutex
	lines []map[string]any
	raw   []string
	added chan struct{}
}

func (l *logLines) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var m map[string]any
		_ = json.Unmarshal(sc.Bytes(), &m)
		l.mu.Lock()
		l.raw = append(l.raw, sc.Text())
		if m != nil {
			l.lines = append(l.lines, m)
		}
		l.mu.Unlock()
		select {
		case l.added <- struct{}{}:
		default:
		}
	}
}

// find returns the first line with msg, waiting for it (hang guard 30s).
func (l *logLines) find(t *testing.T, msg string) map[string]any {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		l.mu.Lock()
		for _, m := range l.lines {
			if m["msg"] == msg {
				l.mu.Unlock()
				return m
			}
		}
		l.mu.Unlock()
		select {
		case <-l.added:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("no %q log line within 30s; log:\n%s", msg, l.text())
		}
	}
}

func (l *logLines) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.raw, "\n")
}

func TestBinaryEndToEnd(t *testing.T) {
	bin := buildBinary(t, "e2e-1.0")

	out, err := exec.Command(bin, "-version").Output()
	if err != nil || !strings.HasPrefix(string(out), "vbproxy e2e-1.0 (") {
		t.Errorf("-version: got %q %v, want the stamped version", out, err)
	}

	c := startSim(t, sim.Options{Nodes: 3})
	pwFile := filepath.Join(t.TempDir(), "cluster.password")
	if err := os.WriteFile(pwFile, []byte("password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin,
		"-listen", "127.0.0.1:0", "-admin", "127.0.0.1:0", "-cluster", c.SeedURL(), "-bucket", "default",
		"-user", "Administrator", "-password-file", pwFile, "-log-format", "json")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logs := &logLines{added: make(chan struct{}, 1)}
	readDone := make(chan struct{})
	go func() { logs.read(stderr); close(readDone) }()
	exited := make(chan error, 1)
	go func() { <-readDone; exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-exited
		}
	})

	proxyAddr, _ := logs.find(t, "listening")["address"].(string)
	adminAddr, _ := logs.find(t, "admin listening")["address"].(string)
	adminURL := "http://" + adminAddr
	waitFor(t, "readyz 200", func() bool { code, _, _ := httpDo(t, "GET", adminURL+"/readyz"); return code == 200 })

	setGet(t, proxyAddr, 50)
	if got := scrape(t, adminURL, "vbproxy_requests_total", `bucket="default",opcode="SET",protocol="binary",status="SUCCESS"`); got != 50 {
		t.Errorf("requests_total SET SUCCESS: got %v, want 50", got)
	}
	if got := scrape(t, adminURL, "vbproxy_build_info", `goversion="`+goVersion()+`",version="e2e-1.0"`); got != 1 {
		t.Errorf("build_info{version=e2e-1.0}: got %v, want 1", got)
	}
	if got := scrape(t, adminURL, "process_open_fds", ""); got <= 0 {
		t.Errorf("process_open_fds: got %v, want the process collector's value", got)
	}
	if strings.Contains(logs.text(), "password\"") || strings.Contains(logs.text(), ":password") {
		t.Errorf("the log shows the password:\n%s", logs.text())
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if errors.As(err, &ee) || err != nil {
			t.Errorf("exit after SIGTERM: %v, want status 0\nlog:\n%s", err, logs.text())
		}
	case <-time.After(30 * time.Second): // drain timeout 10s plus margin: a hang guard
		t.Fatalf("still running 30s after SIGTERM; log:\n%s", logs.text())
	}
	logs.find(t, "shutting down")
	logs.find(t, "vbproxy stopped")
}

// TestBinaryStartupFailures: bad configuration and unusable addresses exit
// non-zero with the reason.
func TestBinaryStartupFailures(t *testing.T) {
	bin := buildBinary(t, "e2e")
	c := startSim(t, sim.Options{Nodes: 1})
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("wrong"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"bad flag value", []string{"-listen", "nowhere", "-cluster", c.SeedURL()}, 2,
			`vbproxy: listeners[0].address: "nowhere": want host:port`},
		{"wrong password", []string{"-listen", "127.0.0.1:0", "-admin", "", "-cluster", c.SeedURL(), "-user", "Administrator", "-password-file", pw}, 1,
			"vbproxy stopped on error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(bin, tt.args...)
			var errb strings.Builder
			cmd.Stderr = &errb
			done := make(chan error, 1)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			go func() { done <- cmd.Wait() }()
			select {
			case <-done:
			case <-time.After(60 * time.Second): // hang guard
				_ = cmd.Process.Kill()
				<-done
				t.Fatalf("still running after 60s; stderr:\n%s", errb.String())
			}
			if code := cmd.ProcessState.ExitCode(); code != tt.wantCode {
				t.Errorf("exit code: got %d, want %d; stderr:\n%s", code, tt.wantCode, errb.String())
			}
			if !strings.Contains(errb.String(), tt.wantErr) {
				t.Errorf("stderr: got\n%s\nwant it to contain %q", errb.String(), tt.wantErr)
			}
		})
	}
}
