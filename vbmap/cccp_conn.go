package vbmap

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/vbproxy/vbproxy/internal/kvconn"
	"github.com/vbproxy/vbproxy/memcached"
)

// Notification modes of a config connection.
const (
	notifyNone  = "none"
	notifyBrief = "brief"
	notifyFull  = "full"
)

// datatypeSnappy is the datatype bit of a Snappy-compressed value; the
// config connection does not negotiate Snappy, so a node must not set it.
const datatypeSnappy = 0x02

// configConn is one KV config connection (package doc, "Config over KV").
// Everything in it is owned by the goroutine running run; its reader
// goroutine only reads whole packets off the socket and hands over copies,
// so a server-initiated packet (magic 0x82) is told from a reply by its
// magic before anything is matched.
type configConn struct {
	s        *Source
	kc       *kvconn.Conn
	addr     string // "host:port" dialled; its host replaces $HOST
	label    string // "couchbase://host:port" for logs and OnFetchError
	log      *slog.Logger
	knownVer bool   // GetClusterConfigWithKnownVersion negotiated
	notify   string // notifyNone, notifyBrief or notifyFull
	prog     *progress

	opaque    uint32
	pending   *cccpRequest // the GET_CLUSTER_CONFIG in flight, nil when none
	fetchPush bool         // a brief push wants a fetch once pending is answered
	reqTimer  *time.Timer  // fires KVTimeout after a request was sent
	out       []byte
}

// cccpRequest is a GET_CLUSTER_CONFIG in flight.
type cccpRequest struct {
	opaque  uint32
	origin  string // OriginCCCP, or OriginPush for a fetch a brief push asked for
	claimed bool   // sent with the known-version extras
}

// kvPacket is a packet read by the reader goroutine (its own copy), or the
// read error that ended it.
type kvPacket struct {
	hdr                memcached.Header
	extras, key, value []byte
	err                error
}

func newConfigConn(s *Source, kc *kvconn.Conn, addr, label string) *configConn {
	c := &configConn{
		s: s, kc: kc, addr: addr, label: label,
		log:      s.log.With("node", addr),
		knownVer: kc.Has(kvconn.FeatureGetClusterConfigKnownVer),
		notify:   notifyNone,
		prog:     newProgress(time.Now()),
		reqTimer: time.NewTimer(time.Hour),
	}
	c.reqTimer.Stop()
	switch {
	case kc.Has(kvconn.FeatureClustermapNotificationBrief):
		c.notify = notifyBrief
	case kc.Has(kvconn.FeatureClustermapNotification):
		c.notify = notifyFull
	}
	return c
}

// run fetches the config, then applies pushes and checks the revision
// until ctx is done or the connection fails or falls silent. delivered
// reports whether any config was received. The connection is closed when
// run returns.
func (c *configConn) run(ctx context.Context) (delivered bool, err error) {
	packets := make(chan kvPacket)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { c.readLoop(packets, done) })
	defer func() {
		close(done)
		_ = c.kc.Close()
		wg.Wait()
		c.reqTimer.Stop()
	}()
	if err := c.send(OriginCCCP); err != nil {
		return false, err
	}
	var check <-chan time.Time
	if d := c.s.o.ConfigCheckInterval; d > 0 {
		t := time.NewTicker(d)
		defer t.Stop()
		check = t.C
	}
	watch := time.NewTicker(c.s.silentCheckInterval())
	defer watch.Stop()
	for {
		select {
		case <-ctx.Done():
			return delivered, ctx.Err()
		case p := <-packets:
			if p.err != nil {
				return delivered, fmt.Errorf("%s: read: %w: %w", c.label, ErrUnreachable, p.err)
			}
			var d bool
			if p.hdr.Magic == memcached.MagicServerRequest {
				d, err = c.push(&p)
			} else {
				d, err = c.reply(&p)
			}
			delivered = delivered || d
			if err != nil {
				return delivered, err
			}
		case <-check:
			if c.pending == nil {
				if err := c.send(OriginCCCP); err != nil {
					return delivered, err
				}
			}
		case <-watch.C:
			if c.s.isSilent(c.prog) {
				known, _ := c.s.knownRevision()
				told, _ := c.prog.revision()
				return delivered, fmt.Errorf("%s: %w: revision %s is known, the node told of %s and nothing newer for %v",
					c.label, ErrSilent, known, told, c.s.o.SilentInterval)
			}
		case <-c.reqTimer.C:
			return delivered, fmt.Errorf("%s: %w: GET_CLUSTER_CONFIG not answered within %v", c.label, ErrUnreachable, c.s.o.KVTimeout)
		}
	}
}

