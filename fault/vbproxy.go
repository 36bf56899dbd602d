package fault

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vbproxy/vbproxy/internal/netns"
)

// BinEnv names an environment variable that, when set, is the vbproxy
// binary Build returns instead of compiling one (for a binary built from
// another revision while this tree does not build).
const BinEnv = "VBPROXY_BIN"

// Build compiles github.com/vbproxy/vbproxy/cmd/vbproxy from the module the
// current directory belongs to into dir, and returns the binary's path.
func Build(dir string) (string, error) {
	if bin := os.Getenv(BinEnv); bin != "" {
		return bin, nil
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("fault: building vbproxy needs go on PATH: %w", err)
	}
	bin := filepath.Join(dir, "vbproxy")
	cmd := exec.Command(goBin, "build", "-o", bin, "-ldflags", "-X main.version=fault", "github.com/vbproxy/vbproxy/cmd/vbproxy")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("fault: go build vbproxy: %w\n%s", err, out)
	}
	return bin, nil
}

// ProxyOptions configure a vbproxy process. Zero durations and counts keep
// vbproxy's own defaults unless stated.
type ProxyOptions struct {
	Bin  string      // the vbproxy binary (Build); required
	Host *netns.Host // the namespace it runs in; required
	Dir  string      // its config, password and log files; required

	Port      int // client port; default 11211
	AdminPort int // admin port; default 8080

	Seeds          []string // cluster manager URLs; or MapFile
	MapFile        string   // a static map instead of Seeds
	Bucket         string   // default "default"
	User, Password string   // cluster credentials; default Administrator/password with Seeds

	PoolSize         int
	ConnectTimeout   time.Duration
	OperationTimeout time.Duration
	IdleTimeout      time.Duration
	PollInterval     time.Duration
	MaxConnections   int // default 20000
	MaxRequestSize   int

	// NoFile, when set, is the process's RLIMIT_NOFILE (soft and hard),
	// applied with prlimit.
	NoFile int
}

// Proxy is a vbproxy process inside a namespace. Its methods are safe for
// concurrent use.
type Proxy struct {
	o         ProxyOptions
	Addr      string // client "ip:port"
	AdminAddr string // admin "ip:port"
	cfgPath   string
	logPath   string
	http      *http.Client

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	starts int
}

// NewProxy writes the config and returns a Proxy that is not running yet.
func NewProxy(o ProxyOptions) (*Proxy, error) {
	if o.Bin == "" || o.Host == nil || o.Dir == "" {
		return nil, errors.New("fault: ProxyOptions: Bin, Host and Dir are required")
	}
	if o.Port == 0 {
		o.Port = 11211
	}
	if o.AdminPort == 0 {
		o.AdminPort = 8080
	}
	if o.Bucket == "" {
		o.Bucket = "default"
	}
	if len(o.Seeds) > 0 && o.User == "" {
		o.User, o.Password = "Administrator", "password"
	}
	if o.MaxConnections == 0 {
		o.MaxConnections = 20000
	}
	p := &Proxy{
		o:         o,
		Addr:      o.Host.Addr(o.Port),
		AdminAddr: o.Host.Addr(o.AdminPort),
		cfgPath:   filepath.Join(o.Dir, "vbproxy.yaml"),
		logPath:   filepath.Join(o.Dir, "vbproxy.log"),
		http:      o.Host.HTTPClient(5 * time.Second),
	}
	if err := p.writeConfig(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Proxy) writeConfig() error {
	o := p.o
	var b strings.Builder
	fmt.Fprintf(&b, "listeners:\n  - address: %s\n    bucket: %s\n", p.Addr, o.Bucket)
	b.WriteString("cluster:\n")
	if o.MapFile != "" {
		fmt.Fprintf(&b, "  map_file: %s\n", o.MapFile)
	} else {
		fmt.Fprintf(&b, "  seeds: [%s]\n", strings.Join(o.Seeds, ", "))
	}
	if o.User != "" {
		pw := filepath.Join(o.Dir, "cluster.password")
		if err := os.WriteFile(pw, []byte(o.Password+"\n"), 0o600); err != nil {
			return fmt.Errorf("fault: %w", err)
		}
		fmt.Fprintf(&b, "  user: %s\n  password_file: %s\n", o.User, pw)
	}
	if o.PollInterval > 0 {
		fmt.Fprintf(&b, "  poll_interval: %s\n", o.PollInterval)
	}
	b.WriteString("upstream:\n")
	if o.PoolSize > 0 {
		fmt.Fprintf(&b, "  pool_size: %d\n", o.PoolSize)
	}
	if o.ConnectTimeout > 0 {
		fmt.Fprintf(&b, "  connect_timeout: %s\n", o.ConnectTimeout)
	}
	if o.OperationTimeout > 0 {
		fmt.Fprintf(&b, "  operation_timeout: %s\n", o.OperationTimeout)
	}
	fmt.Fprintf(&b, "limits:\n  max_connections: %d\n", o.MaxConnections)
	if o.IdleTimeout > 0 {
		fmt.Fprintf(&b, "  idle_timeout: %s\n", o.IdleTimeout)
	}
	if o.MaxRequestSize > 0 {
		fmt.Fprintf(&b, "  max_request_size: %d\n", o.MaxRequestSize)
	}
	fmt.Fprintf(&b, "admin:\n  address: %s\nlog:\n  format: json\n  level: info\nshutdown:\n  drain_timeout: 2s\n", p.AdminAddr)
	if err := os.WriteFile(p.cfgPath, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("fault: %w", err)
	}
	return nil
}

// StartProxy writes the config, starts the process and waits until it is
// ready (/readyz 200).
func StartProxy(o ProxyOptions) (*Proxy, error) {
	p, err := NewProxy(o)
	if err != nil {
		return nil, err
	}
	if err := p.Start(); err != nil {
		return nil, err
	}
	if err := p.WaitReady(30 * time.Second); err != nil {
		_ = p.Kill()
		return nil, err
	}
	return p, nil
}

// Start starts the process (again, after Kill or Stop); it does not wait
// for readiness.
func (p *Proxy) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return errors.New("fault: vbproxy is running already")
	}
	args := []string{"-config", p.cfgPath}
	var cmd *exec.Cmd
	if p.o.NoFile > 0 {
		n := strconv.Itoa(p.o.NoFile)
		cmd = p.o.Host.Command("prlimit", append([]string{"--nofile=" + n + ":" + n, "--", p.o.Bin}, args...)...)
	} else {
		cmd = p.o.Host.Command(p.o.Bin, args...)
	}
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("fault: %w", err)
	}
	p.starts++
	fmt.Fprintf(logf, "--- start %d at %s\n", p.starts, time.Now().Format(time.RFC3339Nano))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return fmt.Errorf("fault: start vbproxy: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		_ = logf.Close()
		close(exited)
	}()
	p.cmd, p.exited = cmd, exited
	return nil
}

