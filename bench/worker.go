package bench

import (
	"context"
	"crypto/tls"
	"errors"
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

// Error kinds for transport failures (binary replies use the status name).
const (
	KindIO       = "io"
	KindTimeout  = "timeout"
	KindProtocol = "protocol"
	KindConnect  = "connect"
)

// maxReconnects is how many consecutive failed reconnects a worker tolerates
// before it gives up for the rest of the run.
const maxReconnects = 10

// reconnectDelay is the pause before each reconnect.
const reconnectDelay = 100 * time.Millisecond

type pending struct {
	isGet  bool
	opaque uint32
	sent   time.Time
}

// worker drives one connection.
type worker struct {
	id      int
	cfg     *Config
	keys    *keySet
	chooser keyChooser
	value   []byte
	rng     *rand.Rand
	dialer  net.Dialer
	tls     *tls.Config // nil: plain TCP

	connMu sync.Mutex // guards writes of conn, and reads by other goroutines
	conn   net.Conn
	codec  codec
	wbuf   []byte
	ring   []pending // pipeline window, FIFO
	head   int
	n      int
	seq    uint32
	fails  int
	gaveUp error
}

func newWorker(id int, cfg *Config, tlsCfg *tls.Config, keys *keySet, chooser keyChooser, value []byte) *worker {
	return &worker{
		id: id, cfg: cfg, tls: tlsCfg, keys: keys, chooser: chooser, value: value,
		rng:    rand.New(rand.NewPCG(cfg.Seed, uint64(id))),
		dialer: net.Dialer{Timeout: cfg.Timeout},
		ring:   make([]pending, cfg.Pipeline),
	}
}

func (w *worker) dial(ctx context.Context) error {
	c, err := w.dialer.DialContext(ctx, "tcp", w.cfg.Addr)
	if err != nil {
		return err
	}
	if w.tls != nil {
		if c, err = handshake(ctx, c, w.tls, w.cfg.Timeout); err != nil {
			return err
		}
	}
	w.connMu.Lock()
	w.conn = c
	w.connMu.Unlock()
	w.codec = newCodec(w.cfg.Protocol, c, len(w.value))
	return nil
}

func (w *worker) close() {
	w.connMu.Lock()
	if w.conn != nil {
		_ = w.conn.Close()
		w.conn = nil
	}
	w.connMu.Unlock()
	w.head, w.n = 0, 0
}

// interrupt unblocks the worker's pending I/O; called from another goroutine
// when the run is cancelled.
func (w *worker) interrupt() {
	w.connMu.Lock()
	defer w.connMu.Unlock()
	if w.conn != nil {
		_ = w.conn.SetDeadline(time.Now())
	}
}

// plan is one phase of a worker's run.
type plan struct {
	budget   int64     // requests to issue; < 0 means unlimited
	until    time.Time // stop issuing at this time; zero means no limit
	record   bool      // count replies into st
	recFrom  time.Time // record replies received at or after this time
	recUntil time.Time // and before this one (zero: no end)
	st       *stats
	next     func(w *worker) (isGet bool, key int)
}

// nextWorkload picks the operation and key of the measured workload.
func nextWorkload(w *worker) (bool, int) {
	isGet := w.cfg.Ratio >= 1 || (w.cfg.Ratio > 0 && w.rng.Float64() < w.cfg.Ratio)
	return isGet, w.chooser.next(w.rng)
}

func (p *plan) recording(now time.Time) bool {
	return p.record && !now.Before(p.recFrom) && (p.recUntil.IsZero() || now.Before(p.recUntil))
}

// loop runs plan p: it issues requests in windows of cfg.Pipeline, writing
// each batch at once, and reads the replies in order. It returns when it may
// issue no more and every request in flight is answered or failed.
func (w *worker) loop(ctx context.Context, p plan) {
	var issued int64
	for {
		now := time.Now()
		stop := ctx.Err() != nil || w.gaveUp != nil ||
			(p.budget >= 0 && issued >= p.budget) ||
			(!p.until.IsZero() && !now.Before(p.until))
		if stop && w.n == 0 {
			return
		}
		if w.conn == nil {
			if err := w.dial(ctx); err != nil {
				w.fails++
				if p.recording(now) {
					p.st.addError(KindConnect, 1)
				}
				if w.fails >= maxReconnects {
					w.gaveUp = err
					return
				}
				sleep(ctx, reconnectDelay)
				continue
			}
			w.fails = 0
		}
		if !stop {
			w.wbuf = w.wbuf[:0]
			sent := time.Now()
			for w.n < len(w.ring) && (p.budget < 0 || issued < p.budget) {
				isGet, k := p.next(w)
				w.seq++
				key := w.keys.keys[k]
				if isGet {
					w.wbuf = w.codec.appendGet(w.wbuf, key, w.seq)
				} else {
					w.wbuf = w.codec.appendSet(w.wbuf, key, w.value, w.seq)
				}
				w.ring[(w.head+w.n)%len(w.ring)] = pending{isGet: isGet, opaque: w.seq, sent: sent}
				w.n++
				issued++
			}
			if len(w.wbuf) > 0 {
				_ = w.conn.SetWriteDeadline(sent.Add(w.cfg.Timeout))
				if _, err := w.conn.Write(w.wbuf); err != nil {
					w.fail(&p, err)
					continue
				}
			}
		}
		if w.n == 0 {
			continue
		}
		_ = w.conn.SetReadDeadline(time.Now().Add(w.cfg.Timeout))
		for {
			req := w.ring[w.head]
			out, label, err := w.codec.read(req.isGet, req.opaque)
			if err != nil {
				w.fail(&p, err)
				break
			}
			w.head = (w.head + 1) % len(w.ring)
			w.n--
			now := time.Now()
			if p.recording(now) {
				p.st.record(req.isGet, out, label, now.Sub(req.sent), now)
			}
			if w.n == 0 || w.codec.buffered() == 0 {
				break
			}
		}
	}
}

// fail counts every request in flight as failed with err's kind and drops
// the connection; the loop reconnects if it may still issue.
func (w *worker) fail(p *plan, err error) {
	kind := KindIO
	var ne net.Error
	switch {
	case errors.Is(err, errProtocol):
		kind = KindProtocol
	case errors.As(err, &ne) && ne.Timeout():
		kind = KindTimeout
	}
	now := time.Now()
	if p.recording(now) {
		for i := 0; i < w.n; i++ {
			req := w.ring[(w.head+i)%len(w.ring)]
			p.st.record(req.isGet, outError, kind, now.Sub(req.sent), now)
		}
	}
	w.close()
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
