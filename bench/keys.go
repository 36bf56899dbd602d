package bench

import (
	"math"
	"math/rand/v2"
	"strconv"
)

// keySet holds every key of a run, built once and shared read-only by the
// workers so that the hot loop does not allocate.
type keySet struct {
	keys [][]byte
}

// newKeySet builds n keys: prefix followed by the zero-padded index, so that
// all keys have the same length.
func newKeySet(prefix string, n int) *keySet {
	width := digits(n - 1)
	klen := len(prefix) + width
	backing := make([]byte, 0, n*klen)
	keys := make([][]byte, n)
	var num [20]byte
	for i := range n {
		start := len(backing)
		backing = append(backing, prefix...)
		d := strconv.AppendInt(num[:0], int64(i), 10)
		for range width - len(d) {
			backing = append(backing, '0')
		}
		backing = append(backing, d...)
		keys[i] = backing[start:len(backing):len(backing)]
	}
	return &keySet{keys: keys}
}

// keyChooser picks key indexes in [0, n).
type keyChooser interface {
	next(r *rand.Rand) int
}

type uniform struct{ n int }

func (u uniform) next(r *rand.Rand) int { return r.IntN(u.n) }

// ZipfTheta is the skew of the zipfian distribution, YCSB's default.
const ZipfTheta = 0.99

// zipfian draws ranks from a zipfian distribution over [0, n): rank 0 is the
// most popular. It is YCSB's ZipfianGenerator (Gray et al., "Quickly
// generating billion-record synthetic databases", SIGMOD 1994). The constants
// are computed once (O(n)); next is O(1) and safe for concurrent use with
// separate *rand.Rand values.
type zipfian struct {
	n                        int
	theta, alpha, zetan, eta float64
	halfPowTheta             float64
}

func newZipfian(n int, theta float64) *zipfian {
	z := &zipfian{n: n, theta: theta}
	z.zetan = zeta(n, theta)
	zeta2 := zeta(2, theta)
	z.alpha = 1 / (1 - theta)
	z.eta = (1 - math.Pow(2/float64(n), 1-theta)) / (1 - zeta2/z.zetan)
	z.halfPowTheta = 1 + math.Pow(0.5, theta)
	return z
}

// zeta returns the sum over i in [1, n] of 1/i^theta.
func zeta(n int, theta float64) float64 {
	var s float64
	for i := 1; i <= n; i++ {
		s += 1 / math.Pow(float64(i), theta)
	}
	return s
}

func (z *zipfian) next(r *rand.Rand) int {
	if z.n == 1 {
		return 0
	}
	u := r.Float64()
	uz := u * z.zetan
	if uz < 1 {
		return 0
	}
	if uz < z.halfPowTheta {
		return 1
	}
	k := int(float64(z.n) * math.Pow(z.eta*u-z.eta+1, z.alpha))
	return min(max(k, 0), z.n-1)
}

// prob returns the probability of rank k under the ideal distribution.
func (z *zipfian) prob(k int) float64 {
	return 1 / math.Pow(float64(k+1), z.theta) / z.zetan
}

func newChooser(dist string, n int) keyChooser {
	if dist == DistZipfian {
		return newZipfian(n, ZipfTheta)
	}
	return uniform{n: n}
}
