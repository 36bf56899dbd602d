package sim

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
	"github.com/vbproxy/vbproxy/vbmap"
)

const (
	testUser = "Administrator"
	testPass = "password"
)

// startCluster starts a cluster on 127.0.0.1 with ephemeral ports; o's
// other fields are kept.
func startCluster(t testing.TB, o Options) *Cluster {
	t.Helper()
	o.Host = "127.0.0.1"
	if o.VBuckets == 0 {
		o.VBuckets = 64
	}
	c, err := Start(o)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

// resp is a copied response packet.
type resp struct {
	memcached.Header
	Extras, Key, Value []byte
}

// kvClient is a minimal binary-protocol client for tests.
type kvClient struct {
	t      testing.TB
	conn   net.Conn
	r      *memcached.Reader
	opaque uint32
}

func dialKV(t testing.TB, addr string) *kvClient {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &kvClient{t: t, conn: conn, r: memcached.NewReader(conn, memcached.ReaderOptions{})}
}

// send writes one request and returns its opaque.
func (c *kvClient) send(op memcached.Opcode, vb uint16, cas uint64, extras, key, value []byte) uint32 {
	c.t.Helper()
	c.opaque++
	pkt := memcached.AppendRequest(nil, op, vb, c.opaque, cas, extras, key, value)
	if err := c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second)); err != nil {
		c.t.Fatalf("deadline: %v", err)
	}
	if _, err := c.conn.Write(pkt); err != nil {
		c.t.Fatalf("write %s: %v", op, err)
	}
	return c.opaque
}

// recv reads one response, failing the test on error.
func (c *kvClient) recv() resp {
	c.t.Helper()
	r, err := c.tryRecv(10 * time.Second)
	if err != nil {
		c.t.Fatalf("read response: %v", err)
	}
	return r
}

func (c *kvClient) tryRecv(timeout time.Duration) (resp, error) {
	if err := c.conn.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return resp{}, err
	}
	var p memcached.Packet
	if err := c.r.ReadResponse(&p); err != nil {
		return resp{}, err
	}
	return resp{Header: p.Header, Extras: bytes.Clone(p.Extras), Key: bytes.Clone(p.Key), Value: bytes.Clone(p.Value)}, nil
}

// do sends a request and reads its response.
func (c *kvClient) do(op memcached.Opcode, vb uint16, cas uint64, extras, key, value []byte) resp {
	c.t.Helper()
	opaque := c.send(op, vb, cas, extras, key, value)
	r := c.recv()
	if r.Opaque != opaque || r.Opcode != op {
		c.t.Fatalf("%s: response opaque %d opcode %s, want %d %s", op, r.Opaque, r.Opcode, opaque, op)
	}
	return r
}

// login authenticates with PLAIN and selects bucket.
func (c *kvClient) login(bucket string) {
	c.t.Helper()
	if r := c.do(memcached.OpSASLAuth, 0, 0, nil, []byte("PLAIN"), []byte("\x00"+testUser+"\x00"+testPass)); r.Status != memcached.StatusSuccess {
		c.t.Fatalf("SASL PLAIN: status %s, want SUCCESS", r.Status)
	}
	if r := c.do(memcached.OpSelectBucket, 0, 0, nil, []byte(bucket), nil); r.Status != memcached.StatusSuccess {
		c.t.Fatalf("SELECT_BUCKET %s: status %s, want SUCCESS", bucket, r.Status)
	}
}

func setExtras(flags, exp uint32) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint32(b, flags)
	binary.BigEndian.PutUint32(b[4:], exp)
	return b
}

func arithExtras(delta, initial uint64, exp uint32) []byte {
	b := make([]byte, 20)
	binary.BigEndian.PutUint64(b, delta)
	binary.BigEndian.PutUint64(b[8:], initial)
	binary.BigEndian.PutUint32(b[16:], exp)
	return b
}

func expExtras(exp uint32) []byte { return binary.BigEndian.AppendUint32(nil, exp) }

// hostOf returns the host of a "host:port" address.
func hostOf(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return h
}

