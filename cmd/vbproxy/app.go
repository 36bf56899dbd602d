package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vbproxy/vbproxy/admin"
	"github.com/vbproxy/vbproxy/proxy"
	"github.com/vbproxy/vbproxy/proxy/edge"
	"github.com/vbproxy/vbproxy/vbmap"
)

// adminShutdownTimeout bounds the admin server's own shutdown, after the
// listeners have drained.
const adminShutdownTimeout = 2 * time.Second

// app is the wired process: one vbmap.Source per bucket, one proxy.Server
// per listener, the metrics and the admin server.
type app struct {
	cfg     *Config // the configuration started with; never changed
	sec     secrets // the secrets started with
	log     *slog.Logger
	metrics *admin.Metrics
	buckets []*bucket   // distinct buckets in listener order
	lis     []*listener // in configuration order
	admin   *admin.Server
	adminLn net.Listener

	// Set by run (tests may set them): the log level a reload changes, the
	// config file and how to re-read it, SIGHUP.
	level      *slog.LevelVar
	configFile string
	load       func() (*Config, secrets, []FieldError)
	hup        <-chan os.Signal

	reloadMu   sync.Mutex
	applied    Config                          // cfg with every reloaded live setting applied (under reloadMu)
	appliedSec secrets                         // the secrets in force (under reloadMu)
	adminCert  atomic.Pointer[tls.Certificate] // served by the admin TLS listener
	drain      atomic.Int64                    // shutdown.drain_timeout, live
}

type bucket struct {
	name    string
	src     *vbmap.Source
	metrics *admin.BucketMetrics
	lis     []*listener
}

type listener struct {
	idx int
	cfg ListenerConfig
	b   *bucket
	srv *proxy.Server
	ln  net.Listener
}

