package bench

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestKeySet(t *testing.T) {
	ks := newKeySet("p:", 1001)
	if len(ks.keys) != 1001 {
		t.Fatalf("len = %d, want 1001", len(ks.keys))
	}
	for i, want := range map[int]string{0: "p:0000", 7: "p:0007", 1000: "p:1000"} {
		if got := string(ks.keys[i]); got != want {
			t.Errorf("key %d = %q, want %q", i, got, want)
		}
	}
	seen := map[string]bool{}
	for _, k := range ks.keys {
		if len(k) != 6 {
			t.Errorf("key %q has length %d, want 6", k, len(k))
		}
		if seen[string(k)] {
			t.Errorf("duplicate key %q", k)
		}
		seen[string(k)] = true
	}
	if got := string(newKeySet("x", 1).keys[0]); got != "x0" {
		t.Errorf("single key = %q, want x0", got)
	}
}

func TestZipfianDistribution(t *testing.T) {
	const n, draws = 1000, 400000
	z := newZipfian(n, ZipfTheta)
	r := rand.New(rand.NewPCG(7, 7))
	counts := make([]int, n)
	for range draws {
		k := z.next(r)
		if k < 0 || k >= n {
			t.Fatalf("next() = %d, outside [0, %d)", k, n)
		}
		counts[k]++
	}
	// Ranks 0 and 1 are drawn with their exact probabilities; the rest
	// come from Gray et al.'s approximation, checked by decade below.
	for _, k := range []int{0, 1} {
		want := z.prob(k) * draws
		got := float64(counts[k])
		if math.Abs(got-want)/want > 0.05 {
			t.Errorf("rank %d drawn %v times, want %v ±5%%", k, got, want)
		}
	}
	// Popularity falls with rank: each decade holds fewer draws per key.
	perKey := func(lo, hi int) float64 {
		s := 0
		for _, c := range counts[lo:hi] {
			s += c
		}
		return float64(s) / float64(hi-lo)
	}
	if a, b, c := perKey(0, 10), perKey(10, 100), perKey(100, 1000); !(a > b && b > c) {
		t.Errorf("draws per key by decade = %v, %v, %v; want decreasing", a, b, c)
	}
	// Skewed: the top 10% of keys get well over half the draws (about 70%
	// for theta 0.99), unlike uniform's 10%.
	top := 0
	for _, c := range counts[:n/10] {
		top += c
	}
	if frac := float64(top) / draws; frac < 0.6 || frac > 0.8 {
		t.Errorf("top 10%% of keys got %.2f of draws, want 0.6..0.8", frac)
	}
}

func TestZipfianSmall(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 2, 3} {
		z := newZipfian(n, ZipfTheta)
		seen := make([]bool, n)
		for range 10000 {
			k := z.next(r)
			if k < 0 || k >= n {
				t.Fatalf("n=%d: next() = %d out of range", n, k)
			}
			seen[k] = true
		}
		for k, ok := range seen {
			if !ok {
				t.Errorf("n=%d: rank %d never drawn", n, k)
			}
		}
	}
}

func TestUniformDistribution(t *testing.T) {
	const n, draws = 10, 100000
	u := newChooser(DistUniform, n)
	r := rand.New(rand.NewPCG(3, 4))
	counts := make([]int, n)
	for range draws {
		counts[u.next(r)]++
	}
	for k, c := range counts {
		if math.Abs(float64(c)-draws/n) > 0.05*draws/n {
			t.Errorf("key %d drawn %d times, want %d ±5%%", k, c, draws/n)
		}
	}
}

func BenchmarkZipfianNext(b *testing.B) {
	z := newZipfian(100000, ZipfTheta)
	r := rand.New(rand.NewPCG(1, 1))
	b.ReportAllocs()
	for b.Loop() {
		_ = z.next(r)
	}
}
