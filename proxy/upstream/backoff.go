package upstream

import (
	"math/rand/v2"
	"time"
)

// backoff returns the delay before reconnection attempt n (0 for the first
// retry): min·2^n capped at max, then jittered uniformly into [d/2, d] so that
// the connections of many proxies do not reconnect in step.
func backoff(n int, lo, hi time.Duration) time.Duration {
	d := lo
	for i := 0; i < n && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	half := d / 2
	if half <= 0 {
		return d
	}
	return half + rand.N(d-half+1)
}