// newApp builds every component from a validated configuration; it does no
// I/O (run listens).
func newApp(cfg *Config, sec secrets, log *slog.Logger) (*app, error) {
	a := &app{cfg: cfg, sec: sec, applied: *cfg, appliedSec: sec, log: log, metrics: admin.NewMetrics(admin.MetricsOptions{Version: version})}
	a.drain.Store(int64(cfg.Shutdown.DrainTimeout))
	if sec.adminCert != nil {
		a.adminCert.Store(sec.adminCert)
	}
	byName := map[string]*bucket{}
	for i, lc := range cfg.Listeners {
		b := byName[lc.Bucket]
		if b == nil {
			var err error
			if b, err = a.newBucket(lc.Bucket, sec); err != nil {
				return nil, err
			}
			byName[lc.Bucket] = b
			a.buckets = append(a.buckets, b)
		}
		l := &listener{idx: i, cfg: lc, b: b}
		o := a.proxyOptions(l, sec)
		if l.cfg.ProxyProtocol {
			// PROXY v1 or v2 from any source, as before trusted_cidrs.
			e, err := edge.New(edge.Options{ProxyProtocol: edge.ProxyOptional, TrustedCIDRs: trustAll, Logger: o.Logger})
			if err != nil {
				return nil, fmt.Errorf("listeners[%d]: %w", i, err)
			}
			o.Edge = e
		}
		srv, err := proxy.New(o)
		if err != nil {
			return nil, fmt.Errorf("listeners[%d]: %w", i, err)
		}
		l.srv = srv
		b.lis = append(b.lis, l)
		a.lis = append(a.lis, l)
		a.metrics.AddNodeSource(lc.Bucket, nodeStatuses(srv))
	}
	if cfg.Admin.Address != "" {
		if err := a.newAdmin(); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// newAdmin builds the admin server over the buckets and feeds its console
// the map changes.
func (a *app) newAdmin() error {
	var buckets []admin.Bucket
	for _, b := range a.buckets {
		buckets = append(buckets, admin.Bucket{
			Name: b.name, Map: b.src, Reloader: b.src, Metrics: b.metrics,
			Ready: b.ready, Nodes: b.nodes, Clients: b.clients,
		})
	}
	srv, err := admin.New(admin.Options{
		Buckets: buckets, Metrics: a.metrics, Pprof: a.cfg.Admin.Pprof,
		Token: a.sec.adminToken, Version: version, ConfigReload: a.reloadConfigHTTP,
		Logger: a.log.With("component", "admin"),
	})
	if err != nil {
		return err
	}
	a.admin = srv
	for _, b := range a.buckets {
		b.src.Subscribe(func(old, m *vbmap.Map) { srv.MapChanged(b.name, old, m) })
	}
	return nil
}

func (a *app) newBucket(name string, sec secrets) (*bucket, error) {
	c := a.cfg.Cluster
	b := &bucket{name: name, metrics: a.metrics.Bucket(name)}
	so := vbmap.SourceOptions{
		Seeds:        c.Seeds,
		MapFile:      c.MapFile,
		User:         c.User,
		Password:     sec.clusterPassword,
		Network:      c.Network,
		PollInterval: time.Duration(c.PollInterval),
		Logger:       a.log,
		OnFetchError: b.metrics.FetchError,
	}
	if c.MapFile == "" {
		so.Bucket = name
	} else {
		// The file's own name (if any) is its bucket; label the log lines.
		so.Logger = a.log.With("bucket", name)
	}
	src, err := vbmap.NewSource(so)
	if err != nil {
		return nil, fmt.Errorf("bucket %q: %w", name, err)
	}
	src.Subscribe(func(_, m *vbmap.Map) { b.metrics.MapApplied(m) })
	b.src = src
	return b, nil
}

func (a *app) proxyOptions(l *listener, sec secrets) proxy.Options {
	c := a.cfg
	o := proxy.Options{
		Bucket:           l.cfg.Bucket,
		Map:              l.b.src,
		User:             c.Cluster.User,
		Password:         sec.clusterPassword,
		Loops:            c.Upstream.Loops,
		PoolSize:         c.Upstream.PoolSize,
		QueueSize:        c.Upstream.QueueSize,
		ConnectTimeout:   time.Duration(c.Upstream.ConnectTimeout),
		OperationTimeout: time.Duration(c.Upstream.OperationTimeout),
		IdleTimeout:      time.Duration(c.Limits.IdleTimeout),
		ReplyHold:        replyHold(c.Limits.ReplyHold),
		MaxConns:         c.Limits.MaxConnections,
		MaxRequestSize:   c.Limits.MaxRequestSize,
		AllowFlush:       l.cfg.AllowFlush,
		Logger:           a.log.With("listener", l.cfg.Address),
		Observer:         observer{l.b.metrics},
	}
	if len(sec.users) > l.idx && len(sec.users[l.idx]) > 0 {
		o.Users = sec.users[l.idx]
	}
	if c.Cluster.MapFile != "" && c.Cluster.User == "" {
		// A static map without credentials fronts plain memcached servers,
		// which know no buckets: select none upstream.
		o.Bucket = ""
	}
	return o
}

// trustAll trusts a PROXY header from any source.
var trustAll = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}

// ready reports whether every listener of the bucket is serving with a map.
func (b *bucket) ready() bool {
	for _, l := range b.lis {
		if !l.srv.Ready() {
			return false
		}
	}
	return true
}

// nodes merges the upstream pool states of the bucket's listeners.
func (b *bucket) nodes() []admin.NodeStatus {
	var out []admin.NodeStatus
	idx := map[string]int{}
	for _, l := range b.lis {
		for _, n := range nodeStatuses(l.srv)() {
			if i, ok := idx[n.Addr]; ok {
				out[i].Conns += n.Conns
				if out[i].State != n.State {
					out[i].State = "mixed"
				}
				if out[i].Reason == "" {
					out[i].Reason = n.Reason
				}
				continue
			}
			idx[n.Addr] = len(out)
			out = append(out, n)
		}
	}
	return out
}

// clients adds up the client counters of the bucket's listeners.
func (b *bucket) clients() admin.ClientStats {
	c := admin.ClientStats{ByProtocol: map[string]int64{"binary": 0, "text": 0}}
	for _, l := range b.lis {
		st := l.srv.Stats()
		c.Connections += st.ConnsCurrent
		c.Accepted += st.ConnsTotal
		c.Refused += st.ConnsRefused
		c.AuthFailures += st.AuthFailures
		c.Requests += st.Requests
		c.ByProtocol["binary"] += st.ConnsBinary
		c.ByProtocol["text"] += st.ConnsText
	}
	return c
}

// run listens, serves until ctx ends (a signal) or a component fails, then
// shuts down gracefully. stopSignals restores the default signal handling
// so that a second signal kills the process during the drain.
func (a *app) run(ctx context.Context, stopSignals func()) error {
	if err := a.listen(); err != nil {
		return err
	}
	return a.serve(ctx, stopSignals)
}

// serve runs the listeners opened by listen; see run.
func (a *app) serve(ctx context.Context, stopSignals func()) error {
	a.log.Info("vbproxy starting", "version", version, "listeners", len(a.lis), "cluster", a.clusterDesc(),
		"network", a.cfg.Cluster.Network, "admin", a.cfg.Admin.Address)

	srcCtx, srcCancel := context.WithCancel(context.Background())
	defer srcCancel()
	fatal := make(chan error, len(a.buckets)+len(a.lis)+1)
	var srcWG, serveWG, adminWG sync.WaitGroup
	for _, b := range a.buckets {
		srcWG.Go(func() {
			if err := b.src.Run(srcCtx); err != nil {
				fatal <- fmt.Errorf("bucket %q: %w", b.name, err)
			}
		})
		go a.logWhenLoaded(srcCtx, b)
	}
	for _, l := range a.lis {
		serveWG.Go(func() {
			if err := l.srv.Serve(l.ln); err != nil && !errors.Is(err, proxy.ErrServerClosed) {
				fatal <- fmt.Errorf("listeners[%d] %s: %w", l.idx, l.cfg.Address, err)
			}
		})
		a.log.Info("listening", "address", l.ln.Addr().String(), "bucket", l.cfg.Bucket,
			"proxy_protocol", l.cfg.ProxyProtocol, "allow_flush", l.cfg.AllowFlush, "client_auth", len(l.cfg.Users) > 0)
	}
	if a.admin != nil {
		adminWG.Go(func() {
			if err := a.admin.Serve(a.adminLn); err != nil {
				fatal <- fmt.Errorf("admin %s: %w", a.cfg.Admin.Address, err)
			}
		})
		a.logAdmin()
	}

	var runErr error
wait:
	for {
		select {
		case <-ctx.Done():
			a.log.Info("shutting down", "reason", context.Cause(ctx), "drain_timeout", time.Duration(a.drain.Load()))
			break wait
		case runErr = <-fatal:
			a.log.Error("shutting down after a failure", "err", runErr, "drain_timeout", time.Duration(a.drain.Load()))
			break wait
		case <-a.hup:
			_, _ = a.reloadConfig("SIGHUP")
		}
	}
	stopSignals()
	a.shutdown()
	serveWG.Wait()
	srcCancel()
	srcWG.Wait()
	adminWG.Wait()
	a.log.Info("vbproxy stopped")
	return runErr
}

// listen opens every listener and the admin address, or none.
func (a *app) listen() error {
	var opened []net.Listener
	fail := func(err error) error {
		for _, ln := range opened {
			_ = ln.Close()
		}
		return err
	}
	for _, l := range a.lis {
		ln, err := net.Listen("tcp", l.cfg.Address)
		if err != nil {
			return fail(fmt.Errorf("listeners[%d].address: %w", l.idx, err))
		}
		l.ln = ln
		opened = append(opened, ln)
	}
	if a.admin != nil {
		ln, err := net.Listen("tcp", a.cfg.Admin.Address)
		if err != nil {
			return fail(fmt.Errorf("admin.address: %w", err))
		}
		if a.adminCert.Load() != nil {
			ln = tls.NewListener(ln, &tls.Config{
				MinVersion:     tls.VersionTLS12,
				GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return a.adminCert.Load(), nil },
			})
		}
		a.adminLn = ln
	}
	return nil
}

