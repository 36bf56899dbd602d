package bench

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestWithDefaults(t *testing.T) {
	got := Config{Addr: "h:1"}.WithDefaults()
	want := Config{Addr: "h:1", Protocol: ProtocolBinary, Duration: 10 * time.Second, Conns: 1, Pipeline: 1,
		Ratio: 0.9, RatioSet: true, Keys: 100000, Dist: DistUniform, ValueSize: 100, Prefix: "vbbench:",
		Timeout: 5 * time.Second, Seed: 1}
	if got != want {
		t.Errorf("WithDefaults() =\n%+v\nwant\n%+v", got, want)
	}
	if got := (Config{Ratio: 0, RatioSet: true}).WithDefaults().Ratio; got != 0 {
		t.Errorf("ratio 0 with RatioSet: got %v, want 0 (all sets)", got)
	}
	if got := (Config{Ops: 5}).WithDefaults().Duration; got != 0 {
		t.Errorf("duration with Ops set: got %v, want 0", got)
	}
	if err := (Config{Addr: "127.0.0.1:11211"}).WithDefaults().Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
}

func TestValidate(t *testing.T) {
	base := Config{Addr: "127.0.0.1:11211"}.WithDefaults()
	for _, tc := range []struct {
		name   string
		modify func(c *Config)
		field  string // "" means valid
	}{
		{"valid", func(c *Config) {}, ""},
		{"ipv6 addr", func(c *Config) { c.Addr = "[::1]:11211" }, ""},
		{"no addr", func(c *Config) { c.Addr = "" }, "addr"},
		{"addr without port", func(c *Config) { c.Addr = "localhost" }, "addr"},
		{"addr empty port", func(c *Config) { c.Addr = "localhost:" }, "addr"},
		{"protocol", func(c *Config) { c.Protocol = "text" }, "protocol"},
		{"negative duration", func(c *Config) { c.Duration = -time.Second }, "duration"},
		{"no duration no ops", func(c *Config) { c.Duration = 0 }, "duration"},
		{"ops only", func(c *Config) { c.Duration = 0; c.Ops = 10 }, ""},
		{"negative ops", func(c *Config) { c.Ops = -1 }, "ops"},
		{"ops fewer than conns", func(c *Config) { c.Ops = 3; c.Conns = 4 }, "ops"},
		{"negative warmup", func(c *Config) { c.Warmup = -1 }, "warmup"},
		{"zero conns", func(c *Config) { c.Conns = 0 }, "conns"},
		{"too many conns", func(c *Config) { c.Conns = MaxConns + 1 }, "conns"},
		{"zero pipeline", func(c *Config) { c.Pipeline = 0 }, "pipeline"},
		{"too deep pipeline", func(c *Config) { c.Pipeline = MaxPipeline + 1 }, "pipeline"},
		{"ratio above 1", func(c *Config) { c.Ratio = 1.5 }, "ratio"},
		{"ratio below 0", func(c *Config) { c.Ratio = -0.1 }, "ratio"},
		{"ratio NaN", func(c *Config) { c.Ratio = math.NaN() }, "ratio"},
		{"ratio 0", func(c *Config) { c.Ratio = 0 }, ""},
		{"ratio 1", func(c *Config) { c.Ratio = 1 }, ""},
		{"zero keys", func(c *Config) { c.Keys = 0 }, "keys"},
		{"dist", func(c *Config) { c.Dist = "normal" }, "dist"},
		{"negative value size", func(c *Config) { c.ValueSize = -1 }, "value-size"},
		{"value too large", func(c *Config) { c.ValueSize = MaxValueSize + 1 }, "value-size"},
		{"value size 0", func(c *Config) { c.ValueSize = 0 }, ""},
		{"key too long", func(c *Config) { c.Prefix = strings.Repeat("p", 246) }, "prefix"},
		{"key 251 bytes by index", func(c *Config) { c.Prefix = strings.Repeat("p", 245); c.Keys = 100001 }, "prefix"},
		{"key exactly 250", func(c *Config) { c.Prefix = strings.Repeat("p", 245); c.Keys = 100000 }, ""},
		{"ascii prefix with space", func(c *Config) { c.Protocol = ProtocolASCII; c.Prefix = "a b" }, "prefix"},
		{"binary prefix with space", func(c *Config) { c.Prefix = "a b" }, ""},
		{"negative timeout", func(c *Config) { c.Timeout = -1 }, "timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			tc.modify(&c)
			err := c.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want an error naming %q", tc.field)
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("error %v does not wrap ErrInvalidConfig", err)
			}
			if want := "bench: invalid config: " + tc.field + ":"; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error %q, want prefix %q", err, want)
			}
		})
	}
}

func TestDigits(t *testing.T) {
	for _, tc := range []struct{ n, want int }{{0, 1}, {9, 1}, {10, 2}, {99999, 5}, {100000, 6}} {
		if got := digits(tc.n); got != tc.want {
			t.Errorf("digits(%d) = %d, want %d", tc.n, got, tc.want)
		}
	}
}
