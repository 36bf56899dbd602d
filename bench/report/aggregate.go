package report

import (
	"cmp"
	"fmt"
	"maps"
	"slices"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/vbproxy/vbproxy/bench"
)

// Well-known targets, in report order; others follow alphabetically.
const (
	TargetDirect    = "direct"
	TargetVbproxy   = "vbproxy"
	TargetTwemproxy = "twemproxy"
	// TargetBaseline is vbproxy built at another revision, run alongside
	// for an A/B comparison (BENCH_BASELINE).
	TargetBaseline = "vbproxy-baseline"
	// TargetTLS is the vbproxy process of TargetVbproxy reached through
	// its TLS listener: client TLS, upstream plain.
	TargetTLS = "vbproxy-tls"
)

// Point is one workload shape of the sweep.
type Point struct {
	Conns    int
	Pipeline int
}

// VbbenchStat aggregates the rounds of one target at one point.
type VbbenchStat struct {
	Target   string
	Protocol string
	Point
	Rounds            int
	OpsPerSec         float64 // median over rounds
	MinOps, MaxOps    float64 // range over rounds
	Latency           bench.Latency
	Ops, Hits, Misses int64 // summed over rounds
	Errors            int64
	ErrorsByKind      map[string]int64
	Aborted           int       // connections that gave up, over rounds
	Failed            []string  // reasons of rounds that did not run
	CPU               *CPUPerOp // nil when no round was sampled
	hist              *hdrhistogram.Histogram
	cpu               cpuRounds
}

// MemcaslapStat aggregates the rounds of one memcaslap target.
type MemcaslapStat struct {
	Target, Protocol string
	Conns            int
	Rounds           int
	OpsPerSec        float64 // median over the rounds that ran
	MinOps, MaxOps   float64
	GetMisses        int64
	Failed           []string  // reasons of failed rounds
	CPU              *CPUPerOp // nil when no round was sampled
	cpu              cpuRounds
}

// CPUPerOp is CPU time per request in microseconds, each the median over the
// sampled rounds: the proxy process, the memcached servers, the rest of the
// machine (load generator and kernel work charged to no process), and the
// machine's total.
type CPUPerOp struct {
	Rounds                          int
	Proxy, Memcached, Rest, Machine float64
}

// cpuRounds collects per-round CPU per request until Aggregate takes the
// medians.
type cpuRounds struct {
	proxy, memcached, rest, machine []float64
}

// add records one round that completed ops requests in the sample's window.
func (c *cpuRounds) add(smp *CPUSample, ops float64) {
	if smp == nil || ops <= 0 {
		return
	}
	per := func(sec float64) float64 { return sec * 1e6 / ops }
	c.proxy = append(c.proxy, per(smp.ProxySec))
	c.memcached = append(c.memcached, per(smp.MemcachedSec))
	c.rest = append(c.rest, per(max(0, smp.MachineSec-smp.ProxySec-smp.MemcachedSec)))
	c.machine = append(c.machine, per(smp.MachineSec))
}

func (c *cpuRounds) perOp() *CPUPerOp {
	if len(c.machine) == 0 {
		return nil
	}
	med := func(v []float64) float64 { m, _, _ := medianRange(v); return m }
	return &CPUPerOp{Rounds: len(c.machine), Proxy: med(c.proxy), Memcached: med(c.memcached),
		Rest: med(c.rest), Machine: med(c.machine)}
}

// MemoryStat is one memory-per-connection measurement.
type MemoryStat struct {
	Target, Variant     string
	Conns               int
	BeforeKiB, AfterKiB int64
	PerConnBytes        float64
	Error               string
}

// Summary is everything the report shows.
type Summary struct {
	Meta      map[string]string
	Targets   []string // targets seen, in report order
	Points    []Point  // vbbench points seen, by pipeline then conns
	Vbbench   []*VbbenchStat
	Memcaslap []*MemcaslapStat
	Memory    []MemoryStat
}

func targetRank(t string) int {
	switch t {
	case TargetDirect:
		return 0
	case TargetVbproxy:
		return 1
	case TargetTLS:
		return 2
	case TargetBaseline:
		return 3
	case TargetTwemproxy:
		return 4
	}
	return 5
}

func compareTargets(a, b string) int {
	return cmp.Or(cmp.Compare(targetRank(a), targetRank(b)), cmp.Compare(a, b))
}

