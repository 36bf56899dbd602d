package kubecheck

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// clusterIssuer is the issuer the tls component names for the Couchbase
// nodes' certificates: in the test, the CA the simulated cluster makes.
const clusterIssuer = "couchbase-issuer"

// startTLSCluster runs cbsim (built from the parent module) with one node
// on loopback, TLS on, and the given user, and returns its https seed and
// the directory holding its CA.
func startTLSCluster(t *testing.T, user, password string) (seed, tlsDir string) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "cbsim")
	build := exec.Command("go", "build", "-o", bin, "github.com/vbproxy/vbproxy/cmd/cbsim")
	build.Dir = repoRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build cmd/cbsim: %v\n%s", err, out)
	}
	tlsDir = t.TempDir()
	cmd := exec.Command(bin, "-nodes", "1", "-host", "127.0.0.1", "-mgmt-port", "0", "-kv-port", "0", "-vbuckets", "64",
		"-tls-dir", tlsDir, "-user", user, "-password", password)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	found := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`^\s*tls: seed (https://\S+),`)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
		close(found)
	}()
	select {
	case seed, ok := <-found:
		if !ok {
			t.Fatalf("cbsim exited without a TLS seed; log:\n%s", logs.String())
		}
		return seed, tlsDir
	case <-time.After(30 * time.Second):
		t.Fatalf("cbsim printed no TLS seed within 30s; log:\n%s", logs.String())
	}
	return "", ""
}

// envValue returns the value of name in env ("NAME=value" entries).
func envValue(t *testing.T, env []string, name string) string {
	t.Helper()
	for _, e := range env {
		if k, v, ok := strings.Cut(e, "="); ok && k == name {
			return v
		}
	}
	t.Fatalf("the pod's environment has no %s", name)
	return ""
}

// mcRequest is a memcached binary request: opcode, extras, key, value.
func mcRequest(op byte, extras, key, value []byte) []byte {
	h := make([]byte, 24, 24+len(extras)+len(key)+len(value))
	h[0], h[1] = 0x80, op
	binary.BigEndian.PutUint16(h[2:], uint16(len(key)))
	h[4] = byte(len(extras))
	binary.BigEndian.PutUint32(h[8:], uint32(len(extras)+len(key)+len(value)))
	binary.BigEndian.PutUint32(h[12:], 0x0b0b)
	return append(append(append(h, extras...), key...), value...)
}

// mcDo sends one request on c and returns the reply's status and value.
func mcDo(t *testing.T, c net.Conn, req []byte) (status uint16, value []byte) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(req); err != nil {
		t.Fatalf("write: %v", err)
	}
	h := make([]byte, 24)
	if _, err := io.ReadFull(c, h); err != nil {
		t.Fatalf("read reply header: %v", err)
	}
	if h[0] != 0x81 || h[1] != req[1] {
		t.Fatalf("reply header % x, want magic 0x81 and opcode %#x", h, req[1])
	}
	body := make([]byte, binary.BigEndian.Uint32(h[8:]))
	if _, err := io.ReadFull(c, body); err != nil {
		t.Fatalf("read reply body: %v", err)
	}
	skip := int(h[4]) + int(binary.BigEndian.Uint16(h[2:]))
	return binary.BigEndian.Uint16(h[6:]), body[skip:]
}

