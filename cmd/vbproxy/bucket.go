package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"time"

	"github.com/vbproxy/vbproxy/admin"
	"github.com/vbproxy/vbproxy/proxy"
	"github.com/vbproxy/vbproxy/slowlog"
	"github.com/vbproxy/vbproxy/vbmap"
)

// bucket is one served bucket: its map source, its proxy.Server (shared by
// every listener of the bucket: one set of event loops and upstream
// connections) and its metrics.
type bucket struct {
	name    string
	src     *vbmap.Source
	srv     *proxy.Server
	metrics *admin.BucketMetrics
	slow    *slowlog.Log // log.slow_request's lines, rate-limited
	lis     []*listener  // in configuration order
}

// slowLog adapts the bucket's slow-request log to the proxy's hook.
type slowLog struct{ l *slowlog.Log }

func (s slowLog) Slow(r proxy.SlowRequest) { s.l.Slow(slowlog.Request(r)) }

// probe reads a key's metadata through the bucket's proxy (GET
// /api/key?probe=1).
func (b *bucket) probe(ctx context.Context, key []byte) (admin.ProbeResult, error) {
	r, err := b.srv.Probe(ctx, key)
	return admin.ProbeResult(r), err
}

func (a *app) newBucket(name string, sec secrets, clusterTLS *tls.Config) (*bucket, error) {
	c := a.cfg.Cluster
	b := &bucket{name: name, metrics: a.metrics.Bucket(name)}
	b.slow = slowlog.New(slowlog.Options{Logger: a.log.With("bucket", name), Keys: a.cfg.Log.SlowRequestKeys})
	so := vbmap.SourceOptions{
		Seeds:        c.Seeds,
		MapFile:      c.MapFile,
		User:         c.User,
		Password:     sec.clusterPassword,
		Network:      c.Network,
		TLS:          clusterTLSOn(&c),
		TLSConfig:    clusterTLS,
		PollInterval: time.Duration(c.PollInterval),
		ConfigSource: c.ConfigSource,
		KVCertAuth:   certAuth(&c),
		SCRAMOverTLS: c.TLS.SCRAMOverTLS,
		Logger:       a.log,
		OnFetchError: b.metrics.FetchError,

		ConfigCheckInterval: time.Duration(c.ConfigCheckInterval),
		SilentInterval:      time.Duration(c.SilentInterval),
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

// ready reports whether every listener of the bucket is serving with a map.
func (b *bucket) ready() bool {
	if !b.srv.Ready() {
		return false
	}
	for _, l := range b.lis {
		if !l.serving.Load() {
			return false
		}
	}
	return true
}

// nodes is the state of the bucket's connections to each node.
func (b *bucket) nodes() []admin.NodeStatus { return nodeStatuses(b.srv)() }

// clients is the bucket's client counters.
func (b *bucket) clients() admin.ClientStats {
	st := b.srv.Stats()
	return admin.ClientStats{
		Connections: st.ConnsCurrent, Accepted: st.ConnsTotal, Refused: st.ConnsRefused,
		AuthFailures: st.AuthFailures, Requests: st.Requests,
		ByProtocol: map[string]int64{"binary": st.ConnsBinary, "text": st.ConnsText},
	}
}

// bucketReloader serves POST /reload for one bucket: the map is refetched,
// and the certificates of the bucket's TLS listeners are re-read (the
// watcher re-reads them on a change by itself; this is the explicit way).
type bucketReloader struct {
	a *app
	b *bucket
}

func (r bucketReloader) Refresh(ctx context.Context) (old, new vbmap.Revision, err error) {
	r.a.reloadCertificates(r.b.lis, "POST /reload")
	return r.b.src.Refresh(ctx)
}
