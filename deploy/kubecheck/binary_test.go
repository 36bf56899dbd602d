package kubecheck

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// The tests in this file run the real vbproxy binary, built from the parent
// module (docs/design.md: "Configuration", "Admin HTTP"), against the
// manifests.

// testVersion is stamped with -X main.version, as deploy/Dockerfile does.
const testVersion = "kubecheck-test-1.2.3"

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// vbproxyBinary builds cmd/vbproxy once per test run, version-stamped the way
// the Dockerfile does it.
func vbproxyBinary(t *testing.T) string {
	t.Helper()
	root := repoRoot(t)
	binOnce.Do(func() {
		if _, err := os.Stat(filepath.Join(root, "cmd", "vbproxy")); err != nil {
			binErr = fmt.Errorf("cmd/vbproxy is missing from %s: these tests check the manifests against the real binary: %w", root, err)
			return
		}
		binDir, binErr = os.MkdirTemp("", "kubecheck-vbproxy-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "vbproxy")
		cmd := exec.Command("go", "build", "-trimpath",
			"-ldflags", "-X main.version="+testVersion,
			"-o", binPath, "github.com/vbproxy/vbproxy/cmd/vbproxy")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build cmd/vbproxy: %w\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// run executes the binary with args and env (added to a minimal environment)
// and returns its combined output and exit code.
func run(t *testing.T, bin string, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &exit):
		return string(out), exit.ExitCode()
	}
	t.Fatalf("run %s %v: %v", bin, args, err)
	return "", -1
}

// podEnv is the environment the Deployment gives the container: literal
// values, and values from the Secrets of objs.
func podEnv(t *testing.T, objs Objects, w *Workload) []string {
	t.Helper()
	var env []string
	for _, e := range w.Container.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			s := objs.Secret(ref.Name)
			if s == nil {
				t.Fatalf("env %s: no Secret %s", e.Name, ref.Name)
			}
			v, ok := s.StringData[ref.Key]
			if !ok {
				v = string(s.Data[ref.Key])
			}
			env = append(env, e.Name+"="+v)
		case e.ValueFrom == nil:
			env = append(env, e.Name+"="+e.Value)
		}
	}
	return env
}

// TestConfigMapsPassCheckConfig runs `vbproxy -check-config` on the config
// each kustomization mounts, with the environment the Deployment provides
// and the files its volumes provide (Secrets with their placeholders
// replaced, as an operator must; certificates as cert-manager would issue
// them for the Certificates' names and usages).
func TestConfigMapsPassCheckConfig(t *testing.T) {
	bin := vbproxyBinary(t)
	ca := newTestCA(t, "kubecheck CA")
	for _, dir := range buildable(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			objs, _, err := Build(dir)
			if err != nil {
				t.Fatal(err)
			}
			w, err := CheckWorkload(objs, WorkloadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			root := t.TempDir()
			file := filepath.Join(root, w.ConfigKey)
			if err := os.WriteFile(file, podFiles(t, objs, w, oneCA(ca), root, true), 0o600); err != nil {
				t.Fatal(err)
			}
			env := podEnv(t, objs, w)
			if out, code := run(t, bin, env, "-check-config", file); code != 0 {
				t.Errorf("vbproxy -check-config (env %q): exit %d, want 0\n%s", names(env), code, out)
			}
		})
	}
}

