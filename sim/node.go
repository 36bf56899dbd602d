package sim

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Node is one simulated Couchbase node: a cluster manager (HTTP) and a KV
// service (memcached binary protocol).
type Node struct {
	c        *Cluster
	host     string
	mgmtPort int
	kvPort   int
	otp      string
	log      *slog.Logger
	started  time.Time

	kvLn   net.Listener
	mgmtLn net.Listener
	http   *http.Server

	// TLS (tls.go), all zero without Options.TLSDir: the KV TLS and https
	// cluster manager listeners, their ports and server configs.
	kvTLSLn, mgmtTLSLn     net.Listener
	kvTLSPort, mgmtTLSPort int
	kvTLS, mgmtTLS         *tls.Config
	https                  *http.Server

	// data[b][vb] is this node's copy of vBucket vb of bucket b, nil when
	// the node holds none. Guarded by the cluster's buckets[b].vbs[vb].mu.
	data [][]*vbStore

	stats kvStats

	done chan struct{} // closed by stop
	wg   sync.WaitGroup

	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	pauseCh chan struct{} // non-nil while paused; closed by resume
	stopped bool
}

func newNode(c *Cluster, index int, host string, mgmtPort, kvPort int) (*Node, error) {
	listen := func(addr string) (net.Listener, error) {
		if c.opts.Listen != nil {
			return c.opts.Listen(index, "tcp", addr)
		}
		return net.Listen("tcp", addr)
	}
	mgmtLn, err := listen(net.JoinHostPort(host, strconv.Itoa(mgmtPort)))
	if err != nil {
		return nil, fmt.Errorf("sim: node %s: cluster manager: %w", host, err)
	}
	kvLn, err := listen(net.JoinHostPort(host, strconv.Itoa(kvPort)))
	if err != nil {
		_ = mgmtLn.Close()
		return nil, fmt.Errorf("sim: node %s: kv: %w", host, err)
	}
	n := &Node{
		c:        c,
		host:     host,
		mgmtPort: mgmtLn.Addr().(*net.TCPAddr).Port,
		kvPort:   kvLn.Addr().(*net.TCPAddr).Port,
		started:  time.Now(),
		kvLn:     kvLn,
		mgmtLn:   mgmtLn,
		done:     make(chan struct{}),
		conns:    make(map[net.Conn]struct{}),
		data:     make([][]*vbStore, len(c.buckets)),
	}
	if err := n.listenTLS(index, mgmtPort, listen); err != nil {
		_ = mgmtLn.Close()
		_ = kvLn.Close()
		return nil, err
	}
	n.mgmtLn = c.gateMgmt(n.mgmtLn)
	if n.mgmtTLSLn != nil {
		n.mgmtTLSLn = c.gateMgmt(n.mgmtTLSLn)
	}
	n.otp = c.otpName(host, n.mgmtPort)
	n.log = c.log.With("node", n.otp)
	for b := range n.data {
		n.data[b] = make([]*vbStore, c.opts.VBuckets)
	}
	handler := n.mgmtHandler()
	n.http = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(n.log.Handler(), slog.LevelDebug),
	}
	if n.mgmtTLSLn != nil {
		n.https = &http.Server{
			Handler:           handler,
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(n.log.Handler(), slog.LevelDebug),
		}
	}
	return n, nil
}

// serve starts the accept loops.
func (n *Node) serve() {
	n.wg.Add(2)
	go func() {
		defer n.wg.Done()
		if err := n.http.Serve(n.mgmtLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Warn("cluster manager stopped", "err", err)
		}
	}()
	go func() {
		defer n.wg.Done()
		n.acceptKV()
	}()
	if n.https == nil {
		return
	}
	n.wg.Add(2)
	go func() {
		defer n.wg.Done()
		if err := n.https.Serve(tls.NewListener(n.mgmtTLSLn, n.mgmtTLS)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Warn("https cluster manager stopped", "err", err)
		}
	}()
	go func() {
		defer n.wg.Done()
		n.acceptKVTLS()
	}()
}

// httpDrain bounds how long a stopped node's cluster manager finishes the
// requests in progress before closing their connections.
const httpDrain = 2 * time.Second

// drainHTTP shuts the cluster manager (http and https) down gracefully,
// within httpDrain.
func (n *Node) drainHTTP() {
	ctx, cancel := context.WithTimeout(context.Background(), httpDrain)
	defer cancel()
	var wg sync.WaitGroup
	for _, srv := range []*http.Server{n.http, n.https} {
		if srv == nil {
			continue
		}
		wg.Go(func() {
			if err := srv.Shutdown(ctx); err != nil {
				_ = srv.Close()
			}
		})
	}
	wg.Wait()
}

// OTPName returns the node's Couchbase name ("ns_1@127.0.0.11", or
// "ns_1@127.0.0.1:PORT" when nodes share a host).
func (n *Node) OTPName() string { return n.otp }

// Host returns the node's address.
func (n *Node) Host() string { return n.host }

// KVAddr returns the KV service's "host:port".
func (n *Node) KVAddr() string { return net.JoinHostPort(n.host, strconv.Itoa(n.kvPort)) }

// MgmtURL returns the cluster manager's "http://host:port".
func (n *Node) MgmtURL() string {
	return "http://" + net.JoinHostPort(n.host, strconv.Itoa(n.mgmtPort))
}

// Paused reports whether the node is paused.
func (n *Node) Paused() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.pauseCh != nil
}

func (n *Node) String() string { return n.otp }

// pause makes the node stop answering (connections are still accepted).
func (n *Node) pause() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.pauseCh == nil && !n.stopped {
		n.pauseCh = make(chan struct{})
	}
}

// resume undoes pause.
func (n *Node) resume() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.pauseCh != nil {
		close(n.pauseCh)
		n.pauseCh = nil
	}
}

// waitRunning blocks while the node is paused. It returns false when the
// node stops or cancel is closed first.
func (n *Node) waitRunning(cancel <-chan struct{}) bool {
	n.mu.Lock()
	ch := n.pauseCh
	n.mu.Unlock()
	if ch == nil {
		return true
	}
	select {
	case <-ch:
		return true
	case <-n.done:
		return false
	case <-cancel:
		return false
	}
}

// track registers a KV connection; false when the node is stopping.
func (n *Node) track(conn net.Conn) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.stopped {
		return false
	}
	n.conns[conn] = struct{}{}
	return true
}

func (n *Node) untrack(conn net.Conn) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.conns, conn)
}

// stop closes the listeners and every connection and waits for the
// goroutines. It is idempotent.
func (n *Node) stop() error {
	n.mu.Lock()
	if n.stopped {
		n.mu.Unlock()
		return nil
	}
	n.stopped = true
	close(n.done)
	if n.pauseCh != nil {
		close(n.pauseCh)
		n.pauseCh = nil
	}
	for conn := range n.conns {
		_ = conn.Close()
	}
	n.mu.Unlock()
	err := n.kvLn.Close()
	if n.kvTLSLn != nil {
		if e := n.kvTLSLn.Close(); err == nil {
			err = e
		}
	}
	// The cluster manager stops accepting at once, but the requests in
	// progress still get their answers: the REST call that ejected or failed
	// over this very node is one of them (streams end with n.done).
	go n.drainHTTP()
	n.wg.Wait()
	n.c.forget(n)
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("sim: stop node %s: %w", n.otp, err)
	}
	return nil
}
