package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vbproxy/vbproxy/admin"
	"github.com/vbproxy/vbproxy/proxy"
	"github.com/vbproxy/vbproxy/vbmap"
)

// adminShutdownTimeout bounds the admin server's own shutdown, after the
// listeners have drained.
const adminShutdownTimeout = 2 * time.Second

// app is the wired process: per bucket one vbmap.Source and one
// proxy.Server (its listeners share the server's event loops and upstream
// connections), per listener an edge when it reads PROXY headers or speaks
// TLS, the metrics and the admin server.
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

// newApp builds every component from a validated configuration; it does no
// network I/O (run listens). It reads the certificate files and starts the
// event loops; on error everything started is stopped again.
func newApp(cfg *Config, sec secrets, log *slog.Logger) (a *app, err error) {
	a = &app{cfg: cfg, sec: sec, applied: *cfg, appliedSec: sec, log: log, metrics: admin.NewMetrics(admin.MetricsOptions{Version: version})}
	defer func() {
		if err != nil {
			a.close()
			a = nil
		}
	}()
	a.drain.Store(int64(cfg.Shutdown.DrainTimeout))
	if sec.adminCert != nil {
		a.adminCert.Store(sec.adminCert)
	}
	clusterTLS, err := buildClusterTLS(&cfg.Cluster, log.With("component", "cluster-tls"))
	if err != nil {
		return a, err // validated already
	}
	byName := map[string]*bucket{}
	for i, lc := range cfg.Listeners {
		b := byName[lc.Bucket]
		if b == nil {
			if b, err = a.newBucket(lc.Bucket, sec, clusterTLS); err != nil {
				return a, err
			}
			byName[lc.Bucket] = b
			a.buckets = append(a.buckets, b)
		}
		l, err := a.newListener(i, lc, b, sec)
		if err != nil {
			return a, err
		}
		b.lis = append(b.lis, l)
		a.lis = append(a.lis, l)
	}
	for _, b := range a.buckets {
		if b.srv, err = proxy.New(a.proxyOptions(b, sec, clusterTLS)); err != nil {
			return a, fmt.Errorf("bucket %q: %w", b.name, err)
		}
		a.metrics.AddNodeSource(b.name, nodeStatuses(b.srv))
	}
	if cfg.Admin.Address != "" {
		if err := a.newAdmin(); err != nil {
			return a, err
		}
	}
	return a, nil
}

// close stops what newApp started, for a start that fails before serve.
func (a *app) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for _, b := range a.buckets {
		if b.srv != nil {
			_ = b.srv.Shutdown(ctx)
		}
	}
	a.closeEdges()
}

// closeEdges stops the listeners' certificate watchers.
func (a *app) closeEdges() {
	for _, l := range a.lis {
		if l.edge != nil {
			_ = l.edge.Close()
		}
	}
}

// newAdmin builds the admin server over the buckets and feeds its console
// the map changes.
func (a *app) newAdmin() error {
	var buckets []admin.Bucket
	for _, b := range a.buckets {
		buckets = append(buckets, admin.Bucket{
			Name: b.name, Map: b.src, Reloader: bucketReloader{a, b}, Metrics: b.metrics,
			Ready: b.ready, Nodes: b.nodes, Clients: b.clients, Probe: b.probe, Degraded: b.src.Degraded,
		})
	}
	srv, err := admin.New(admin.Options{
		Buckets: buckets, Metrics: a.metrics, Pprof: a.cfg.Admin.Pprof,
		Token: a.sec.adminToken, Version: version, ConfigReload: a.reloadConfigHTTP,
		Warnings: a.warnings,
		Logger:   a.log.With("component", "admin"),
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

// warnings are the settings that weaken security, for the start log and
// /readyz.
func (a *app) warnings() []string {
	var out []string
	if a.cfg.Cluster.TLS.InsecureSkipVerify {
		out = append(out, "cluster.tls.insecure_skip_verify is set: the nodes' certificates are not verified")
	}
	for _, l := range a.lis {
		if needsEdge(&l.cfg) && l.cfg.ProxyProtocol != "off" && l.cfg.ProxyProtocol != "" && trustsEveryone(&l.cfg) {
			out = append(out, fmt.Sprintf("listeners[%d] (%s): trusted_cidrs trusts every source: any client can claim any address in a PROXY header", l.idx, l.cfg.Address))
		}
	}
	return out
}

func (a *app) proxyOptions(b *bucket, sec secrets, clusterTLS *tls.Config) proxy.Options {
	c := a.cfg
	o := proxy.Options{
		Bucket:           b.name,
		Map:              b.src,
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
		UpstreamTLS:      clusterTLS,
		SCRAMOverTLS:     c.Cluster.TLS.SCRAMOverTLS,
		SlowLog:          slowLog{b.slow},
		SlowRequest:      time.Duration(c.Log.SlowRequest),
		SlowRequestKeys:  c.Log.SlowRequestKeys,
		Logger:           a.log.With("bucket", b.name),
		Observer:         observer{b.metrics},
	}
	for _, l := range b.lis {
		if l.pl.Collection != "" {
			o.Collections = true
		}
	}
	if certAuth(&c.Cluster) {
		// The certificate authenticates the KV connections: no SASL (the
		// user, if any, is for the cluster manager's HTTP only).
		o.User, o.Password = "", ""
	}
	if plainNodes(&c.Cluster) {
		// A static map without credentials fronts plain memcached servers,
		// which know no buckets: select none upstream.
		o.Bucket = ""
	}
	return o
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
		"network", a.cfg.Cluster.Network, "cluster_tls", clusterTLSOn(&a.cfg.Cluster), "admin", a.cfg.Admin.Address)

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
		l.serving.Store(true)
		serveWG.Go(func() {
			defer l.serving.Store(false)
			if err := l.b.srv.ServeListener(l.ln, l.pl); err != nil && !errors.Is(err, proxy.ErrServerClosed) {
				fatal <- fmt.Errorf("listeners[%d] %s: %w", l.idx, l.cfg.Address, err)
			}
		})
		l.logListening(a.log)
	}
	for _, w := range a.warnings() {
		a.log.Warn(w)
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
	for _, l := range a.lis {
		if l.edge != nil {
			// Labelled by the bound address: unique, unlike configured
			// addresses with port 0.
			a.metrics.AddListenerSource(l.cfg.Bucket, l.ln.Addr().String(), listenerStats(l.edge))
		}
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
	for _, b := range a.buckets {
		wg.Go(func() {
			if err := b.srv.Shutdown(ctx); err != nil {
				a.log.Warn("drain timeout: closed the remaining client connections", "bucket", b.name, "err", err)
			}
		})
	}
	wg.Wait()
	a.closeEdges() // Shutdown waited for the admissions in progress
	for _, b := range a.buckets {
		b.slow.Close()
	}
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
