package soak

import (
	"bufio"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/vbproxy/vbproxy/fault"
	"github.com/vbproxy/vbproxy/memcached"
)

// textConn is the soak's memcached text-protocol client: classic get,
// gets, set, cas, add, incr and delete, one request at a time, each reply
// parsed exactly (textreply.go). Replies come back as the fault.Response a
// binary client would have got (STORED: SUCCESS, EXISTS: KEY_EEXISTS,
// NOT_FOUND and a get miss: KEY_ENOENT, NOT_STORED, "SERVER_ERROR
// temporary failure...": ETMPFAIL), so the worker and the checker treat
// both protocols alike. A storage reply carries no CAS in the text
// protocol: Response.CAS is 0 after a mutation, and set only by gets.
//
// Anything else is a *replyError; a connection error or a timeout is the
// net error. A textConn belongs to one worker goroutine.
type textConn struct {
	conn    net.Conn
	w       *bufio.Writer
	rd      textReader
	timeout time.Duration // deadline of each request with its reply
	buf     []byte
}

func newTextConn(conn net.Conn, timeout time.Duration) *textConn {
	return &textConn{conn: conn, w: bufio.NewWriterSize(conn, 4<<10), rd: newTextReader(conn), timeout: timeout}
}

func (c *textConn) Close() error { return c.conn.Close() }

// checkKey refuses a key the text protocol cannot carry (memcached's rule:
// 1-250 bytes, no space or control character).
func checkKey(key string) error {
	if len(key) == 0 || len(key) > 250 {
		return fmt.Errorf("soak: text key %q: length %d, want 1-250", key, len(key))
	}
	for i := range len(key) {
		if key[i] <= ' ' || key[i] == 0x7f {
			return fmt.Errorf("soak: text key %q: byte %#x at %d", key, key[i], i)
		}
	}
	return nil
}

// send writes one request (c.buf) under the request's deadline.
func (c *textConn) send() error {
	_ = c.conn.SetDeadline(time.Now().Add(c.timeout))
	if _, err := c.w.Write(c.buf); err != nil {
		return err
	}
	return c.w.Flush()
}

func (c *textConn) get(cmd, key string) (fault.Response, error) {
	if err := checkKey(key); err != nil {
		return fault.Response{}, err
	}
	c.buf = append(append(append(c.buf[:0], cmd...), ' '), key...)
	c.buf = append(c.buf, "\r\n"...)
	if err := c.send(); err != nil {
		return fault.Response{}, err
	}
	st, h, v, err := c.rd.get(key, cmd == "gets")
	if err != nil {
		return fault.Response{}, err
	}
	return fault.Response{Status: st, CAS: h.cas, Value: v}, nil
}

// Get is "get key": a hit has the value, no CAS.
func (c *textConn) Get(key string) (fault.Response, error) { return c.get("get", key) }

// Gets is "gets key": a hit has the value and its CAS.
func (c *textConn) Gets(key string) (fault.Response, error) { return c.get("gets", key) }

// store sends "set|add key 0 0 n" or "cas key 0 0 n cas" with value.
func (c *textConn) store(cmd, key string, value []byte, cas uint64) (fault.Response, error) {
	if err := checkKey(key); err != nil {
		return fault.Response{}, err
	}
	c.buf = append(append(append(c.buf[:0], cmd...), ' '), key...)
	c.buf = append(c.buf, " 0 0 "...)
	c.buf = strconv.AppendInt(c.buf, int64(len(value)), 10)
	if cmd == "cas" {
		c.buf = append(c.buf, ' ')
		c.buf = strconv.AppendUint(c.buf, cas, 10)
	}
	c.buf = append(append(append(c.buf, "\r\n"...), value...), "\r\n"...)
	if err := c.send(); err != nil {
		return fault.Response{}, err
	}
	l, err := c.rd.line(cmd)
	if err != nil {
		return fault.Response{}, err
	}
	st, err := storeStatus(cmd, l)
	return fault.Response{Status: st}, err
}

// Set is "set" (cas 0) or "cas" (the CAS a gets returned).
func (c *textConn) Set(key string, value []byte, cas uint64) (fault.Response, error) {
	if cas != 0 {
		return c.store("cas", key, value, cas)
	}
	return c.store("set", key, value, 0)
}

// Delete is "delete key".
func (c *textConn) Delete(key string) (fault.Response, error) {
	if err := checkKey(key); err != nil {
		return fault.Response{}, err
	}
	c.buf = append(append(append(c.buf[:0], "delete "...), key...), "\r\n"...)
	if err := c.send(); err != nil {
		return fault.Response{}, err
	}
	l, err := c.rd.line("delete")
	if err != nil {
		return fault.Response{}, err
	}
	st, err := deleteStatus(l)
	return fault.Response{Status: st}, err
}

// Incr adds 1 to the counter at key and returns its new value. The text
// incr does not create a missing counter (NOT_FOUND), so Incr then stores
// it with "add key 0 0 1" and "0", the value the binary INCREMENT with
// initial 0 creates and returns; an add refused with NOT_STORED (the
// counter appeared meanwhile: a late request of this client's) is followed
// by one more incr. The worker counts the exchange as one request.
func (c *textConn) Incr(key string) (fault.Response, uint64, error) {
	if err := checkKey(key); err != nil {
		return fault.Response{}, 0, err
	}
	for range 2 {
		c.buf = append(append(append(c.buf[:0], "incr "...), key...), " 1\r\n"...)
		if err := c.send(); err != nil {
			return fault.Response{}, 0, err
		}
		l, err := c.rd.line("incr")
		if err != nil {
			return fault.Response{}, 0, err
		}
		st, n, err := incrReply(l)
		if err != nil || st != memcached.StatusKeyENOENT {
			return fault.Response{Status: st}, n, err
		}
		r, err := c.store("add", key, []byte("0"), 0)
		if err != nil || r.Status != memcached.StatusNotStored {
			return r, 0, err
		}
	}
	return fault.Response{}, 0, badReply("incr", []byte("NOT_FOUND"), "counter missing again after add said it exists")
}
