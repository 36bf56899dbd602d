package proxy

import (
	"errors"
	"net"
	"os"
	"sync/atomic"
	"time"
)

// errStopped is returned by a session's reads once Shutdown asked the
// session to stop reading.
var errStopped = errors.New("proxy: session stopped")

// clientConn wraps a client connection: it arms the idle deadline before each
// read, arms the write deadline before each write, counts bytes, and stops
// reads when the session is asked to stop.
type clientConn struct {
	net.Conn
	idle, write time.Duration
	stopping    atomic.Bool
	in, out     atomic.Uint64
	obs         Observer
}

func (c *clientConn) Read(b []byte) (int, error) {
	if c.stopping.Load() {
		return 0, errStopped
	}
	if c.idle > 0 {
		if err := c.Conn.SetReadDeadline(time.Now().Add(c.idle)); err != nil {
			return 0, err
		}
		// stop may have set its past deadline before ours replaced it.
		if c.stopping.Load() {
			return 0, errStopped
		}
	}
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.in.Add(uint64(n))
		c.obs.Bytes(n, 0)
	}
	if err != nil && c.stopping.Load() && errors.Is(err, os.ErrDeadlineExceeded) {
		err = errStopped
	}
	return n, err
}

func (c *clientConn) Write(b []byte) (int, error) {
	if c.write > 0 {
		if err := c.Conn.SetWriteDeadline(time.Now().Add(c.write)); err != nil {
			return 0, err
		}
	}
	n, err := c.Conn.Write(b)
	if n > 0 {
		c.out.Add(uint64(n))
		c.obs.Bytes(0, n)
	}
	return n, err
}

// stop makes the current and every later read fail with errStopped.
func (c *clientConn) stop() {
	c.stopping.Store(true)
	_ = c.Conn.SetReadDeadline(time.Unix(1, 0))
}