// logAdmin logs the admin server's address and protection, with a warning
// when the token would cross a network in clear.
func (a *app) logAdmin() {
	addr := a.adminLn.Addr().String()
	tlsOn, token := a.adminCert.Load() != nil, a.admin.TokenRequired()
	a.log.Info("admin listening", "address", addr, "pprof", a.cfg.Admin.Pprof, "tls", tlsOn, "token", token)
	if host, _, err := net.SplitHostPort(addr); err == nil && token && !tlsOn {
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			a.log.Warn("the admin token travels in clear: set admin.tls, or keep admin.address on loopback", "address", addr)
		}
	}
}

// shutdown turns readiness off, drains the listeners within the drain
// timeout and stops the admin server.
func (a *app) shutdown() {
	if a.admin != nil {
		a.admin.SetDraining()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(a.drain.Load()))
	defer cancel()
	var wg sync.WaitGroup
	for _, l := range a.lis {
		wg.Go(func() {
			if err := l.srv.Shutdown(ctx); err != nil {
				a.log.Warn("drain timeout: closed the remaining client connections",
					"listener", l.cfg.Address, "bucket", l.cfg.Bucket, "err", err)
			}
		})
	}
	wg.Wait()
	if a.admin != nil {
		actx, acancel := context.WithTimeout(context.Background(), adminShutdownTimeout)
		defer acancel()
		if err := a.admin.Shutdown(actx); err != nil {
			a.log.Warn("admin shutdown", "err", err)
		}
	}
}

// logWhenLoaded logs once, when the bucket's first map is in place.
func (a *app) logWhenLoaded(ctx context.Context, b *bucket) {
	select {
	case <-b.src.Ready():
		m := b.src.Current()
		a.log.Info("bucket ready", "bucket", b.name, "rev", m.Revision().String(), "origin", m.Origin(),
			"nodes", len(m.Nodes()), "vbuckets", m.NumVBuckets())
	case <-ctx.Done():
	}
}

func (a *app) clusterDesc() string {
	if a.cfg.Cluster.MapFile != "" {
		return "map_file " + a.cfg.Cluster.MapFile
	}
	return strings.Join(a.cfg.Cluster.Seeds, ",")
}

// replyHold maps limits.reply_hold (0 = never wait) to proxy.Options.ReplyHold
// (negative = never wait, 0 = the default).
func replyHold(d Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return time.Duration(d)
}
