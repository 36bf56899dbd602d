package upstream

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	const lo, hi = 50 * time.Millisecond, 5 * time.Second
	tests := []struct {
		n        int
		min, max time.Duration
	}{
		{0, 25 * time.Millisecond, 50 * time.Millisecond},
		{1, 50 * time.Millisecond, 100 * time.Millisecond},
		{3, 200 * time.Millisecond, 400 * time.Millisecond},
		{6, 1600 * time.Millisecond, 3200 * time.Millisecond},
		{7, 2500 * time.Millisecond, 5 * time.Second}, // capped
		{1000, 2500 * time.Millisecond, 5 * time.Second},
	}
	for _, tt := range tests {
		for range 200 {
			got := backoff(tt.n, lo, hi)
			if got < tt.min || got > tt.max {
				t.Fatalf("backoff(%d) = %v, want in [%v, %v]", tt.n, got, tt.min, tt.max)
			}
		}
	}
}

func TestBackoffTiny(t *testing.T) {
	if got := backoff(0, 1, 1); got != 1 {
		t.Errorf("backoff(0, 1ns, 1ns) = %v, want 1ns", got)
	}
}
