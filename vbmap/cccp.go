package vbmap

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vbproxy/vbproxy/internal/kvconn"
	"github.com/vbproxy/vbproxy/memcached"
)

// errCCCPUnsupported: a node cannot serve the bucket config over KV (it
// answered GET_CLUSTER_CONFIG with NOT_SUPPORTED, UNKNOWN_COMMAND,
// KEY_ENOENT or NO_BUCKET, or it is a plain memcached server): the SDKs'
// "fallback" errors, after which they stay on HTTP.
var errCCCPUnsupported = errors.New("vbmap: node does not serve the config over KV (CCCP)")

// configAgent is the HELLO agent name of the config connection.
const configAgent = "vbproxy-config"

// configFeatures are the HELLO features of the config connection: XERROR,
// SELECT_BUCKET, Duplex, GET_CLUSTER_CONFIG with the known version, and
// clustermap notifications (brief and full: a node that offers brief
// enables only brief, an older one full).
func (s *Source) configFeatures() []uint16 {
	f := []uint16{kvconn.FeatureXError, kvconn.FeatureSelectBucket, kvconn.FeatureDuplex,
		kvconn.FeatureGetClusterConfigKnownVer}
	if !s.o.notifyFull {
		f = append(f, kvconn.FeatureClustermapNotificationBrief)
	}
	return append(f, kvconn.FeatureClustermapNotification)
}

// runKV follows the config over one KV config connection at a time,
// moving to the next seed or node of the rotation (after a jittered
// exponential backoff) when a connection fails, times out or falls
// silent. Before the first map is applied, it gives up when every
// candidate in a row refused the credentials or the bucket, and in auto
// mode it returns errCCCPUnsupported when every candidate in a row cannot
// serve the config over KV (the HTTP stream then carries on alone).
func (s *Source) runKV(ctx context.Context) error {
	var (
		failures    int
		permanent   []error
		unsupported []error
		quiet       bool // a failure was logged at warn level: repeat it at debug
	)
	for ctx.Err() == nil {
		addr, n := s.nextKVCandidate()
		if addr == "" {
			select {
			case <-s.changes():
				continue
			case <-ctx.Done():
				return nil
			}
		}
		start := time.Now()
		delivered, err := s.followKV(ctx, addr)
		if ctx.Err() != nil {
			break
		}
		if delivered && time.Since(start) >= s.o.MaxBackoff {
			failures = 0
		}
		switch {
		case errors.Is(err, errCCCPUnsupported):
			unsupported = append(unsupported, err)
			if len(unsupported) >= n && (s.mode == ConfigSourceAuto || s.cur.Load() == nil) {
				return fmt.Errorf("vbmap: no node serves bucket %q over KV: %w", s.o.Bucket, errors.Join(unsupported...))
			}
		default:
			unsupported = unsupported[:0]
		}
		if s.cur.Load() == nil && (errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrNoBucket)) {
			permanent = append(permanent, err)
			if len(permanent) >= n {
				return fmt.Errorf("vbmap: giving up on bucket %q, every KV seed refused it: %w", s.o.Bucket, errors.Join(permanent...))
			}
		} else {
			permanent = permanent[:0]
		}
		if delivered {
			quiet = false
		}
		// Beside a delivering HTTP stream, a failing config connection logs
		// once per run of failures, not once per retry.
		if quiet && s.mode == ConfigSourceAuto && s.httpActive.Load() {
			s.log.Debug("config connection failed, trying the next node", "node", addr, "err", err)
		} else {
			s.log.Warn("config connection failed, trying the next node", "node", addr, "err", err)
			quiet = true
		}
		if !sleep(ctx, backoff(s.o.MinBackoff, s.o.MaxBackoff, failures)) {
			break
		}
		failures++
	}
	return nil
}

// kvOptions are the kvconn options of the Source's KV connections (the
// default features; the config connection adds its own).
func (s *Source) kvOptions() kvconn.Options {
	o := kvconn.Options{
		Bucket: s.o.Bucket, User: s.o.User, Password: s.o.Password,
		TLS: s.kvTLS, SCRAMOverTLS: s.o.SCRAMOverTLS, Agent: configAgent,
		ConnectTimeout: s.o.KVTimeout, SCRAM: &s.scram,
		MaxBody: s.o.MaxConfigBytes + 4096,
	}
	if s.o.KVCertAuth {
		o.User, o.Password = "", ""
	}
	return o
}

