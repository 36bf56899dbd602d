package report

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/vbproxy/vbproxy/bench"
)

// ErrBadRecord is wrapped by every error Read returns for bad input.
var ErrBadRecord = errors.New("report: bad record")

// Record kinds.
const (
	KindVbbench   = "vbbench"
	KindMemcaslap = "memcaslap"
	KindMemory    = "memory"
	KindMeta      = "meta"
)

// Record is one line of the results file.
type Record struct {
	Kind   string `json:"kind"`
	Target string `json:"target"` // "direct", "vbproxy", "vbproxy-baseline", "twemproxy"; not for meta
	Round  int    `json:"round"`  // 1-based; vbbench and memcaslap

	// Kind vbbench: the run's result, or Error with Conns and Pipeline when
	// the run failed.
	Result   *bench.Result `json:"result,omitempty"`
	Pipeline int           `json:"pipeline,omitempty"`

	// Kind memcaslap.
	Protocol  string  `json:"protocol,omitempty"` // "binary" or "ascii"
	Conns     int     `json:"conns,omitempty"`    // memcaslap concurrency; memory: idle connections
	Ops       int64   `json:"ops,omitempty"`
	OpsPerSec float64 `json:"ops_per_sec,omitempty"`
	Seconds   float64 `json:"seconds,omitempty"`
	GetMisses int64   `json:"get_misses,omitempty"`
	Error     string  `json:"error,omitempty"` // the run failed; the reason

	// Kinds vbbench and memcaslap: CPU time used during the run, when the
	// script sampled it.
	CPU *CPUSample `json:"cpu,omitempty"`

	// Kind memory: resident set sizes in KiB (VmRSS), and how the idle
	// connections were used before idling ("connected", "after one get").
	Variant      string `json:"variant,omitempty"`
	RSSBeforeKiB int64  `json:"rss_before_kib,omitempty"`
	RSSAfterKiB  int64  `json:"rss_after_kib,omitempty"`

	// Kind meta.
	Key   string `json:"key,omitempty"`
	Value string `json:"value,omitempty"`
}

// CPUSample is the CPU time used during a run's measured window, read from
// /proc by the script: the proxy process (zero for direct access), the
// memcached servers together, and the whole machine (busy time of every CPU:
// the load generator, the servers, the proxy, and kernel work charged to no
// process, such as loopback TCP delivery in softirq).
type CPUSample struct {
	Seconds      float64 `json:"seconds"` // the window's wall-clock length
	ProxySec     float64 `json:"proxy_s"`
	MemcachedSec float64 `json:"memcached_s"`
	MachineSec   float64 `json:"machine_s"`
}

func (c *CPUSample) check() error {
	if c == nil {
		return nil
	}
	if c.Seconds <= 0 || c.ProxySec < 0 || c.MemcachedSec < 0 || c.MachineSec < 0 {
		return fmt.Errorf("cpu sample needs seconds > 0 and non-negative times (got %+v)", *c)
	}
	return nil
}

// maxLine bounds one record (a vbbench result with its histogram is a few
// KiB).
const maxLine = 4 << 20

// Read parses a results file: one JSON Record per line, blank lines
// ignored. Errors name the line.
func Read(r io.Reader) ([]Record, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	var recs []Record
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		if len(trimSpace(line)) == 0 {
			continue
		}
		var rec Record
		if err := json.Unmarshal(line, &rec); err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", ErrBadRecord, n, err)
		}
		if err := rec.check(); err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", ErrBadRecord, n, err)
		}
		recs = append(recs, rec)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("report: read results: %w", err)
	}
	return recs, nil
}

func (r *Record) check() error {
	if err := r.CPU.check(); err != nil {
		return err
	}
	switch r.Kind {
	case KindVbbench:
		if r.Target == "" {
			return errors.New("vbbench record without target")
		}
		if r.Result == nil {
			if r.Error == "" || r.Conns < 1 || r.Pipeline < 1 {
				return errors.New("vbbench record needs a result, or an error with conns and pipeline >= 1")
			}
			return nil
		}
		if r.Result.Config.Conns < 1 || r.Result.Config.Pipeline < 1 {
			return fmt.Errorf("vbbench result with conns %d, pipeline %d", r.Result.Config.Conns, r.Result.Config.Pipeline)
		}
		if r.Result.Histogram != "" {
			if _, err := bench.DecodeHistogram(r.Result.Histogram); err != nil {
				return err
			}
		}
	case KindMemcaslap:
		if r.Target == "" || r.Conns < 1 {
			return fmt.Errorf("memcaslap record needs target and conns >= 1 (got %q, %d)", r.Target, r.Conns)
		}
		if r.Protocol != bench.ProtocolBinary && r.Protocol != bench.ProtocolASCII {
			return fmt.Errorf("memcaslap record protocol %q is not binary or ascii", r.Protocol)
		}
		if r.OpsPerSec < 0 || r.Ops < 0 {
			return errors.New("memcaslap record with negative ops")
		}
	case KindMemory:
		if r.Target == "" || r.Conns < 1 {
			return fmt.Errorf("memory record needs target and conns >= 1 (got %q, %d)", r.Target, r.Conns)
		}
		if r.Error == "" && (r.RSSBeforeKiB <= 0 || r.RSSAfterKiB <= 0) {
			return fmt.Errorf("memory record needs rss_before_kib and rss_after_kib > 0 (got %d, %d)", r.RSSBeforeKiB, r.RSSAfterKiB)
		}
	case KindMeta:
		if r.Key == "" {
			return errors.New("meta record without key")
		}
	default:
		return fmt.Errorf("unknown kind %q (want vbbench, memcaslap, memory or meta)", r.Kind)
	}
	return nil
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
