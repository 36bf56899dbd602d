package fault

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/vbproxy/vbproxy/internal/netns"
	"github.com/vbproxy/vbproxy/memcached"
)

// Client is a minimal memcached binary-protocol client for the fault tests
// and the soak. It is not safe for concurrent use; pipelining is Send (any
// number of times), Flush, then Recv once per request sent.
type Client struct {
	conn   net.Conn
	w      *bufio.Writer
	r      *memcached.Reader
	pkt    memcached.Packet
	buf    []byte
	opaque uint32
	// Timeout bounds each Do, and each Flush and Recv, with a deadline on
	// the connection. 0 means 10 s.
	Timeout time.Duration
}

// Response is one reply, with its value and extras copied.
type Response struct {
	Status memcached.Status
	Opaque uint32
	CAS    uint64
	Extras []byte
	Value  []byte
}

// Dial connects from host h (nil: the calling process's namespace, for
// loopback addresses only) to addr.
func Dial(h *netns.Host, addr string, timeout time.Duration) (*Client, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var conn net.Conn
	var err error
	if h != nil {
		conn, err = h.DialContext(ctx, "tcp", addr)
	} else {
		var d net.Dialer
		conn, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	return NewClient(conn), nil
}

// NewClient wraps a connection.
func NewClient(conn net.Conn) *Client {
	return &Client{
		conn: conn,
		w:    bufio.NewWriterSize(conn, 64<<10),
		r:    memcached.NewReader(conn, memcached.ReaderOptions{MaxBody: 32 << 20}),
	}
}

// Conn returns the connection.
func (c *Client) Conn() net.Conn { return c.conn }

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

func (c *Client) timeout() time.Duration {
	if c.Timeout <= 0 {
		return 10 * time.Second
	}
	return c.Timeout
}

// Send buffers one request and returns its opaque.
func (c *Client) Send(op memcached.Opcode, key, extras, value []byte, cas uint64) (uint32, error) {
	c.opaque++
	c.buf = memcached.AppendRequest(c.buf[:0], op, 0, c.opaque, cas, extras, key, value)
	if _, err := c.w.Write(c.buf); err != nil {
		return 0, err
	}
	return c.opaque, nil
}

// Flush writes the buffered requests.
func (c *Client) Flush() error {
	_ = c.conn.SetWriteDeadline(time.Now().Add(c.timeout()))
	return c.w.Flush()
}

// Recv reads one reply.
func (c *Client) Recv() (Response, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(c.timeout()))
	if err := c.r.ReadResponse(&c.pkt); err != nil {
		return Response{}, err
	}
	return Response{
		Status: c.pkt.Status,
		Opaque: c.pkt.Opaque,
		CAS:    c.pkt.CAS,
		Extras: slices.Clone(c.pkt.Extras),
		Value:  slices.Clone(c.pkt.Value),
	}, nil
}

// Do sends one request and waits for its reply.
func (c *Client) Do(op memcached.Opcode, key, extras, value []byte, cas uint64) (Response, error) {
	opaque, err := c.Send(op, key, extras, value, cas)
	if err != nil {
		return Response{}, err
	}
	if err := c.Flush(); err != nil {
		return Response{}, err
	}
	r, err := c.Recv()
	if err != nil {
		return r, err
	}
	if r.Opaque != opaque {
		return r, fmt.Errorf("fault: reply opaque %d, want %d", r.Opaque, opaque)
	}
	return r, nil
}

// SetExtras are SET's extras: flags and expiry.
func SetExtras(flags, exp uint32) []byte {
	b := binary.BigEndian.AppendUint32(nil, flags)
	return binary.BigEndian.AppendUint32(b, exp)
}

// Get reads key.
func (c *Client) Get(key string) (Response, error) {
	return c.Do(memcached.OpGet, []byte(key), nil, nil, 0)
}

// Set stores value under key (cas 0: unconditionally).
func (c *Client) Set(key string, value []byte, cas uint64) (Response, error) {
	return c.Do(memcached.OpSet, []byte(key), SetExtras(0, 0), value, cas)
}

// Delete removes key (cas 0: unconditionally).
func (c *Client) Delete(key string, cas uint64) (Response, error) {
	return c.Do(memcached.OpDelete, []byte(key), nil, nil, cas)
}

// Incr adds delta to the counter at key, creating it with initial when
// missing. The new value is Counter(resp).
func (c *Client) Incr(key string, delta, initial uint64) (Response, error) {
	ex := binary.BigEndian.AppendUint64(nil, delta)
	ex = binary.BigEndian.AppendUint64(ex, initial)
	ex = binary.BigEndian.AppendUint32(ex, 0)
	return c.Do(memcached.OpIncrement, []byte(key), ex, nil, 0)
}

// Counter returns the value of a successful INCREMENT or DECREMENT reply.
func Counter(r Response) (uint64, error) {
	if len(r.Value) != 8 {
		return 0, fmt.Errorf("fault: counter reply has %d value bytes, want 8", len(r.Value))
	}
	return binary.BigEndian.Uint64(r.Value), nil
}
