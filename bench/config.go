package bench

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/vbproxy/vbproxy/memcached"
)

// ErrInvalidConfig is wrapped by every error that Config.Validate returns.
var ErrInvalidConfig = errors.New("bench: invalid config")

// Protocols.
const (
	ProtocolBinary = "binary"
	ProtocolASCII  = "ascii"
)

// Key distributions.
const (
	DistUniform = "uniform"
	DistZipfian = "zipfian"
)

// Limits enforced by Validate.
const (
	MaxConns     = 100000
	MaxPipeline  = 65536
	MaxValueSize = 20 << 20 // memcached's largest configurable item is 1 GiB; 20 MiB is Couchbase's
	MaxKeys      = 100_000_000
)

// Config is one workload against one target. Fields left zero take the
// documented default (see WithDefaults), except Addr, which is required.
type Config struct {
	// Addr is the target "host:port". Required.
	Addr string
	// Protocol is ProtocolBinary or ProtocolASCII. Default binary.
	Protocol string
	// Duration is the measured phase. Default 10s when Ops is 0; ignored
	// when Ops is set.
	Duration time.Duration
	// Ops, when > 0, ends the measured phase after this many operations
	// (split across connections) instead of after Duration.
	Ops int64
	// Warmup is how long the workload runs unrecorded before measuring,
	// after the keys are populated. Default 0 (no warm-up run).
	Warmup time.Duration
	// Conns is the number of connections, one goroutine each. Default 1.
	Conns int
	// Pipeline is the number of requests in flight per connection. Default 1.
	Pipeline int
	// Ratio is the fraction of operations that are gets, in [0, 1]; the rest
	// are sets. Default 0.9 unless RatioSet is true (so that 0 can mean
	// "all sets").
	Ratio    float64
	RatioSet bool
	// Keys is the number of distinct keys. Default 100000.
	Keys int
	// Dist is DistUniform or DistZipfian. Default uniform.
	Dist string
	// ValueSize is the value length in bytes for sets. Default 100.
	ValueSize int
	// Prefix starts every key. Default "vbbench:".
	Prefix string
	// NoPopulate skips storing every key before the run (then gets may miss).
	NoPopulate bool
	// Timeout bounds a dial and each wait for a reply. Default 5s.
	Timeout time.Duration
	// Seed seeds the key and operation choices; 0 means 1. Runs with the
	// same seed issue the same sequence per connection.
	Seed uint64
	// TLSCAFile, when set, makes every connection a TLS client connection
	// (TLS 1.2 at least) that trusts the PEM certificates in this file and
	// nothing else. Default "": plain TCP.
	TLSCAFile string
	// TLSServerName is the name the server's certificate must carry.
	// Default: the host of Addr. Needs TLSCAFile.
	TLSServerName string
}

// WithDefaults returns c with zero fields replaced by their defaults.
func (c Config) WithDefaults() Config {
	if c.Protocol == "" {
		c.Protocol = ProtocolBinary
	}
	if c.Duration == 0 && c.Ops == 0 {
		c.Duration = 10 * time.Second
	}
	if c.Conns == 0 {
		c.Conns = 1
	}
	if c.Pipeline == 0 {
		c.Pipeline = 1
	}
	if !c.RatioSet && c.Ratio == 0 {
		c.Ratio = 0.9
	}
	c.RatioSet = true
	if c.Keys == 0 {
		c.Keys = 100000
	}
	if c.Dist == "" {
		c.Dist = DistUniform
	}
	if c.ValueSize == 0 {
		c.ValueSize = 100
	}
	if c.Prefix == "" {
		c.Prefix = "vbbench:"
	}
	if c.Timeout == 0 {
		c.Timeout = 5 * time.Second
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	return c
}

func invalid(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalidConfig, field, fmt.Sprintf(format, args...))
}

// Validate checks c (after WithDefaults) and returns an error naming the
// first bad field, wrapping ErrInvalidConfig.
func (c Config) Validate() error {
	if c.Addr == "" {
		return invalid("addr", "required (host:port of the target)")
	}
	if _, port, err := net.SplitHostPort(c.Addr); err != nil || port == "" {
		return invalid("addr", "%q is not host:port", c.Addr)
	}
	switch c.Protocol {
	case ProtocolBinary, ProtocolASCII:
	default:
		return invalid("protocol", "%q is not %q or %q", c.Protocol, ProtocolBinary, ProtocolASCII)
	}
	if c.Duration < 0 {
		return invalid("duration", "must not be negative, got %s", c.Duration)
	}
	if c.Ops < 0 {
		return invalid("ops", "must not be negative, got %d", c.Ops)
	}
	if c.Duration == 0 && c.Ops == 0 {
		return invalid("duration", "set a duration or an op count")
	}
	if c.Warmup < 0 {
		return invalid("warmup", "must not be negative, got %s", c.Warmup)
	}
	if c.Conns < 1 || c.Conns > MaxConns {
		return invalid("conns", "must be in [1, %d], got %d", MaxConns, c.Conns)
	}
	if c.Pipeline < 1 || c.Pipeline > MaxPipeline {
		return invalid("pipeline", "must be in [1, %d], got %d", MaxPipeline, c.Pipeline)
	}
	if !(c.Ratio >= 0 && c.Ratio <= 1) { // also rejects NaN
		return invalid("ratio", "must be in [0, 1] (fraction of gets), got %v", c.Ratio)
	}
	if c.Keys < 1 || c.Keys > MaxKeys {
		return invalid("keys", "must be in [1, %d], got %d", MaxKeys, c.Keys)
	}
	switch c.Dist {
	case DistUniform, DistZipfian:
	default:
		return invalid("dist", "%q is not %q or %q", c.Dist, DistUniform, DistZipfian)
	}
	if c.ValueSize < 0 || c.ValueSize > MaxValueSize {
		return invalid("value-size", "must be in [0, %d], got %d", MaxValueSize, c.ValueSize)
	}
	if n := len(c.Prefix) + digits(c.Keys-1); n > memcached.MaxKeyLen {
		return invalid("prefix", "keys would be %d bytes, more than memcached's %d", n, memcached.MaxKeyLen)
	}
	if c.Protocol == ProtocolASCII && strings.ContainsFunc(c.Prefix, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return invalid("prefix", "%q has spaces or control characters, which the ASCII protocol cannot carry in a key", c.Prefix)
	}
	if c.Timeout < 0 {
		return invalid("timeout", "must not be negative, got %s", c.Timeout)
	}
	if c.Ops > 0 && c.Ops < int64(c.Conns) {
		return invalid("ops", "%d is fewer than the %d connections", c.Ops, c.Conns)
	}
	if c.TLSServerName != "" && c.TLSCAFile == "" {
		return invalid("tls-server-name", "%q needs tls-ca (the CA file that turns TLS on)", c.TLSServerName)
	}
	return nil
}

// digits returns the number of decimal digits of n (at least 1).
func digits(n int) int {
	d := 1
	for n >= 10 {
		n /= 10
		d++
	}
	return d
}
