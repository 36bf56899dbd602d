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
// read, keeps a write deadline at least the write timeout ahead of each
// write, counts bytes, and stops reads when the session is asked to stop.
type clientConn struct {
	net.Conn
	idle, write time.Duration
	writeBy     time.Time // the write deadline armed (writes come from one goroutine)
	stopping    atomic.Bool
	in, out     atomic.Uint64
	// reads counts the reads that brought a new burst of bytes, so that the
	// requests of one pipelined batch share a number (slot.read); a read
	// that continues a filled idle read is the same burst. Reader only.
	reads     uint64
	continues bool
	obs       Observer
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
		if c.continues {
			c.continues = false
		} else {
			c.reads++
		}
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
		// Re-arm only when the armed deadline is less than the timeout away
		// (then to 9/8 of it): each write still gets at least the full
		// timeout, and most writes change no runtime timer.
		now := time.Now()
		if c.writeBy.Sub(now) < c.write {
			c.writeBy = now.Add(c.write + c.write/8)
			if err := c.Conn.SetWriteDeadline(c.writeBy); err != nil {
				return 0, err
			}
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
