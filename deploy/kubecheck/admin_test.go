package kubecheck

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startMemcached runs /usr/bin/memcached on a free loopback port until the
// test ends, and returns its address.
func startMemcached(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("memcached")
	if err != nil {
		t.Fatalf("memcached is not installed (apt-get install memcached): %v", err)
	}
	port := freePort(t)
	args := []string{"-l", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "0", "-m", "16", "-c", "64"}
	if os.Geteuid() == 0 {
		args = append(args, "-u", "nobody")
	}
	cmd := exec.Command(path, args...)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start memcached: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("memcached on %s did not start: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// staticMap is a one-node bucket config (docs: PROTOCOL.md section 3) for
// cluster.map_file.
func staticMap(bucket, node string) string {
	return fmt.Sprintf(`{"rev":1,"name":%q,"nodeLocator":"vbucket",
 "vBucketServerMap":{"hashAlgorithm":"CRC","numReplicas":0,"serverList":[%q],
   "vBucketMap":[[0],[0],[0],[0]]}}`, bucket, node)
}

// TestAdminEndpointsServe runs vbproxy with the base ConfigMap's config,
// moved onto loopback ports and a static map in front of a real memcached,
// and checks that the paths the probes and the ServiceMonitor use answer.
func TestAdminEndpointsServe(t *testing.T) {
	bin := vbproxyBinary(t)
	objs, _, err := Build(filepath.Join(kubeDir, "base"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := CheckWorkload(objs, WorkloadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(w.ConfigData, &cfg); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	mapFile := filepath.Join(dir, "map.json")
	if err := os.WriteFile(mapFile, []byte(staticMap(w.Config.Listeners[0].Bucket, startMemcached(t))), 0o600); err != nil {
		t.Fatal(err)
	}
	adminAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	listeners := cfg["listeners"].([]any)
	listeners[0].(map[string]any)["address"] = net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	cfg["listeners"] = listeners[:1]
	cfg["cluster"] = map[string]any{"map_file": mapFile}
	cfg["admin"].(map[string]any)["address"] = adminAddr
	cfg["shutdown"] = map[string]any{"drain_timeout": "1s"}
	data, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(dir, "vbproxy.yaml")
	if err := os.WriteFile(cfgFile, data, 0o600); err != nil {
		t.Fatal(err)
	}

	var logs syncBuffer
	cmd := exec.Command(bin, "-config", cfgFile)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// exited is closed once the process has been waited for; waitErr is
	// valid after that.
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			_ = cmd.Process.Kill()
			<-exited
		}
	})

	client := &http.Client{Timeout: 2 * time.Second}
	get := func(path string) (int, string, error) {
		resp, err := client.Get("http://" + adminAddr + path)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body), err
	}
	// Wait (bounded) for each probe path to answer 200, as the kubelet would.
	for _, path := range []string{HealthzPath, ReadyzPath} {
		deadline := time.Now().Add(15 * time.Second)
		for {
			code, body, err := get(path)
			if err == nil && code == http.StatusOK {
				break
			}
			select {
			case <-exited:
				t.Fatalf("vbproxy exited (%v) before GET %s answered 200; logs:\n%s", waitErr, path, logs.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("GET %s: code %d, body %q, err %v; want 200; logs:\n%s", path, code, body, err, logs.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	code, body, err := get(MetricsPath)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET %s: code %d, err %v, want 200", MetricsPath, code, err)
	}
	if !strings.Contains(body, "# HELP vbproxy_") {
		t.Errorf("GET %s: no vbproxy_ metric in:\n%.2000s", MetricsPath, body)
	}

	// SIGTERM, as the kubelet sends after preStop: a clean exit within the
	// drain timeout (bounded wait, not a timing assertion).
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	select {
	case <-exited:
		if waitErr != nil {
			t.Errorf("vbproxy after SIGTERM: %v, want exit 0; logs:\n%s", waitErr, logs.String())
		}
	case <-ctx.Done():
		t.Fatalf("vbproxy did not exit after SIGTERM; logs:\n%s", logs.String())
	}
}

// syncBuffer collects a child process's output while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