// TestCheckConfigNeedsPasswordEnv is the control for the test above: without
// the variable the Deployment sets from the Secret, the same config fails, so
// a passing -check-config means the Deployment provides what the config needs.
func TestCheckConfigNeedsPasswordEnv(t *testing.T) {
	bin := vbproxyBinary(t)
	objs, _, err := Build(filepath.Join(kubeDir, "base"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := CheckWorkload(objs, WorkloadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if w.Config.Cluster.PasswordEnv == "" {
		t.Fatalf("base config: cluster.password_env is empty, want the Secret-fed variable")
	}
	file := filepath.Join(t.TempDir(), w.ConfigKey)
	if err := os.WriteFile(file, w.ConfigData, 0o600); err != nil {
		t.Fatal(err)
	}
	out, code := run(t, bin, nil, "-check-config", file)
	if code == 0 {
		t.Fatalf("vbproxy -check-config without %s: exit 0, want an error\n%s", w.Config.Cluster.PasswordEnv, out)
	}
	if !strings.Contains(out, w.Config.Cluster.PasswordEnv) && !strings.Contains(out, "password_env") {
		t.Errorf("vbproxy -check-config without %s: output does not name the variable or password_env:\n%s", w.Config.Cluster.PasswordEnv, out)
	}
}

// TestPlaceholderTokenRefused: a config with admin.token_file, given the
// token Secret as shipped, fails -check-config on the token's length, so
// that no proxy ever starts with the placeholder as its admin token.
func TestPlaceholderTokenRefused(t *testing.T) {
	bin := vbproxyBinary(t)
	ca := newTestCA(t, "kubecheck CA")
	found := 0
	for _, dir := range buildable(t) {
		objs, _, err := Build(dir)
		if err != nil {
			t.Fatal(err)
		}
		w, err := CheckWorkload(objs, WorkloadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(w.Config.Files, func(f ConfigFile) bool { return f.Kind == FileToken }) {
			continue
		}
		found++
		root := t.TempDir()
		file := filepath.Join(root, w.ConfigKey)
		if err := os.WriteFile(file, podFiles(t, objs, w, oneCA(ca), root, false), 0o600); err != nil {
			t.Fatal(err)
		}
		out, code := run(t, bin, podEnv(t, objs, w), "-check-config", file)
		if code == 0 || !strings.Contains(out, "admin.token_file") || !strings.Contains(out, "at least 16") {
			t.Errorf("%s: -check-config with the placeholder token: exit %d, want a failure naming admin.token_file and its length\n%s", dir, code, out)
		}
	}
	if found == 0 {
		t.Fatal("no kustomization sets admin.token_file, want at least the tls example")
	}
}

// TestDeploymentFlagsAreKnown checks that every flag the Deployment (and the
// image's CMD) passes is listed by `vbproxy -help`.
func TestDeploymentFlagsAreKnown(t *testing.T) {
	bin := vbproxyBinary(t)
	out, _ := run(t, bin, nil, "-help")
	flags := ParseHelpFlags(out)
	for _, want := range []string{"config", "check-config", "version"} {
		if !strings.Contains(" "+strings.Join(flags, " ")+" ", " "+want+" ") {
			t.Fatalf("vbproxy -help lists %v, want %q among them; output:\n%s", flags, want, out)
		}
	}
	for _, dir := range buildable(t) {
		objs, _, err := Build(dir)
		if err != nil {
			t.Fatal(err)
		}
		w, err := CheckWorkload(objs, WorkloadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		args := append(append([]string{}, w.Container.Command...), w.Container.Args...)
		if err := CheckArgsFlags(args, flags); err != nil {
			t.Errorf("%s: %v", dir, err)
		}
	}
	if err := CheckArgsFlags(dockerfileCmd(t), flags); err != nil {
		t.Errorf("Dockerfile CMD: %v", err)
	}
}

// TestVersionStamp checks that -X main.version (as the Dockerfile and the
// Makefile stamp it) reaches `vbproxy -version`.
func TestVersionStamp(t *testing.T) {
	bin := vbproxyBinary(t)
	out, code := run(t, bin, nil, "-version")
	if code != 0 {
		t.Fatalf("vbproxy -version: exit %d\n%s", code, out)
	}
	if !strings.Contains(out, testVersion) {
		t.Errorf("vbproxy -version = %q, want it to contain %q", strings.TrimSpace(out), testVersion)
	}
}

func names(env []string) []string {
	out := make([]string, len(env))
	for i, e := range env {
		out[i], _, _ = strings.Cut(e, "=")
	}
	return out
}
