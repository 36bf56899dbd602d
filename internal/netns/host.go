package netns

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// Host is one namespace of a Lab, with one address on the lab's bridge
// (device eth0) and its own loopback.
type Host struct {
	Name string     // the name given to AddHost
	NS   string     // the namespace's name (for `ip netns exec`)
	IP   netip.Addr // its address on the bridge

	lab   *Lab
	hubIf string // the veth end on the bridge, in the hub namespace
}

// Addr returns "ip:port" of the host.
func (h *Host) Addr(port int) string {
	return net.JoinHostPort(h.IP.String(), strconv.Itoa(port))
}

// Command returns a command that runs name inside the namespace (through
// `ip netns exec`, which execs it: the process id is name's own).
func (h *Host) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", h.NS, name}, args...)...)
}

// CommandContext is Command with a context that kills the process.
func (h *Host) CommandContext(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.NS, name}, args...)...)
}

// Do runs fn on an OS thread switched into the namespace, and waits for it.
// Sockets fn creates belong to the namespace for their whole life, whatever
// thread uses them later. fn must not start goroutines that expect to be in
// the namespace: they run on other threads.
func (h *Host) Do(fn func() error) error { return Do(h.NS, fn) }

// Do runs fn on an OS thread switched into the named namespace (one of
// /run/netns, as `ip netns add` makes), and waits for it; see Host.Do.
func Do(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		// The thread is unlocked only once it is back in its own
		// namespace; otherwise it dies with this goroutine.
		runtime.LockOSThread()
		errc <- doLocked(ns, fn)
	}()
	return <-errc
}

func doLocked(ns string, fn func() error) error {
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return fmt.Errorf("netns: open own namespace: %w", err)
	}
	defer self.Close()
	target, err := os.Open("/run/netns/" + ns)
	if err != nil {
		return fmt.Errorf("netns: namespace %q: %w", ns, err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("netns: setns %s: %w", ns, err)
	}
	ferr := fn()
	if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("netns: setns back from %s: %w (fn: %v)", ns, err, ferr)
	}
	runtime.UnlockOSThread()
	return ferr
}

// ListenIn opens a listener inside the named namespace.
func ListenIn(ns, network, addr string) (net.Listener, error) {
	var ln net.Listener
	err := Do(ns, func() error {
		var err error
		ln, err = net.Listen(network, addr)
		return err
	})
	return ln, err
}

// Listen opens a listener inside the namespace.
func (h *Host) Listen(network, addr string) (net.Listener, error) {
	return ListenIn(h.NS, network, addr)
}

// DialContext connects from inside the namespace.
func (h *Host) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var conn net.Conn
	err := h.Do(func() error {
		var d net.Dialer
		var err error
		conn, err = d.DialContext(ctx, network, addr)
		return err
	})
	return conn, err
}

// DialTimeout connects from inside the namespace within timeout.
func (h *Host) DialTimeout(network, addr string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return h.DialContext(ctx, network, addr)
}

// HTTPClient returns a client whose connections start inside the namespace.
// Keep-alives are off, so every request opens a connection of its own: a
// request made while a path is blackholed fails alone.
func (h *Host) HTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext:       h.DialContext,
			DisableKeepAlives: true,
		},
	}
}
