package fault

import (
	"slices"
	"sync"
	"time"
)

// Latencies collects request durations from many goroutines. The zero
// value is ready.
type Latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

// Add records one duration.
func (l *Latencies) Add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

// Count returns how many durations were recorded.
func (l *Latencies) Count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.d)
}

// Quantile returns the q-quantile (0 < q <= 1) of the recorded durations
// (nearest rank), 0 when none.
func (l *Latencies) Quantile(q float64) time.Duration {
	l.mu.Lock()
	d := slices.Clone(l.d)
	l.mu.Unlock()
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	i := int(q*float64(len(d))+0.999999) - 1
	return d[max(0, min(i, len(d)-1))]
}

// Max returns the longest recorded duration.
func (l *Latencies) Max() time.Duration { return l.Quantile(1) }
