package bench

import (
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram geometry: nanoseconds, 100 ns resolution floor, up to a minute,
// 3 significant digits (0.1% error).
const (
	histLowest  = 100
	histHighest = int64(time.Minute)
	histDigits  = 3
)

// NewHistogram returns an empty latency histogram with the geometry Run
// uses (nanoseconds), for merging results.
func NewHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(histLowest, histHighest, histDigits)
}

func newHistogram() *hdrhistogram.Histogram { return NewHistogram() }

// histShards bounds histogram memory (each is ~170 KiB): workers share
// min(conns, maxHistShards) shards and flush samples in batches.
const maxHistShards = 64

type histShard struct {
	mu sync.Mutex
	h  *hdrhistogram.Histogram
}

// sampleBatch is how many latency samples a worker buffers before taking its
// shard's lock.
const sampleBatch = 256

// stats are one worker's counters for one phase. Only the worker writes them;
// Run reads them after the worker is done.
type stats struct {
	gets, sets     int64
	hits, misses   int64
	stored         int64
	errors         int64
	errorsByKind   map[string]int64
	lastReply      time.Time
	samples        []int64
	shard          *histShard
	clampedSamples int64
}

func (s *stats) addError(kind string, n int64) {
	if n == 0 {
		return
	}
	if s.errorsByKind == nil {
		s.errorsByKind = make(map[string]int64)
	}
	s.errorsByKind[kind] += n
	s.errors += n
}

func (s *stats) record(isGet bool, out outcome, label string, lat time.Duration, now time.Time) {
	if isGet {
		s.gets++
	} else {
		s.sets++
	}
	switch out {
	case outHit:
		s.hits++
	case outMiss:
		s.misses++
	case outStored:
		s.stored++
	case outError:
		s.addError(label, 1)
	}
	s.lastReply = now
	if s.shard == nil {
		return
	}
	s.samples = append(s.samples, int64(lat))
	if len(s.samples) == cap(s.samples) {
		s.flush()
	}
}

// flush moves the buffered samples into the shared histogram shard.
func (s *stats) flush() {
	if s.shard == nil || len(s.samples) == 0 {
		return
	}
	s.shard.mu.Lock()
	for _, v := range s.samples {
		if v > histHighest {
			v = histHighest
			s.clampedSamples++
		}
		if v < 1 {
			v = 1
		}
		_ = s.shard.h.RecordValue(v) // in range by construction
	}
	s.shard.mu.Unlock()
	s.samples = s.samples[:0]
}

// merge adds o's counters into s (histograms are merged separately).
func (s *stats) merge(o *stats) {
	s.gets += o.gets
	s.sets += o.sets
	s.hits += o.hits
	s.misses += o.misses
	s.stored += o.stored
	for k, v := range o.errorsByKind {
		s.addError(k, v)
	}
	s.clampedSamples += o.clampedSamples
	if o.lastReply.After(s.lastReply) {
		s.lastReply = o.lastReply
	}
}
