package proxy

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
	"github.com/vbproxy/vbproxy/proxy/upstream"
)

// Settings that change on a running Server (config reload), the
// slow-request log, the per-node upstream hook, and key probes.

// Live are the settings Reconfigure changes without dropping a
// connection. Connections already open keep their authentication; new ones
// see the new users.
type Live struct {
	// Users replace the users of the listeners served with Serve (from
	// Options.Users); a listener given its own users through ServeListener
	// keeps them (SetUsers changes one listener). nil leaves them.
	Users          map[string]string
	MaxConns       int           // 0 = unlimited
	IdleTimeout    time.Duration // 0 = none
	MaxRequestSize int           // 0 = memcached.DefaultMaxBody
	// SlowRequest logs requests slower than this to Options.SlowLog (0 =
	// off); SlowRequestKeys adds their keys.
	SlowRequest     time.Duration
	SlowRequestKeys bool
}

// live holds the Live settings the loops read (one atomic load each).
type live struct {
	maxConns       atomic.Int64
	idleTimeout    atomic.Int64
	maxRequestSize atomic.Int64
	slow           atomic.Int64
	slowKeys       atomic.Bool
}

func (l *live) store(o *Options) {
	l.maxConns.Store(int64(o.MaxConns))
	l.idleTimeout.Store(int64(o.IdleTimeout))
	l.maxRequestSize.Store(int64(o.MaxRequestSize))
	l.slow.Store(int64(o.SlowRequest))
	l.slowKeys.Store(o.SlowRequestKeys)
}

// Reconfigure applies l to the running Server: limits and the slow-request
// settings at once for every connection, users for new authentications.
func (s *Server) Reconfigure(l Live) error {
	if l.MaxConns < 0 || l.IdleTimeout < 0 || l.MaxRequestSize < 0 || l.SlowRequest < 0 {
		return fmt.Errorf("%w: negative limit in %+v", ErrInvalidOptions, l)
	}
	for name := range l.Users {
		if name == "" {
			return fmt.Errorf("%w: Users has an empty user name", ErrInvalidOptions)
		}
	}
	if l.MaxRequestSize == 0 {
		l.MaxRequestSize = memcached.DefaultMaxBody
	}
	s.lv.maxConns.Store(int64(l.MaxConns))
	s.lv.idleTimeout.Store(int64(l.IdleTimeout))
	s.lv.maxRequestSize.Store(int64(l.MaxRequestSize))
	s.lv.slow.Store(int64(l.SlowRequest))
	s.lv.slowKeys.Store(l.SlowRequestKeys)
	if l.Users != nil {
		s.mu.Lock()
		for lst := range s.lsts {
			if !lst.ownUsers {
				lst.setUsers(l.Users)
			}
		}
		s.defaultUsers = l.Users
		s.mu.Unlock()
	}
	s.log.Info("live settings applied", "max_connections", l.MaxConns, "idle_timeout", l.IdleTimeout,
		"max_request_size", l.MaxRequestSize, "slow_request", l.SlowRequest, "users", len(l.Users))
	return nil
}