// WaitReady waits until /readyz answers 200.
func (p *Proxy) WaitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		if !p.Running() {
			return fmt.Errorf("fault: vbproxy exited before it was ready; log:\n%s", p.Logs())
		}
		code, body, err := p.Get("/readyz")
		if err == nil && code == http.StatusOK {
			return nil
		}
		last = fmt.Sprintf("%d %q %v", code, body, err)
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("fault: vbproxy not ready within %s (last /readyz: %s); log:\n%s", timeout, last, p.Logs())
}

// Running reports whether the process runs.
func (p *Proxy) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// PID returns the process id (0 when not running). `ip netns exec` and
// prlimit exec the binary, so it is vbproxy's own.
func (p *Proxy) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Kill sends SIGKILL and waits for the process to exit.
func (p *Proxy) Kill() error { return p.signal(syscall.SIGKILL, 0) }

// Stop sends SIGTERM and waits for the graceful exit (SIGKILL after 15 s).
func (p *Proxy) Stop() error { return p.signal(syscall.SIGTERM, 15*time.Second) }

func (p *Proxy) signal(sig syscall.Signal, grace time.Duration) error {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(sig)
	if grace > 0 {
		select {
		case <-exited:
			return nil
		case <-time.After(grace):
			_ = cmd.Process.Kill()
		}
	}
	select {
	case <-exited:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("fault: vbproxy (pid %d) did not exit after %v", cmd.Process.Pid, sig)
	}
}

// Logs returns the process's output so far (every start).
func (p *Proxy) Logs() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return err.Error()
	}
	const keep = 64 << 10
	if len(b) > keep {
		b = append([]byte("...\n"), b[len(b)-keep:]...)
	}
	return string(b)
}

// Get requests an admin path (from inside the proxy's namespace) and
// returns the status and body.
func (p *Proxy) Get(path string) (int, string, error) {
	resp, err := p.http.Get("http://" + p.AdminAddr + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	return resp.StatusCode, string(b), err
}

// Metrics scrapes /metrics and returns the samples by "name{labels}" (as
// written in the exposition text; "name" alone when it has no labels).
func (p *Proxy) Metrics() (map[string]float64, error) {
	code, body, err := p.Get("/metrics")
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("fault: /metrics: status %d", code)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	return out, nil
}

// Sum adds the samples of metric name whose labels contain every one of
// labels (each like `kind="timeout"`).
func Sum(samples map[string]float64, name string, labels ...string) float64 {
	var total float64
	for k, v := range samples {
		n, rest, _ := strings.Cut(k, "{")
		if n != name {
			continue
		}
		ok := true
		for _, l := range labels {
			if !strings.Contains(rest, l) {
				ok = false
				break
			}
		}
		if ok {
			total += v
		}
	}
	return total
}