// readLoop reads packets (replies and server requests) until an error,
// handing each over as a copy.
func (c *configConn) readLoop(out chan<- kvPacket, done <-chan struct{}) {
	var p memcached.Packet
	for {
		var kp kvPacket
		if err := c.kc.Reader.ReadServerPacket(&p); err != nil {
			kp.err = err
		} else {
			body := append([]byte(nil), p.Bytes()[memcached.HeaderLen:]...)
			ne, nk := len(p.Extras), len(p.Key)
			kp = kvPacket{hdr: p.Header, extras: body[:ne:ne], key: body[ne : ne+nk : ne+nk], value: body[ne+nk:]}
		}
		select {
		case out <- kp:
		case <-done:
			return
		}
		if kp.err != nil {
			return
		}
	}
}

// send writes a GET_CLUSTER_CONFIG, with the known-version extras (the
// newest revision this node told of) when the node negotiated them and
// has told of one, so that an unchanged config costs an empty reply.
func (c *configConn) send(origin string) error {
	c.opaque++
	req := &cccpRequest{opaque: c.opaque, origin: origin}
	var extras []byte
	if r, ok := c.prog.revision(); ok && c.knownVer && r.Rev >= 1 {
		var ex [16]byte
		epoch := r.Epoch
		if epoch == 0 {
			epoch = -1 // a config without revEpoch: the server's epoch is uninitialised
		}
		binary.BigEndian.PutUint64(ex[:], uint64(epoch))
		binary.BigEndian.PutUint64(ex[8:], uint64(r.Rev))
		extras = ex[:]
		req.claimed = true
	}
	c.out = memcached.AppendRequest(c.out[:0], memcached.OpGetClusterConfig, 0, req.opaque, 0, extras, nil, nil)
	_ = c.kc.SetWriteDeadline(time.Now().Add(c.s.o.KVTimeout))
	if _, err := c.kc.Write(c.out); err != nil {
		return fmt.Errorf("%s: write GET_CLUSTER_CONFIG: %w: %w", c.label, ErrUnreachable, err)
	}
	c.pending = req
	c.reqTimer.Reset(c.s.o.KVTimeout)
	return nil
}

// reply handles a response: it must answer the request in flight.
func (c *configConn) reply(p *kvPacket) (delivered bool, err error) {
	req := c.pending
	if req == nil || p.hdr.Opaque != req.opaque || p.hdr.Opcode != memcached.OpGetClusterConfig {
		want := "nothing"
		if req != nil {
			want = fmt.Sprintf("GET_CLUSTER_CONFIG with opaque %d", req.opaque)
		}
		return false, fmt.Errorf("%s: %w: %s reply with opaque %d while waiting for %s",
			c.label, ErrBadResponse, p.hdr.Opcode, p.hdr.Opaque, want)
	}
	c.pending = nil
	c.reqTimer.Stop()
	switch st := p.hdr.Status; st {
	case memcached.StatusSuccess:
		if len(p.value) == 0 {
			if !req.claimed {
				return false, fmt.Errorf("%s: %w: empty GET_CLUSTER_CONFIG reply to a request without a known version", c.label, ErrBadResponse)
			}
			// Already latest: the node has nothing newer than what it told of.
		} else {
			delivered = c.config(p.value, p.hdr.DataType, req.origin)
		}
	case memcached.StatusNotSupported, memcached.StatusUnknownCommand, memcached.StatusKeyENOENT, memcached.StatusNoBucket:
		return false, fmt.Errorf("%s: %w: GET_CLUSTER_CONFIG answered %s%s", c.label, errCCCPUnsupported, st, replyDetail(p.value))
	case memcached.StatusEAccess, memcached.StatusAuthError:
		return false, fmt.Errorf("%s: %w: GET_CLUSTER_CONFIG answered %s%s", c.label, ErrUnauthorized, st, replyDetail(p.value))
	default:
		return false, fmt.Errorf("%s: %w: GET_CLUSTER_CONFIG answered %s%s", c.label, ErrBadResponse, st, replyDetail(p.value))
	}
	if c.fetchPush {
		c.fetchPush = false
		if err := c.send(OriginPush); err != nil {
			return delivered, err
		}
	}
	return delivered, nil
}