// SetUsers replaces the users of the listener named name (Listener.Name).
func (s *Server) SetUsers(name string, users map[string]string) error {
	for u := range users {
		if u == "" {
			return fmt.Errorf("%w: Users has an empty user name", ErrInvalidOptions)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for lst := range s.lsts {
		if lst.Name == name {
			lst.setUsers(users)
			return nil
		}
	}
	return fmt.Errorf("proxy: no listener named %q", name)
}

// SlowLogger receives the requests slower than Live.SlowRequest, on an
// event loop's thread: it must neither block nor keep r.Key.
type SlowLogger interface {
	Slow(r SlowRequest)
}

// SlowRequest describes one slow request. Key is set only with
// SlowRequestKeys and is valid during the call.
type SlowRequest struct {
	Op       memcached.Opcode
	VBucket  uint16
	Node     string // the node that answered or failed, "" when none was reached
	Duration time.Duration
	Retries  int // resends (NOT_MY_VBUCKET, a node not up yet...)
	Status   memcached.Status
	Key      []byte
}

// slowRequest reports sl to the slow log when it took longer than the
// threshold.
func (s *session) slowRequest(sl *slot, status memcached.Status, d time.Duration) {
	th := s.srv.lv.slow.Load()
	if th <= 0 || int64(d) < th || s.srv.o.SlowLog == nil {
		return
	}
	r := SlowRequest{Op: sl.op, VBucket: sl.vb, Node: sl.sentAddr, Duration: d, Retries: sl.retries, Status: status}
	if s.srv.lv.slowKeys.Load() {
		r.Key = sl.pkt.Key
	}
	s.srv.o.SlowLog.Slow(r)
}

// UpstreamObserver is an optional Observer method: an Observer that
// implements it is told of each reply a node sent to a forwarded request
// (NOT_MY_VBUCKET included), with the time since the request was sent.
type UpstreamObserver interface {
	UpstreamRequest(node string, status memcached.Status, d time.Duration)
}

// ProbeResult is what a probe of one key found on its active node: only
// metadata, never the value.
type ProbeResult struct {
	VBucket uint16
	Node    string
	Exists  bool
	CAS     uint64
	Flags   uint32
	Size    int // value bytes
}

// errProbeNoMap is Probe's error before a map is loaded.
var errProbeNoMap = errors.New("proxy: no vBucket map loaded")

// Probe reads key's metadata from its active node through the proxy's own
// connections (a GET on loop 0, default collection), bounded by ctx and
// the operation timeout.
func (s *Server) Probe(ctx context.Context, key []byte) (ProbeResult, error) {
	if len(key) == 0 || len(key) > memcached.MaxKeyLen {
		return ProbeResult{}, fmt.Errorf("%w: probe key of %d bytes", ErrInvalidOptions, len(key))
	}
	type outcome struct {
		res ProbeResult
		err error
	}
	ch := make(chan outcome, 1)
	ls := s.loops[0]
	key = append([]byte(nil), key...)
	ls.lp.Post(func() {
		m := s.o.Map.Current()
		if m == nil {
			ch <- outcome{err: errProbeNoMap}
			return
		}
		vb, node := m.Route(key)
		res := ProbeResult{VBucket: vb}
		if node < 0 {
			ch <- outcome{res: res, err: fmt.Errorf("proxy: vBucket %d has no active node", vb)}
			return
		}
		res.Node = m.Nodes()[node].Addr
		c := ls.conn(0, m, node)
		if c == nil {
			ch <- outcome{res: res, err: fmt.Errorf("proxy: node %s not connected", res.Node)}
			return
		}
		r := &upstream.Request{Packet: memcached.AppendRequest(nil, memcached.OpGet, vb, 0, 0, nil, key, nil)}
		r.Done = upstream.CompleterFunc(func(r *upstream.Request) {
			switch {
			case r.Err != nil:
				ch <- outcome{res: res, err: r.Err}
				return
			case r.Resp.Status == memcached.StatusSuccess:
				res.Exists, res.CAS = true, r.Resp.CAS
				if r.Resp.ExtrasLen == 4 {
					e := r.RespBuf[memcached.HeaderLen : memcached.HeaderLen+4]
					res.Flags = uint32(e[0])<<24 | uint32(e[1])<<16 | uint32(e[2])<<8 | uint32(e[3])
				}
				res.Size = r.Resp.ValueLen()
			case r.Resp.Status != memcached.StatusKeyENOENT:
				ch <- outcome{res: res, err: fmt.Errorf("proxy: node %s answered %s", res.Node, r.Resp.Status)}
				return
			}
			ch <- outcome{res: res}
		})
		if err := c.Send(r); err != nil {
			ch <- outcome{res: res, err: fmt.Errorf("proxy: node %s: %w", res.Node, err)}
		}
	})
	select {
	case o := <-ch:
		return o.res, o.err
	case <-ctx.Done():
		return ProbeResult{}, ctx.Err()
	}
}

// maxRequestSize is the largest request body accepted now.
func (s *Server) maxRequestSize() int { return int(s.lv.maxRequestSize.Load()) }
