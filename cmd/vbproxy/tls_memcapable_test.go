package main

// The memccapable suites over a TLS listener. memccapable speaks no TLS, so
// the test puts socat in front of vbproxy: socat listens plain on a free
// loopback port and connects to the TLS listener with TLS, verifying the
// listener's certificate against the test CA. vbproxy itself reaches the
// simulated cluster over TLS too (an https seed and cluster.tls.ca_file), so
// every byte of the suites crosses two TLS hops. The helpers here are
// prefixed tlsm so that they stay out of the way of the package's others.

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/internal/certs"
	"github.com/vbproxy/vbproxy/sim"
)

// tlsmProxy is a vbproxy process with one TLS listener in front of a
// simulated cluster reached over TLS.
type tlsmProxy struct {
	tlsAddr string // the TLS listener, 127.0.0.1:port
	caFile  string // the CA of the listener's (and the cluster's) certificates
	logs    *tlsmLogs
}

// tlsmStart starts the simulated cluster with TLS, issues the listener's
// certificate from the cluster's CA, and runs the vbproxy binary with a
// config that uses only the TLS ports of both.
func tlsmStart(t *testing.T) *tlsmProxy {
	t.Helper()
	dir := t.TempDir()
	c, err := sim.Start(sim.Options{Host: "127.0.0.1", VBuckets: 64, AllowFlush: true, TLSDir: filepath.Join(dir, "cluster")})
	if err != nil {
		t.Fatalf("sim.Start: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	caFile := filepath.Join(dir, "cluster", sim.CAFile)
	ca, err := certs.LoadCA(caFile, filepath.Join(dir, "cluster", sim.CAKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.Server("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := srv.WriteFiles(dir, "listener")
	if err != nil {
		t.Fatal(err)
	}
	pwFile := filepath.Join(dir, "cluster.password")
	if err := os.WriteFile(pwFile, []byte("password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(dir, "vbproxy.yaml")
	cfg := fmt.Sprintf(`listeners:
  - address: 127.0.0.1:0
    bucket: default
    allow_flush: true
    tls:
      cert_file: %s
      key_file: %s
      min_version: "1.2"
cluster:
  seeds: [%q]
  user: Administrator
  password_file: %s
  tls:
    ca_file: %s
admin:
  address: 127.0.0.1:0
log:
  level: info
  format: json
shutdown:
  drain_timeout: 2s
`, certFile, keyFile, c.TLSSeedURL(), pwFile, caFile)
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	bin := buildBinary(t, "tls-memcapable")
	if out, err := exec.Command(bin, "-check-config", cfgFile).CombinedOutput(); err != nil {
		t.Fatalf("vbproxy -check-config: %v\n%s\nconfig:\n%s", err, out, cfg)
	}
	cmd := exec.Command(bin, "-config", cfgFile)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logs := &tlsmLogs{added: make(chan struct{}, 1)}
	readDone := make(chan struct{})
	go func() { logs.read(stderr); close(readDone) }()
	exited := make(chan error, 1)
	go func() { <-readDone; exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})

	p := &tlsmProxy{caFile: caFile, logs: logs}
	listening := logs.wait(t, func(m map[string]any) bool { return m["msg"] == "listening" })
	if listening["tls"] != true {
		t.Fatalf("the listener does not say tls=true: %v", listening)
	}
	p.tlsAddr, _ = listening["address"].(string)
	admin, _ := logs.wait(t, func(m map[string]any) bool { return m["msg"] == "admin listening" })["address"].(string)
	// Ready: the map came over https and the proxy serves.
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := tlsmGet("http://" + admin + "/readyz")
		if err == nil && resp == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz not 200 after 30s (last %d, %v); log:\n%s", resp, err, logs.text())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return p
}

// tlsmGet is a minimal HTTP/1.0 GET, enough for /readyz, that returns
// the status code.
func tlsmGet(url string) (int, error) {
	hostport, path, _ := strings.Cut(strings.TrimPrefix(url, "http://"), "/")
	conn, err := net.DialTimeout("tcp", hostport, 2*time.Second)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(conn, "GET /%s HTTP/1.0\r\nHost: %s\r\n\r\n", path, hostport); err != nil {
		return 0, err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return 0, err
	}
	fields := strings.Fields(line)
	if len(fields) < 2 {
		return 0, fmt.Errorf("status line %q", line)
	}
	return strconv.Atoi(fields[1])
}

// tlsmLogs collects the JSON log lines of the vbproxy process.
type tlsmLogs struct {
	mu    sync.Mutex
	lines []map[string]any
	raw   []string
	added chan struct{}
}

func (l *tlsmLogs) read(r io.Reader) {
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

// wait returns the first line match accepts, waiting up to 30s for it.
func (l *tlsmLogs) wait(t *testing.T, match func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		l.mu.Lock()
		for _, m := range l.lines {
			if match(m) {
				l.mu.Unlock()
				return m
			}
		}
		l.mu.Unlock()
		select {
		case <-l.added:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("log line not found within 30s; log:\n%s", l.text())
		}
	}
}

func (l *tlsmLogs) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.raw, "\n")
}

// tlsmSocat starts socat listening plain on a free loopback port and
// forwarding each connection over TLS to target, verifying target's
// certificate against caFile. It returns the plain address.
func tlsmSocat(t *testing.T, target, caFile string) string {
	t.Helper()
	path, err := exec.LookPath("socat")
	if err != nil {
		t.Fatalf("socat not found (apt-get install socat; .ci/run installs it): %v", err)
	}
	var last string
	for range 5 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		_ = ln.Close()
		_, port, _ := net.SplitHostPort(addr)
		var stderr bytes.Buffer
		cmd := exec.Command(path,
			"TCP-LISTEN:"+port+",bind=127.0.0.1,reuseaddr,fork",
			"OPENSSL:"+target+",cafile="+caFile+",verify=1")
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
			select {
			case <-done:
				last = "socat exited: " + stderr.String()
			default:
				c, err := net.DialTimeout("tcp", addr, time.Second)
				if err != nil {
					time.Sleep(20 * time.Millisecond)
					continue
				}
				_ = c.Close()
				t.Cleanup(func() {
					_ = cmd.Process.Kill()
					<-done
				})
				return addr
			}
			break
		}
		_ = cmd.Process.Kill()
		<-done
	}
	t.Fatalf("socat did not start: %s", last)
	return ""
}

// tlsmMemcapable runs memccapable in mode ("-b" binary, "-a" text) against
// addr and fails the test on any failed case.
func tlsmMemcapable(t *testing.T, addr, mode string) {
	t.Helper()
	path, err := exec.LookPath("memccapable")
	if err != nil {
		t.Fatalf("memccapable not found (install libmemcached-tools): %v", err)
	}
	host, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(path, mode, "-h", host, "-p", port)
	out, err := cmd.CombinedOutput()
	t.Logf("memccapable %s through socat:\n%s", mode, out)
	switch {
	case err != nil:
		t.Fatalf("memccapable %s: %v", mode, err)
	case strings.Contains(strings.ToLower(string(out)), "fail"):
		t.Fatalf("memccapable %s reported a failure", mode)
	case !strings.Contains(string(out), "All tests passed"):
		t.Fatalf("memccapable %s output lacks \"All tests passed\"", mode)
	}
}

// TestMemcapableOverTLS runs memccapable's binary suite (-b) and text
// suite (-a) through socat to vbproxy's TLS listener, with vbproxy's
// upstream over TLS to the simulated cluster.
func TestMemcapableOverTLS(t *testing.T) {
	p := tlsmStart(t)
	plain := tlsmSocat(t, p.tlsAddr, p.caFile)
	t.Run("binary", func(t *testing.T) { tlsmMemcapable(t, plain, "-b") })
	t.Run("text", func(t *testing.T) { tlsmMemcapable(t, plain, "-a") })
}

// TestMemcapableOverTLSControls shows that the suites above really cross a
// verified TLS hop: the listener refuses a plain client, and the same socat
// set-up trusting another CA gets no reply at all.
func TestMemcapableOverTLSControls(t *testing.T) {
	p := tlsmStart(t)

	// A plain binary NOOP to the TLS port: the handshake fails, the
	// connection closes, no memcached reply comes back.
	noop := make([]byte, 24)
	noop[0], noop[1] = 0x80, 0x0a
	conn, err := net.DialTimeout("tcp", p.tlsAddr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := conn.Write(noop); err != nil {
		t.Fatal(err)
	}
	reply, _ := io.ReadAll(conn)
	conn.Close()
	if len(reply) > 0 && reply[0] == 0x81 {
		t.Errorf("a plain NOOP to the TLS listener got a memcached reply % x", reply)
	}

	// A Go TLS client trusting the right CA gets the NOOP answered; one
	// trusting another CA is refused with the reason.
	pem, err := os.ReadFile(p.caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	tc, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", p.tlsAddr, &tls.Config{RootCAs: pool})
	if err != nil {
		t.Fatalf("TLS dial with the test CA: %v", err)
	}
	_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := tc.Write(noop); err != nil {
		t.Fatal(err)
	}
	hdr := make([]byte, 24)
	if _, err := io.ReadFull(tc, hdr); err != nil || hdr[0] != 0x81 || hdr[1] != 0x0a {
		t.Errorf("NOOP over TLS: reply % x, %v; want a NOOP response", hdr, err)
	}
	tc.Close()
	other, err := certs.NewCA("another CA")
	if err != nil {
		t.Fatal(err)
	}
	otherFile, _, err := other.WriteFiles(t.TempDir(), "other")
	if err != nil {
		t.Fatal(err)
	}
	_, err = tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", p.tlsAddr, &tls.Config{RootCAs: other.Pool()})
	if err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Errorf("TLS dial trusting another CA: %v, want \"certificate signed by unknown authority\"", err)
	}

	// socat trusting the other CA: the connection it accepts is closed
	// without a reply, so memccapable through it could not pass.
	wrong := tlsmSocat(t, p.tlsAddr, otherFile)
	conn, err = net.DialTimeout("tcp", wrong, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
	_, _ = conn.Write(noop)
	reply, _ = io.ReadAll(conn)
	conn.Close()
	if len(reply) != 0 {
		t.Errorf("through socat trusting another CA: reply % x, want none", reply)
	}
}