// smartClient routes keys like an SDK: it follows the map, applies the
// config carried by NOT_MY_VBUCKET and retries; after an I/O error (a node
// stopped) it reloads the config from the cluster. It never calls t.Fatal,
// so goroutines can use it.
type smartClient struct {
	c      *Cluster
	bucket string
	m      *vbmap.Map
	conns  map[string]*rawConn
}

// rawConn is an authenticated connection that reports errors.
type rawConn struct {
	conn   net.Conn
	r      *memcached.Reader
	opaque uint32
}

func newSmartClient(c *Cluster, bucket string) (*smartClient, error) {
	s := &smartClient{c: c, bucket: bucket, conns: map[string]*rawConn{}}
	return s, s.reload()
}

func (s *smartClient) reload() error {
	seed := s.c.Nodes()[0]
	m, err := vbmap.Parse(s.c.ConfigJSON(s.bucket), vbmap.ParseOptions{Host: seed.Host()})
	if err != nil {
		return err
	}
	s.m = m
	return nil
}

func (s *smartClient) Close() {
	for _, c := range s.conns {
		_ = c.conn.Close()
	}
}

func (s *smartClient) conn(addr string) (*rawConn, error) {
	if c, ok := s.conns[addr]; ok {
		return c, nil
	}
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	c := &rawConn{conn: conn, r: memcached.NewReader(conn, memcached.ReaderOptions{})}
	if r, err := c.do(memcached.OpSASLAuth, 0, nil, []byte("PLAIN"), []byte("\x00"+testUser+"\x00"+testPass)); err != nil || r.Status != memcached.StatusSuccess {
		_ = conn.Close()
		return nil, fmt.Errorf("auth: %v %v", r.Status, err)
	}
	if r, err := c.do(memcached.OpSelectBucket, 0, nil, []byte(s.bucket), nil); err != nil || r.Status != memcached.StatusSuccess {
		_ = conn.Close()
		return nil, fmt.Errorf("select: %v %v", r.Status, err)
	}
	s.conns[addr] = c
	return c, nil
}

func (c *rawConn) do(op memcached.Opcode, vb uint16, extras, key, value []byte) (resp, error) {
	c.opaque++
	if err := c.conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return resp{}, err
	}
	if _, err := c.conn.Write(memcached.AppendRequest(nil, op, vb, c.opaque, 0, extras, key, value)); err != nil {
		return resp{}, err
	}
	var p memcached.Packet
	if err := c.r.ReadResponse(&p); err != nil {
		return resp{}, err
	}
	if p.Opaque != c.opaque {
		return resp{}, fmt.Errorf("opaque %d, want %d", p.Opaque, c.opaque)
	}
	return resp{Header: p.Header, Extras: bytes.Clone(p.Extras), Key: bytes.Clone(p.Key), Value: bytes.Clone(p.Value)}, nil
}

// errGaveUp: the smart client retried too long.
var errGaveUp = errors.New("gave up after NOT_MY_VBUCKET retries")

// do runs a key command until it gets an answer other than NOT_MY_VBUCKET.
func (s *smartClient) do(op memcached.Opcode, extras, key, value []byte) (resp, error) {
	for range 5000 {
		vb, node := s.m.Route(key)
		if node < 0 {
			time.Sleep(time.Millisecond)
			_ = s.reload()
			continue
		}
		addr := s.m.Nodes()[node].Addr
		c, err := s.conn(addr)
		var r resp
		if err == nil {
			r, err = c.do(op, vb, extras, key, value)
		}
		if err != nil {
			if c != nil {
				_ = c.conn.Close()
				delete(s.conns, addr)
			}
			time.Sleep(time.Millisecond)
			if err := s.reload(); err != nil {
				return resp{}, err
			}
			continue
		}
		if r.Status != memcached.StatusNotMyVBucket {
			return r, nil
		}
		if len(r.Value) > 0 {
			m, err := vbmap.Parse(r.Value, vbmap.ParseOptions{Host: hostOf(addr)})
			if err != nil {
				return r, fmt.Errorf("NOT_MY_VBUCKET body: %w", err)
			}
			if m.Revision().Newer(s.m.Revision()) {
				s.m = m
				continue
			}
		}
		time.Sleep(time.Millisecond)
	}
	return resp{}, errGaveUp
}

func portOf(addr string) string { return addr[strings.LastIndex(addr, ":")+1:] }
