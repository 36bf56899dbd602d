package bench

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Run drives c.Addr with the workload c describes and returns what it
// measured. It returns an error, without a result, when c is invalid, when a
// first connection cannot be made, or when ctx is done before the end.
// Failures during the run are counted in the result, never hidden.
func Run(ctx context.Context, c Config) (*Result, error) {
	c = c.WithDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	tlsCfg, err := clientTLS(&c)
	if err != nil {
		return nil, err
	}
	keys := newKeySet(c.Prefix, c.Keys)
	chooser := newChooser(c.Dist, c.Keys)
	value := makeValue(c.ValueSize)

	nshards := min(c.Conns, maxHistShards)
	shards := make([]*histShard, nshards)
	for i := range shards {
		shards[i] = &histShard{h: newHistogram()}
	}

	workers := make([]*worker, c.Conns)
	defer func() {
		for _, w := range workers {
			if w != nil {
				w.close()
			}
		}
	}()
	for i := range workers {
		w := newWorker(i, &c, tlsCfg, keys, chooser, value)
		if err := w.dial(ctx); err != nil {
			return nil, fmt.Errorf("bench: connection %d of %d to %s: %w", i+1, c.Conns, c.Addr, err)
		}
		workers[i] = w
	}
	// A cancelled run must not wait for replies that will never come.
	stopAfter := context.AfterFunc(ctx, func() {
		for _, w := range workers {
			w.interrupt()
		}
	})
	defer stopAfter()

	res := &Result{Target: c.Addr, Protocol: c.Protocol, Config: summarize(&c)}

	if !c.NoPopulate {
		pop := make([]stats, c.Conns)
		start := time.Now()
		each(workers, func(w *worker) {
			n := int64(c.Keys / c.Conns)
			if w.id < c.Keys%c.Conns {
				n++
			}
			k := w.id
			w.loop(ctx, plan{budget: n, record: true, st: &pop[w.id], next: func(w *worker) (bool, int) {
				key := k
				k += c.Conns
				return false, key
			}})
		})
		var total stats
		for i := range pop {
			total.merge(&pop[i])
		}
		res.Populate = &PopulateResult{
			Keys: c.Keys, Stored: total.stored, Errors: total.errors, ErrorsByKind: total.errorsByKind,
			Seconds: time.Since(start).Seconds(),
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	st := make([]stats, c.Conns)
	for i := range st {
		st[i].shard = shards[i%nshards]
		st[i].samples = make([]int64, 0, sampleBatch)
	}
	var from, until time.Time
	if c.Ops > 0 {
		if c.Warmup > 0 {
			end := time.Now().Add(c.Warmup)
			each(workers, func(w *worker) {
				w.loop(ctx, plan{budget: -1, until: end, next: nextWorkload})
			})
		}
		from = time.Now()
		each(workers, func(w *worker) {
			n := c.Ops / int64(c.Conns)
			if int64(w.id) < c.Ops%int64(c.Conns) {
				n++
			}
			w.loop(ctx, plan{budget: n, record: true, recFrom: from, st: &st[w.id], next: nextWorkload})
		})
	} else {
		from = time.Now().Add(c.Warmup)
		until = from.Add(c.Duration)
		each(workers, func(w *worker) {
			w.loop(ctx, plan{budget: -1, until: until, record: true, recFrom: from, recUntil: until,
				st: &st[w.id], next: nextWorkload})
		})
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	var total stats
	for i := range st {
		st[i].flush()
		total.merge(&st[i])
	}
	elapsed := until.Sub(from)
	if c.Ops > 0 {
		elapsed = total.lastReply.Sub(from)
	}
	h := newHistogram()
	for _, s := range shards {
		h.Merge(s.h)
	}
	for _, w := range workers {
		if w.gaveUp != nil {
			res.Aborted = append(res.Aborted, fmt.Sprintf("connection %d: gave up after %d failed reconnects: %v",
				w.id+1, maxReconnects, w.gaveUp))
		}
	}
	res.fill(&total, elapsed, h)
	return res, nil
}

// each runs fn for every worker concurrently and waits.
func each(workers []*worker, fn func(w *worker)) {
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() { fn(w) })
	}
	wg.Wait()
}

// makeValue returns n printable bytes (ASCII-safe, not all equal, so that
// compression or dedup in a middlebox does not flatter the numbers).
func makeValue(n int) []byte {
	v := make([]byte, n)
	for i := range v {
		v[i] = 'a' + byte((i*7+i/26)%26)
	}
	return v
}
