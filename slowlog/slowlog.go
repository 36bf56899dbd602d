package slowlog

import (
	"context"
	"encoding/base64"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/vbproxy/vbproxy/memcached"
)

// Request is one slow request as the proxy reports it (the fields mirror
// proxy.SlowRequest, so cmd/vbproxy converts one to the other).
type Request struct {
	Op       memcached.Opcode
	VBucket  uint16
	Node     string // the node that answered or failed, "" when none was reached
	Duration time.Duration
	Retries  int // NOT_MY_VBUCKET retries
	Status   memcached.Status
	Key      []byte // only read during Slow; never kept
}

// Options configure New. The zero value works.
type Options struct {
	// Logger receives the lines (at warn level); nil discards them.
	Logger *slog.Logger
	// Keys logs each request's key (log.slow_request_keys). Default false:
	// keys can be personal data, so they are left out. SetKeys changes it.
	Keys bool
	// Rate is the number of lines written per second at most. 0 means 20.
	Rate int
	// Queue is the number of lines waiting for the writer at most. 0 means
	// 2*Rate.
	Queue int
	// DropReport is how often the count of lines left out is logged (only
	// when it is not zero). 0 means 10s.
	DropReport time.Duration
}

// Defaults.
const (
	DefaultRate       = 20
	DefaultDropReport = 10 * time.Second
)

// Log is a running slow-request log. Slow is safe for concurrent use; the
// writer goroutine started by New owns the formatting and the output.
type Log struct {
	log        *slog.Logger
	keys       atomic.Bool
	rate       int64
	dropReport time.Duration

	admitted atomic.Int64  // lines admitted in the current second (reset by the writer)
	dropped  atomic.Uint64 // lines left out since the last report
	queue    chan entry

	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

// entry is a Request copied for the writer: the key lives in a fixed array,
// so queueing one allocates nothing.
type entry struct {
	op       memcached.Opcode
	vbucket  uint16
	status   memcached.Status
	retries  int32
	keyLen   uint8
	keyTrunc bool // the key was longer than the array (a text-protocol key cannot be)
	keyed    bool // the key was copied (Keys was on)
	node     string
	duration time.Duration
	key      [memcached.MaxKeyLen]byte
}

// New starts a Log and its writer goroutine; Close stops it.
func New(o Options) *Log {
	l := newLog(o)
	second := time.NewTicker(time.Second)
	report := time.NewTicker(l.dropReport)
	go func() {
		defer second.Stop()
		defer report.Stop()
		l.write(second.C, report.C)
	}()
	return l
}

// newLog builds a Log without starting its writer.
func newLog(o Options) *Log {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Rate <= 0 {
		o.Rate = DefaultRate
	}
	if o.Queue <= 0 {
		o.Queue = 2 * o.Rate
	}
	if o.DropReport <= 0 {
		o.DropReport = DefaultDropReport
	}
	l := &Log{
		log:        o.Logger,
		rate:       int64(o.Rate),
		dropReport: o.DropReport,
		queue:      make(chan entry, o.Queue),
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
	}
	l.keys.Store(o.Keys)
	return l
}

// SetKeys turns logging of keys on or off (a config reload of
// log.slow_request_keys); lines already queued keep what they had.
func (l *Log) SetKeys(on bool) { l.keys.Store(on) }

// Keys reports whether keys are logged.
func (l *Log) Keys() bool { return l.keys.Load() }

// Slow records one slow request. It never blocks and never allocates: over
// the per-second budget, or with the queue full, the line is only counted.
func (l *Log) Slow(r Request) {
	if l.admitted.Add(1) > l.rate {
		l.dropped.Add(1)
		return
	}
	e := entry{
		op: r.Op, vbucket: r.VBucket, status: r.Status, retries: int32(min(r.Retries, 1<<30)),
		node: r.Node, duration: r.Duration,
	}
	if l.keys.Load() {
		e.keyed = true
		e.keyLen = uint8(copy(e.key[:], r.Key))
		e.keyTrunc = len(r.Key) > len(e.key)
	}
	select {
	case l.queue <- e:
	default:
		l.dropped.Add(1)
	}
}

// Dropped returns the lines left out since the last report (for tests and
// STAT-like views); the writer resets it when it reports.
func (l *Log) Dropped() uint64 { return l.dropped.Load() }

// Close stops the writer after it has written the queued lines and reported
// the last dropped count. Slow may still be called after Close; those lines
// are not written.
func (l *Log) Close() {
	l.stopOnce.Do(func() { close(l.stop) })
	<-l.done
}

// write is the writer goroutine: it owns the output and the budget window
// (second resets it; report logs the dropped count).
func (l *Log) write(second, report <-chan time.Time) {
	defer close(l.done)
	for {
		select {
		case e := <-l.queue:
			l.line(&e)
		case <-second:
			l.admitted.Store(0)
		case <-report:
			l.reportDropped()
		case <-l.stop:
			for {
				select {
				case e := <-l.queue:
					l.line(&e)
				default:
					l.reportDropped()
					return
				}
			}
		}
	}
}

func (l *Log) reportDropped() {
	if n := l.dropped.Swap(0); n > 0 {
		l.log.LogAttrs(context.Background(), slog.LevelWarn, "slow requests not logged",
			slog.Uint64("dropped", n), slog.Duration("interval", l.dropReport), slog.Int64("rate_limit", l.rate))
	}
}

// line writes one entry.
func (l *Log) line(e *entry) {
	attrs := [9]slog.Attr{
		slog.String("op", e.op.String()),
		slog.Int("vbucket", int(e.vbucket)),
		slog.String("node", e.node),
		slog.Duration("duration", e.duration),
		slog.Int("retries", int(e.retries)),
		slog.String("status", e.status.String()),
	}
	n := 6
	if e.keyed {
		n += keyAttrs(attrs[n:], e.key[:e.keyLen], e.keyTrunc)
	}
	l.log.LogAttrs(context.Background(), slog.LevelWarn, "slow request", attrs[:n]...)
}

// keyAttrs writes the key as "key" when it is printable UTF-8, else as
// "key_b64" (standard base64, as /api/key?key_b64= takes it), plus
// key_truncated when only its start was kept.
func keyAttrs(dst []slog.Attr, key []byte, truncated bool) int {
	n := 1
	if printable(key) {
		dst[0] = slog.String("key", string(key))
	} else {
		dst[0] = slog.String("key_b64", base64.StdEncoding.EncodeToString(key))
	}
	if truncated {
		dst[1] = slog.Bool("key_truncated", true)
		n++
	}
	return n
}

func printable(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}
