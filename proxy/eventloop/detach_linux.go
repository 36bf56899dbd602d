//go:build linux

package eventloop

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// The transport seam: how a connection set up with ordinary blocking I/O
// (an accepted client after its PROXY header, a node after its bootstrap)
// becomes a descriptor an event loop owns.
//
// A plain socket (*net.TCPConn, *net.UnixConn) is handed over as itself: its
// descriptor is duplicated and the Go connection closed, so the loop reads
// and writes the kernel socket directly. Anything else (a *tls.Conn) cannot
// be a bare descriptor; it is bridged through a Unix socket pair, one end
// to the loop, the other pumped to and from the connection by two
// goroutines. The bridge costs that connection two copies and two goroutine
// wake-ups per burst; it changes nothing for plain connections, and the loop
// code is the same for both.

// Detach returns a non-blocking, close-on-exec descriptor for c that the
// caller owns (register it with a Loop, close it with Loop.Close), and
// whether it is a bridge. c must not be used afterwards: a plain socket is
// closed (its duplicate lives on), a bridged connection belongs to the
// bridge, which closes it when the loop's end is closed.
func Detach(c net.Conn) (fd int, bridged bool, err error) {
	switch c.(type) {
	case *net.TCPConn, *net.UnixConn:
		fd, err = dupSocket(c.(syscall.Conn))
		_ = c.Close()
		return fd, false, err
	}
	fd, err = Bridge(c)
	return fd, true, err
}

func dupSocket(sc syscall.Conn) (int, error) {
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, fmt.Errorf("eventloop: detach: %w", err)
	}
	fd := -1
	var derr error
	if err := rc.Control(func(s uintptr) {
		fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return -1, fmt.Errorf("eventloop: detach: %w", err)
	}
	if derr != nil {
		return -1, fmt.Errorf("eventloop: detach: dup: %w", derr)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		_ = unix.Close(fd)
		return -1, fmt.Errorf("eventloop: detach: set non-blocking: %w", err)
	}
	return fd, nil
}

// Bridge connects c to a new Unix socket pair and returns the loop's end.
// Two goroutines copy between c and the other end; when either side ends,
// the other is told (a half close, then a close), and both goroutines exit
// once the loop has closed its end and c is closed.
func Bridge(c net.Conn) (int, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		_ = c.Close()
		return -1, fmt.Errorf("eventloop: bridge: socketpair: %w", err)
	}
	if err := unix.SetNonblock(fds[0], true); err != nil {
		_ = unix.Close(fds[0])
		_ = unix.Close(fds[1])
		_ = c.Close()
		return -1, fmt.Errorf("eventloop: bridge: %w", err)
	}
	f := os.NewFile(uintptr(fds[1]), "bridge")
	pc, err := net.FileConn(f) // dups: the Go runtime's poller owns the copy
	_ = f.Close()
	if err != nil {
		_ = unix.Close(fds[0])
		_ = c.Close()
		return -1, fmt.Errorf("eventloop: bridge: %w", err)
	}
	peer := pc.(*net.UnixConn)
	var once sync.Once
	closeBoth := func() {
		once.Do(func() {
			_ = c.Close()
			_ = peer.Close()
		})
	}
	go func() { // connection -> loop
		_, err := io.Copy(peer, c)
		if err == nil || errors.Is(err, io.EOF) {
			_ = peer.CloseWrite() // the loop reads EOF after the last byte
			return
		}
		closeBoth()
	}()
	go func() { // loop -> connection
		_, _ = io.Copy(c, peer)
		// The loop closed its end (or the connection failed): nothing more
		// will be written; close both so the other goroutine ends too.
		closeBoth()
	}()
	return fds[0], nil
}
