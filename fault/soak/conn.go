package soak

import (
	"github.com/vbproxy/vbproxy/fault"
	"github.com/vbproxy/vbproxy/memcached"
)

// Client protocols of the soak.
const (
	protoBinary = "binary"
	protoText   = "text"
)

// kvConn is a worker's connection to the proxy in either protocol: the
// requests the soak makes, with replies as binary statuses (a text reply is
// mapped to the status a binary client would have got; see textConn).
type kvConn interface {
	// Get reads key; Gets reads it with its CAS (the same for binary,
	// whose GET always carries the CAS).
	Get(key string) (fault.Response, error)
	Gets(key string) (fault.Response, error)
	// Set stores value (cas 0: unconditionally).
	Set(key string, value []byte, cas uint64) (fault.Response, error)
	Delete(key string) (fault.Response, error)
	// Incr adds 1 to the counter at key, creating it at 0 when missing, and
	// returns the new value on success; a success whose value cannot be
	// read is a *replyError.
	Incr(key string) (fault.Response, uint64, error)
	Close() error
}

// binaryConn is a kvConn over fault.Client.
type binaryConn struct{ *fault.Client }

func (c binaryConn) Gets(key string) (fault.Response, error) { return c.Get(key) }

func (c binaryConn) Delete(key string) (fault.Response, error) { return c.Client.Delete(key, 0) }

func (c binaryConn) Incr(key string) (fault.Response, uint64, error) {
	r, err := c.Client.Incr(key, 1, 0)
	if err != nil || r.Status != memcached.StatusSuccess {
		return r, 0, err
	}
	n, err := fault.Counter(r)
	if err != nil {
		return fault.Response{}, 0, &replyError{Cmd: "incr", Reason: err.Error()}
	}
	return r, n, nil
}