// TestTLSExampleServes runs vbproxy with the tls example's config and the
// files its pods would mount (certificates as cert-manager would issue them
// for the two Certificates, the cluster's from the simulated cluster's CA),
// moved to loopback ports, in front of a simulated cluster that serves TLS:
// the map comes over https, KV over the nodes' TLS ports, a client stores a
// key over the TLS listener and reads it back on the plain one, and the
// admin token guards POST /reload.
func TestTLSExampleServes(t *testing.T) {
	bin := vbproxyBinary(t)
	objs, _, err := Build(filepath.Join(kubeDir, "examples", "tls"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := CheckWorkload(objs, WorkloadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	env := podEnv(t, objs, w)
	seed, clusterTLS := startTLSCluster(t, w.Config.Cluster.Name, envValue(t, env, w.Config.Cluster.PasswordEnv))
	clusterCA := loadTestCA(t, filepath.Join(clusterTLS, "ca.pem"), filepath.Join(clusterTLS, "ca-key.pem"))
	listenerCA := newTestCA(t, "kubecheck listener CA")
	caFor := func(c *Certificate) *testCA {
		if c.Spec.IssuerRef.Name == clusterIssuer {
			return clusterCA
		}
		return listenerCA
	}
	root := t.TempDir()
	var cfg map[string]any
	if err := yaml.Unmarshal(podFiles(t, objs, w, caFor, root, true), &cfg); err != nil {
		t.Fatal(err)
	}
	loopback := func() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t))) }
	addrs := map[bool]string{}
	for i, l := range cfg["listeners"].([]any) {
		a := loopback()
		l.(map[string]any)["address"] = a
		addrs[w.Config.Listeners[i].TLS] = a
	}
	cfg["cluster"].(map[string]any)["seeds"] = []any{seed}
	adminAddr := loopback()
	cfg["admin"].(map[string]any)["address"] = adminAddr
	cfg["shutdown"] = map[string]any{"drain_timeout": "1s"}
	data, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(root, "vbproxy.yaml")
	if err := os.WriteFile(cfgFile, data, 0o600); err != nil {
		t.Fatal(err)
	}

	var logs syncBuffer
	cmd := exec.Command(bin, "-config", cfgFile)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	client := &http.Client{Timeout: 2 * time.Second}
	do := func(method, path, token string) int {
		req, err := http.NewRequest(method, "http://"+adminAddr+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for deadline := time.Now().Add(30 * time.Second); do("GET", ReadyzPath, "") != http.StatusOK; {
		select {
		case <-exited:
			t.Fatalf("vbproxy exited (%v) before it was ready; logs:\n%s", waitErr, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /readyz not 200 within 30s; logs:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	// The TLS listener, verified as a client in the namespace would: the
	// name "vbproxy" against the listener's CA.
	pool := x509.NewCertPool()
	pool.AddCert(listenerCA.cert)
	tc, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addrs[true],
		&tls.Config{RootCAs: pool, ServerName: WorkloadOptions{}.withDefaults().ClientService, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("TLS dial %s: %v; logs:\n%s", addrs[true], err, logs.String())
	}
	defer tc.Close()
	key, value := []byte("kubecheck:tls"), []byte("over TLS both ways")
	if st, _ := mcDo(t, tc, mcRequest(0x01, make([]byte, 8), key, value)); st != 0 {
		t.Fatalf("SET over the TLS listener: status %#x, want 0; logs:\n%s", st, logs.String())
	}
	plain, err := net.DialTimeout("tcp", addrs[false], 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if st, got := mcDo(t, plain, mcRequest(0x00, nil, key, nil)); st != 0 || string(got) != string(value) {
		t.Errorf("GET on the plain listener: status %#x value %q, want 0 and %q", st, got, value)
	}

	// The admin token from the Secret guards POST /reload; the probes stay open.
	if code := do("POST", "/reload", ""); code != http.StatusUnauthorized {
		t.Errorf("POST /reload without the token: %d, want 401", code)
	}
	if code := do("POST", "/reload", replacedPlaceholder); code != http.StatusOK {
		t.Errorf("POST /reload with the token: %d, want 200; logs:\n%s", code, logs.String())
	}
	if code := do("GET", MetricsPath, ""); code != http.StatusOK {
		t.Errorf("GET %s without a token: %d, want 200", MetricsPath, code)
	}

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
	if pw := envValue(t, env, w.Config.Cluster.PasswordEnv); strings.Contains(logs.String(), pw) {
		t.Errorf("the log shows the cluster password %q:\n%s", pw, logs.String())
	}
}

// TestTLSCertAuthVariantPassesCheckConfig: the certificate-authentication
// variant the tls example's comments describe is a valid config too, with
// the client certificate's files the pods mount and no password.
func TestTLSCertAuthVariantPassesCheckConfig(t *testing.T) {
	bin := vbproxyBinary(t)
	objs := freshTLS(t)
	setConfig(t, objs, certAuth)
	w, err := CheckWorkload(objs, WorkloadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if w.Config.Cluster.PasswordEnv != "" || w.Config.Cluster.Name != "" {
		t.Fatalf("cluster user %q password_env %q, want neither with certificate authentication", w.Config.Cluster.Name, w.Config.Cluster.PasswordEnv)
	}
	root := t.TempDir()
	file := filepath.Join(root, w.ConfigKey)
	if err := os.WriteFile(file, podFiles(t, objs, w, oneCA(newTestCA(t, "kubecheck CA")), root, true), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, code := run(t, bin, podEnv(t, objs, w), "-check-config", file); code != 0 {
		t.Errorf("vbproxy -check-config: exit %d, want 0\n%s", code, out)
	}
}