// Aggregate groups records into a Summary.
func Aggregate(recs []Record) (*Summary, error) {
	s := &Summary{Meta: map[string]string{}}
	targets := map[string]bool{}
	type vbKey struct {
		target, protocol string
		Point
	}
	vb := map[vbKey]*VbbenchStat{}
	vbOps := map[vbKey][]float64{}
	type mcKey struct {
		target, protocol string
		conns            int
	}
	mc := map[mcKey]*MemcaslapStat{}
	mcOps := map[mcKey][]float64{}
	for i := range recs {
		r := &recs[i]
		switch r.Kind {
		case KindMeta:
			s.Meta[r.Key] = r.Value
		case KindVbbench:
			res := r.Result
			var k vbKey
			if res == nil {
				k = vbKey{r.Target, r.Protocol, Point{r.Conns, r.Pipeline}}
			} else {
				k = vbKey{r.Target, res.Protocol, Point{res.Config.Conns, res.Config.Pipeline}}
			}
			st := vb[k]
			if st == nil {
				st = &VbbenchStat{Target: r.Target, Protocol: k.protocol, Point: k.Point,
					ErrorsByKind: map[string]int64{}, hist: bench.NewHistogram()}
				vb[k] = st
			}
			st.Rounds++
			if res == nil {
				st.Failed = append(st.Failed, r.Error)
				continue
			}
			vbOps[k] = append(vbOps[k], res.OpsPerSec)
			if r.CPU != nil {
				// The window is the measured phase: its requests are the
				// measured rate over the window's length.
				st.cpu.add(r.CPU, res.OpsPerSec*r.CPU.Seconds)
			}
			st.Ops += res.Ops
			st.Hits += res.Hits
			st.Misses += res.Misses
			st.Errors += res.Errors
			for kind, n := range res.ErrorsByKind {
				st.ErrorsByKind[kind] += n
			}
			st.Aborted += len(res.Aborted)
			if res.Histogram != "" {
				h, err := bench.DecodeHistogram(res.Histogram)
				if err != nil {
					return nil, fmt.Errorf("report: %s round %d: %w", r.Target, r.Round, err)
				}
				st.hist.Merge(h)
			}
			targets[r.Target] = true
		case KindMemcaslap:
			k := mcKey{r.Target, r.Protocol, r.Conns}
			st := mc[k]
			if st == nil {
				st = &MemcaslapStat{Target: r.Target, Protocol: r.Protocol, Conns: r.Conns}
				mc[k] = st
			}
			st.Rounds++
			if r.Error != "" {
				st.Failed = append(st.Failed, r.Error)
				continue
			}
			mcOps[k] = append(mcOps[k], r.OpsPerSec)
			// The window spans the whole memcaslap run: all its requests.
			st.cpu.add(r.CPU, float64(r.Ops))
			st.GetMisses += r.GetMisses
			targets[r.Target] = true
		case KindMemory:
			m := MemoryStat{Target: r.Target, Variant: r.Variant, Conns: r.Conns, BeforeKiB: r.RSSBeforeKiB, AfterKiB: r.RSSAfterKiB, Error: r.Error}
			if m.Error == "" {
				m.PerConnBytes = float64(m.AfterKiB-m.BeforeKiB) * 1024 / float64(m.Conns)
			}
			s.Memory = append(s.Memory, m)
		}
	}
	points := map[Point]bool{}
	for k, st := range vb {
		st.OpsPerSec, st.MinOps, st.MaxOps = medianRange(vbOps[k])
		st.Latency = bench.LatencyOf(st.hist)
		st.CPU = st.cpu.perOp()
		s.Vbbench = append(s.Vbbench, st)
		points[k.Point] = true
	}
	for k, st := range mc {
		st.OpsPerSec, st.MinOps, st.MaxOps = medianRange(mcOps[k])
		st.CPU = st.cpu.perOp()
		s.Memcaslap = append(s.Memcaslap, st)
	}
	s.Targets = slices.SortedFunc(maps.Keys(targets), compareTargets)
	s.Points = slices.SortedFunc(maps.Keys(points), func(a, b Point) int {
		return cmp.Or(cmp.Compare(a.Pipeline, b.Pipeline), cmp.Compare(a.Conns, b.Conns))
	})
	slices.SortFunc(s.Vbbench, func(a, b *VbbenchStat) int {
		return cmp.Or(cmp.Compare(a.Pipeline, b.Pipeline), cmp.Compare(a.Conns, b.Conns),
			compareTargets(a.Target, b.Target), cmp.Compare(a.Protocol, b.Protocol))
	})
	slices.SortFunc(s.Memcaslap, func(a, b *MemcaslapStat) int {
		return cmp.Or(cmp.Compare(a.Conns, b.Conns), cmp.Compare(b.Protocol, a.Protocol),
			compareTargets(a.Target, b.Target))
	})
	slices.SortStableFunc(s.Memory, func(a, b MemoryStat) int { return compareTargets(a.Target, b.Target) })
	return s, nil
}

// medianRange returns the median, minimum and maximum of v (zeros when
// empty).
func medianRange(v []float64) (median, lo, hi float64) {
	if len(v) == 0 {
		return 0, 0, 0
	}
	v = slices.Sorted(slices.Values(v))
	n := len(v)
	median = v[n/2]
	if n%2 == 0 {
		median = (v[n/2-1] + v[n/2]) / 2
	}
	return median, v[0], v[n-1]
}

// Vb returns the vbbench stat of target at p with the given protocol ("" =
// any), or nil.
func (s *Summary) Vb(target, protocol string, p Point) *VbbenchStat {
	for _, st := range s.Vbbench {
		if st.Target == target && st.Point == p && (protocol == "" || st.Protocol == protocol) {
			return st
		}
	}
	return nil
}

// Mc returns the memcaslap stat of target, protocol and conns, or nil.
func (s *Summary) Mc(target, protocol string, conns int) *MemcaslapStat {
	for _, st := range s.Memcaslap {
		if st.Target == target && st.Protocol == protocol && st.Conns == conns {
			return st
		}
	}
	return nil
}

// directFor returns the direct baseline for st: the same point and protocol
// when measured, otherwise the same point in any protocol (sameProtocol
// false).
func (s *Summary) directFor(st *VbbenchStat) (d *VbbenchStat, sameProtocol bool) {
	if d := s.Vb(TargetDirect, st.Protocol, st.Point); d != nil {
		return d, true
	}
	return s.Vb(TargetDirect, "", st.Point), false
}