// followKV opens a config connection to addr and follows it until it
// ends. delivered reports whether any config was received.
func (s *Source) followKV(ctx context.Context, addr string) (delivered bool, err error) {
	label := s.kvLabel(addr)
	o := s.kvOptions()
	o.Features = s.configFeatures()
	kc, err := kvconn.Dial(ctx, addr, o)
	if err != nil {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		err = s.kvDialError(label, err)
		s.fetchErr(label, err)
		return false, err
	}
	if kc.Plain {
		_ = kc.Close()
		err := fmt.Errorf("%s: %w: a plain memcached server", label, errCCCPUnsupported)
		s.fetchErr(label, err)
		return false, err
	}
	c := newConfigConn(s, kc, addr, label)
	c.log.Debug("config connection up", "notifications", c.notify, "known_version", c.knownVer, "mech", kc.Mech)
	delivered, err = c.run(ctx)
	s.kvActive.Store(false)
	if err != nil && ctx.Err() == nil {
		s.fetchErr(label, err)
	}
	return delivered, err
}

// kvDialError classifies a failed config connection: ErrNoBucket,
// ErrUnauthorized, ErrCertificate or ErrUnreachable, with the kvconn error
// (and its detail) in the chain.
func (s *Source) kvDialError(label string, err error) error {
	switch {
	case errors.Is(err, kvconn.ErrNoBucket):
		return fmt.Errorf("%s: %w %q: %w", label, ErrNoBucket, s.o.Bucket, err)
	case errors.Is(err, kvconn.ErrAuth):
		return fmt.Errorf("%s: %w: %w", label, ErrUnauthorized, err)
	case errors.Is(err, kvconn.ErrTLS) && certificateRejected(err):
		return fmt.Errorf("%s: %w: %w", label, ErrCertificate, err)
	default:
		return fmt.Errorf("%s: %w: %w", label, ErrUnreachable, err)
	}
}

// kvLabel names a KV config connection in logs and OnFetchError.
func (s *Source) kvLabel(addr string) string {
	if s.kvTLS != nil {
		return "couchbases://" + addr
	}
	return "couchbase://" + addr
}

// kvCandidates returns the KV addresses to try, starting at the KV
// rotation's position: the KV seeds, then the nodes of the current map
// (deduplicated).
func (s *Source) kvCandidates() []string {
	list := append([]string(nil), s.kvSeeds...)
	if m := s.cur.Load(); m != nil {
		for _, n := range m.Nodes() {
			list = appendUnique(list, n.Addr)
		}
	}
	if len(list) == 0 {
		return nil
	}
	s.rotMu.Lock()
	start := s.kvRotIdx % len(list)
	s.rotMu.Unlock()
	return append(list[start:], list[:start]...)
}

// nextKVCandidate returns the next KV address of the rotation ("" when
// none is known yet) and how many candidates there are, and advances it.
func (s *Source) nextKVCandidate() (string, int) {
	list := s.kvCandidates()
	if len(list) == 0 {
		return "", 0
	}
	s.rotMu.Lock()
	s.kvRotIdx++
	s.rotMu.Unlock()
	return list[0], len(list)
}

// fetchKV fetches the config once over a connection of its own (Refresh).
func (s *Source) fetchKV(ctx context.Context, addr, origin string) (*Map, error) {
	label := s.kvLabel(addr)
	kc, err := kvconn.Dial(ctx, addr, s.kvOptions())
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, s.kvDialError(label, err)
	}
	defer kc.Close()
	if kc.Plain {
		return nil, fmt.Errorf("%s: %w: a plain memcached server", label, errCCCPUnsupported)
	}
	stop := context.AfterFunc(ctx, func() { _ = kc.Close() })
	defer stop()
	_ = kc.SetDeadline(time.Now().Add(s.o.KVTimeout))
	if _, err := kc.Write(memcached.AppendRequest(nil, memcached.OpGetClusterConfig, 0, 1, 0, nil, nil, nil)); err != nil {
		return nil, fmt.Errorf("%s: write GET_CLUSTER_CONFIG: %w: %w", label, ErrUnreachable, err)
	}
	var p memcached.Packet
	if err := kc.Reader.ReadResponse(&p); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%s: read GET_CLUSTER_CONFIG reply: %w: %w", label, ErrUnreachable, err)
	}
	switch {
	case p.Opcode != memcached.OpGetClusterConfig || p.Opaque != 1:
		return nil, fmt.Errorf("%s: %w: %s reply with opaque %d to GET_CLUSTER_CONFIG", label, ErrBadResponse, p.Opcode, p.Opaque)
	case p.Status != memcached.StatusSuccess:
		return nil, fmt.Errorf("%s: %w: GET_CLUSTER_CONFIG answered %s%s", label, ErrBadResponse, p.Status, replyDetail(p.Value))
	case p.DataType&datatypeSnappy != 0:
		return nil, fmt.Errorf("%s: %w: Snappy-compressed config, but Snappy was not negotiated", label, ErrBadResponse)
	case len(p.Value) > s.o.MaxConfigBytes:
		return nil, fmt.Errorf("%s: %w (%d bytes)", label, errTooLarge, s.o.MaxConfigBytes)
	}
	m, err := Parse(p.Value, ParseOptions{Host: addr, Network: s.o.Network, Origin: origin, TLS: s.tls})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", label, err)
	}
	return m, nil
}