// push handles a server request. A clustermap change notification for the
// bucket is applied at once: in full mode its value is the config; in
// brief mode (or without a value) a revision newer than the node told of
// is fetched with the known version. Other server requests and
// notifications for other buckets (or the global config) are ignored; none
// needs a reply.
func (c *configConn) push(p *kvPacket) (delivered bool, err error) {
	if p.hdr.Opcode != memcached.OpClustermapChangeNotification {
		c.log.Debug("server request ignored", "opcode", fmt.Sprintf("0x%02x", uint8(p.hdr.Opcode)))
		return false, nil
	}
	if string(p.key) != c.s.o.Bucket {
		return false, nil
	}
	if len(p.value) > 0 {
		return c.config(p.value, p.hdr.DataType, OriginPush), nil
	}
	told, has := c.prog.revision()
	var r Revision
	switch len(p.extras) {
	case 16:
		r = Revision{Epoch: max(int64(binary.BigEndian.Uint64(p.extras)), 0), Rev: int64(binary.BigEndian.Uint64(p.extras[8:]))}
	case 4:
		r = Revision{Epoch: told.Epoch, Rev: int64(binary.BigEndian.Uint32(p.extras))}
	default:
		c.log.Debug("clustermap notification without a revision ignored", "extras", len(p.extras))
		return false, nil
	}
	if has && !r.Newer(told) {
		return false, nil
	}
	c.s.noteRevision(r)
	if cur := c.s.cur.Load(); cur != nil && cur.Versioned() && !r.Newer(cur.Revision()) {
		c.prog.advance(r, time.Now()) // already applied from elsewhere
		return false, nil
	}
	if c.pending != nil {
		c.fetchPush = true
		return false, nil
	}
	return false, c.send(OriginPush)
}

// config parses and applies a config the node sent. A config that does not
// parse is logged and reported, and the connection goes on.
func (c *configConn) config(value []byte, datatype uint8, origin string) bool {
	if datatype&datatypeSnappy != 0 {
		err := fmt.Errorf("%s: %w: Snappy-compressed config, but Snappy was not negotiated", c.label, ErrBadResponse)
		c.log.Warn("rejected cluster config, keeping the current map", "err", err)
		c.s.fetchErr(c.label, err)
		return false
	}
	if len(value) > c.s.o.MaxConfigBytes {
		err := fmt.Errorf("%s: %w (%d bytes)", c.label, errTooLarge, c.s.o.MaxConfigBytes)
		c.s.fetchErr(c.label, err)
		return false
	}
	m, err := Parse(value, ParseOptions{Host: c.addr, Network: c.s.o.Network, Origin: origin, TLS: c.s.tls})
	if err != nil {
		err = fmt.Errorf("%s: %w", c.label, err)
		c.log.Warn("rejected cluster config, keeping the current map", "err", err)
		c.s.fetchErr(c.label, err)
		return false
	}
	if m.Versioned() {
		c.prog.advance(m.Revision(), time.Now())
	}
	c.s.kvActive.Store(true)
	c.s.offerLocal(m, c.label)
	return true
}

// replyDetail formats an error reply's body for a message.
func replyDetail(v []byte) string {
	const maxLen = 200
	if len(v) == 0 {
		return ""
	}
	if len(v) > maxLen {
		v = v[:maxLen]
	}
	return fmt.Sprintf(": %q", v)
}
