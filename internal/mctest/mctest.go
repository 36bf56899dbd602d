// Package mctest starts real memcached servers for tests: on a free loopback
// port, stopped by t.Cleanup. It fails the test with a clear message when
// /usr/bin/memcached is missing (install the Debian package "memcached").
package mctest

import (
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Binary is the memcached executable the tests run.
const Binary = "/usr/bin/memcached"

// Start runs one memcached (-t 1, 64 MB, 4096 connections) and returns its
// "127.0.0.1:port". Extra command-line arguments follow the defaults, so they
// override them (for example "-t", "2" or "-I", "21m").
func Start(t testing.TB, extra ...string) string {
	t.Helper()
	if _, err := os.Stat(Binary); err != nil {
		t.Fatalf("memcached is required for this test (apt-get install memcached): %v", err)
	}
	var last string
	// A free port found by listening can be taken by someone else before
	// memcached binds it: retry with another.
	for range 5 {
		addr, ok, msg := try(t, extra)
		if ok {
			return addr
		}
		last = msg
	}
	t.Fatalf("memcached did not start: %s", last)
	return ""
}

func try(t testing.TB, extra []string) (addr string, ok bool, msg string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	args := []string{"-l", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "0", "-t", "1", "-m", "64", "-c", "4096"}
	if os.Geteuid() == 0 {
		args = append(args, "-u", "nobody") // memcached refuses to run as root
	}
	args = append(args, extra...)
	closeInheritedOnExec()
	cmd := exec.Command(Binary, args...)
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start memcached: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return "", false, "exited at start: " + stderr.String()
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			_ = c.Close()
			t.Cleanup(func() {
				_ = cmd.Process.Kill()
				<-done
			})
			return addr, true, ""
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	<-done
	return "", false, "not accepting connections on " + addr + " after 10s: " + stderr.String()
}

// lockedBuffer collects a process's stderr; safe to read while it writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// closeInheritedOnExec marks every descriptor the test process inherited
// (above stderr) close-on-exec, so that a memcached it starts does not hold
// them. A fuzz worker inherits the pipes to its coordinator; a memcached
// holding them outlives a worker stopped before its cleanups ran, and the
// coordinator then waits for the pipe's end forever. (Go opens its own
// descriptors close-on-exec already.)
func closeInheritedOnExec() {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range fds {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			syscall.CloseOnExec(fd)
		}
	}
}
