package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// IdleOptions configure HoldIdle. Zero fields take the documented defaults.
type IdleOptions struct {
	// Addr is the target "host:port". Required.
	Addr string
	// Conns is the number of connections to open. Default 1.
	Conns int
	// Protocol is ProtocolBinary or ProtocolASCII, for Touch. Default binary.
	Protocol string
	// Touch makes each connection do one get (of a key that need not
	// exist) and wait for the reply before idling, so that the server has
	// set up whatever it allocates on first use.
	Touch bool
	// Timeout bounds each dial and the touch reply. Default 5s.
	Timeout time.Duration
	// Parallel is how many dials run at once. Default 32.
	Parallel int
}

// IdleConns is a set of open, idle connections.
type IdleConns struct {
	conns []net.Conn
}

// Len returns the number of open connections.
func (ic *IdleConns) Len() int { return len(ic.conns) }

// Close closes every connection.
func (ic *IdleConns) Close() error {
	var errs []error
	for _, c := range ic.conns {
		if err := c.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	ic.conns = nil
	return errors.Join(errs...)
}

// HoldIdle opens o.Conns connections to o.Addr and leaves them open and
// idle. If any fails it closes the others and returns the first error.
func HoldIdle(ctx context.Context, o IdleOptions) (*IdleConns, error) {
	if o.Addr == "" {
		return nil, invalid("addr", "required (host:port of the target)")
	}
	if o.Conns == 0 {
		o.Conns = 1
	}
	if o.Conns < 0 || o.Conns > 10*MaxConns {
		return nil, invalid("conns", "must be in [1, %d], got %d", 10*MaxConns, o.Conns)
	}
	if o.Protocol == "" {
		o.Protocol = ProtocolBinary
	}
	if o.Protocol != ProtocolBinary && o.Protocol != ProtocolASCII {
		return nil, invalid("protocol", "%q is not %q or %q", o.Protocol, ProtocolBinary, ProtocolASCII)
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Parallel <= 0 {
		o.Parallel = 32
	}
	ic := &IdleConns{conns: make([]net.Conn, o.Conns)}
	d := net.Dialer{Timeout: o.Timeout}
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
		next  = make(chan int)
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range min(o.Parallel, o.Conns) {
		wg.Go(func() {
			for i := range next {
				c, err := openIdle(ctx, &d, &o)
				if err != nil {
					once.Do(func() {
						first = fmt.Errorf("bench: idle connection %d of %d to %s: %w", i+1, o.Conns, o.Addr, err)
						cancel()
					})
					continue
				}
				ic.conns[i] = c
			}
		})
	}
	for i := range o.Conns {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		first = ctx.Err()
	}
	if first != nil {
		for _, c := range ic.conns {
			if c != nil {
				_ = c.Close()
			}
		}
		return nil, first
	}
	return ic, nil
}

func openIdle(ctx context.Context, d *net.Dialer, o *IdleOptions) (net.Conn, error) {
	c, err := d.DialContext(ctx, "tcp", o.Addr)
	if err != nil {
		return nil, err
	}
	if !o.Touch {
		return c, nil
	}
	cd := newCodec(o.Protocol, c, 0)
	_ = c.SetDeadline(time.Now().Add(o.Timeout))
	if _, err := c.Write(cd.appendGet(nil, []byte("vbbench:idle"), 1)); err != nil {
		_ = c.Close()
		return nil, err
	}
	if _, _, err := cd.read(true, 1); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("touch: %w", err)
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}
