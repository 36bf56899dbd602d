package netns

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Prefix starts the name of every namespace a Lab creates; the process id
// follows it, so that Open can tell leftovers of a dead process.
const Prefix = "vbf"

// Network is the range every Host address comes from (RFC 2544's
// benchmarking range). Hosts use it as one flat subnet on the lab's bridge.
var Network = netip.MustParsePrefix("198.18.0.0/15")

// ErrRefused is wrapped by Open when the kernel (or the lack of privileges)
// refuses to create a network namespace.
var ErrRefused = errors.New("netns: network namespaces refused")

// hostName is what a Host name may look like (it becomes part of a
// namespace name).
var hostName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,19}$`)

// Lab is a hub namespace with a bridge, and the hosts joined to it. The
// methods are safe for concurrent use.
type Lab struct {
	prefix string // "vbf<pid>-<random>-"
	hub    string // namespace holding the bridge

	mu     sync.Mutex
	hosts  []*Host
	next   netip.Addr // next automatic address
	closed bool
}

// New opens a Lab for a test and closes it in t.Cleanup. It skips the test
// when the kernel refuses namespaces (saying so), and fails it when a tool is
// missing or the lab cannot be built.
func New(t testing.TB) *Lab {
	t.Helper()
	l, err := Open()
	if errors.Is(err, ErrRefused) {
		t.Skipf("SKIP: this test needs network namespaces, which this kernel or user refuses: %v", err)
	}
	if err != nil {
		t.Fatalf("netns: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("netns: close lab: %v", err)
		}
	})
	return l
}

// Open removes the namespaces left by dead processes, then creates a hub
// namespace with a bridge. Close removes everything it created.
func Open() (*Lab, error) {
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%s is required (apt-get install iproute2 nftables): %w", tool, err)
		}
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("%w: not running as root (uid %d)", ErrRefused, os.Geteuid())
	}
	if err := RemoveStale(); err != nil {
		return nil, err
	}
	var rnd [3]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, fmt.Errorf("netns: random lab name: %w", err)
	}
	l := &Lab{
		prefix: Prefix + strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(rnd[:]) + "-",
		next:   netip.MustParseAddr("198.18.1.1"),
	}
	l.hub = l.prefix + "hub"
	if err := ipRun("netns", "add", l.hub); err != nil {
		if isRefusal(err) {
			return nil, fmt.Errorf("%w: %v", ErrRefused, err)
		}
		return nil, err
	}
	for _, args := range [][]string{
		{"-n", l.hub, "link", "set", "lo", "up"},
		{"-n", l.hub, "link", "add", "br0", "type", "bridge"},
		{"-n", l.hub, "link", "set", "br0", "up"},
	} {
		if err := ipRun(args...); err != nil {
			_ = ipRun("netns", "del", l.hub)
			return nil, err
		}
	}
	return l, nil
}

// AddHost creates a namespace named after name, joins it to the bridge and
// gives it addr (the zero Addr: the next free address from 198.18.1.1 up).
// Addresses below 198.18.1.0 are never assigned automatically, so callers
// may pick those themselves (the simulated cluster's nodes, say).
func (l *Lab) AddHost(name string, addr netip.Addr) (*Host, error) {
	if !hostName.MatchString(name) {
		return nil, fmt.Errorf("netns: host name %q: want 1-20 of a-z, 0-9 and -", name)
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, errors.New("netns: lab is closed")
	}
	if !addr.IsValid() {
		addr = l.next
		l.next = l.next.Next()
	}
	for _, h := range l.hosts {
		if h.Name == name {
			l.mu.Unlock()
			return nil, fmt.Errorf("netns: host %q exists already", name)
		}
		if h.IP == addr {
			l.mu.Unlock()
			return nil, fmt.Errorf("netns: host %q: address %s is host %q's", name, addr, h.Name)
		}
	}
	if !addr.Is4() || !Network.Contains(addr) {
		l.mu.Unlock()
		return nil, fmt.Errorf("netns: host %q: address %s is outside %s", name, addr, Network)
	}
	h := &Host{Name: name, NS: l.prefix + name, IP: addr, lab: l, hubIf: "v" + strconv.Itoa(len(l.hosts))}
	l.hosts = append(l.hosts, h)
	l.mu.Unlock()

	cidr := addr.String() + "/" + strconv.Itoa(Network.Bits())
	steps := [][]string{
		{"netns", "add", h.NS},
		{"-n", l.hub, "link", "add", h.hubIf, "type", "veth", "peer", "name", "eth0", "netns", h.NS},
		{"-n", l.hub, "link", "set", h.hubIf, "master", "br0", "up"},
		{"-n", h.NS, "link", "set", "lo", "up"},
		{"-n", h.NS, "addr", "add", cidr, "dev", "eth0"},
		{"-n", h.NS, "link", "set", "eth0", "up"},
	}
	for _, args := range steps {
		if err := ipRun(args...); err != nil {
			return nil, fmt.Errorf("netns: host %q: %w", name, err)
		}
	}
	return h, nil
}

// Hosts returns the hosts in the order they were added.
func (l *Lab) Hosts() []*Host {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*Host(nil), l.hosts...)
}

// Host returns the host called name, nil when none.
func (l *Lab) Host(name string) *Host {
	for _, h := range l.Hosts() {
		if h.Name == name {
			return h
		}
	}
	return nil
}

// Close deletes every namespace of the lab (their veth pairs go with them).
// Processes still running inside keep their namespace alive until they exit,
// but it loses its name and its link to the bridge.
func (l *Lab) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	hosts := l.hosts
	l.mu.Unlock()
	var errs []error
	for _, h := range hosts {
		if err := ipRun("netns", "del", h.NS); err != nil && !strings.Contains(err.Error(), "No such file") {
			errs = append(errs, err)
		}
	}
	if err := ipRun("netns", "del", l.hub); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// RemoveStale deletes the namespaces named by Prefix whose process is gone.
func RemoveStale() error {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return fmt.Errorf("netns: ip netns list: %w", err)
	}
	var errs []error
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		pid, ok := stalePID(name)
		if !ok || pid == os.Getpid() {
			continue
		}
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
			continue // its process still runs
		}
		if err := ipRun("netns", "del", name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// stalePID parses the process id out of a lab namespace name.
func stalePID(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, Prefix)
	if !ok {
		return 0, false
	}
	digits, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(digits)
	return pid, err == nil && pid > 0
}

// ipRun runs ip with args; the error carries its output.
func ipRun(args ...string) error {
	return run(nil, "ip", args...)
}

// run runs a command with stdin; the error names it and carries its output.
func run(stdin []byte, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// isRefusal reports whether a failed `ip netns add` was the kernel saying no.
func isRefusal(err error) bool {
	s := err.Error()
	return strings.Contains(s, "Operation not permitted") || strings.Contains(s, "Permission denied") ||
		strings.Contains(s, "Invalid argument") || strings.Contains(s, "not supported")
}
