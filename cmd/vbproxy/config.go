package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/vbproxy/vbproxy/proxy"
)

// Config is the YAML configuration (docs/design.md "Configuration";
// vbproxy.example.yaml documents every field and its default).
type Config struct {
	Listeners []ListenerConfig `yaml:"listeners"`
	Cluster   ClusterConfig    `yaml:"cluster"`
	Upstream  UpstreamConfig   `yaml:"upstream"`
	Limits    LimitsConfig     `yaml:"limits"`
	Admin     AdminConfig      `yaml:"admin"`
	Log       LogConfig        `yaml:"log"`
	Shutdown  ShutdownConfig   `yaml:"shutdown"`
}

// ListenerConfig is one client-facing address serving one bucket.
type ListenerConfig struct {
	Address       string       `yaml:"address"`
	Bucket        string       `yaml:"bucket"`
	ProxyProtocol bool         `yaml:"proxy_protocol"`
	AllowFlush    bool         `yaml:"allow_flush"`
	Users         []UserConfig `yaml:"users"`
}

// UserConfig is a client SASL PLAIN user; the password comes from a file or
// an environment variable, never from the config itself.
type UserConfig struct {
	Name         string `yaml:"name"`
	PasswordFile string `yaml:"password_file"`
	PasswordEnv  string `yaml:"password_env"`
}

// ClusterConfig says where the vBucket map comes from and how to log in.
type ClusterConfig struct {
	Seeds        []string `yaml:"seeds"`
	MapFile      string   `yaml:"map_file"`
	User         string   `yaml:"user"`
	PasswordFile string   `yaml:"password_file"`
	PasswordEnv  string   `yaml:"password_env"`
	Network      string   `yaml:"network"`
	PollInterval Duration `yaml:"poll_interval"`
}

// UpstreamConfig tunes the connections to the nodes.
type UpstreamConfig struct {
	// Loops is the number of event loops (OS threads) of each listener's
	// data path; each has its own PoolSize connections to every node.
	Loops            int      `yaml:"loops"`
	PoolSize         int      `yaml:"pool_size"`
	QueueSize        int      `yaml:"queue_size"`
	ConnectTimeout   Duration `yaml:"connect_timeout"`
	OperationTimeout Duration `yaml:"operation_timeout"`
}

// LimitsConfig bounds what clients may do (per listener).
type LimitsConfig struct {
	MaxConnections int      `yaml:"max_connections"`
	MaxRequestSize int      `yaml:"max_request_size"`
	IdleTimeout    Duration `yaml:"idle_timeout"`
	// ReplyHold: how long the replies to a pipelined batch may wait for the
	// rest of it, to leave in one write. 0 = never wait.
	ReplyHold Duration `yaml:"reply_hold"`
}

// AdminConfig is the admin HTTP server.
type AdminConfig struct {
	Address string `yaml:"address"`
	Pprof   bool   `yaml:"pprof"`
	// TokenFile holds the bearer token that POST /reload, /debug/pprof/ and
	// key probes require; "" leaves them open. Re-read on config reload.
	TokenFile string         `yaml:"token_file"`
	TLS       AdminTLSConfig `yaml:"tls"`
}

// AdminTLSConfig serves the admin server over HTTPS when both files are set;
// the pair is re-read on config reload.
type AdminTLSConfig struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// LogConfig selects the log level and format, and the slow-request log.
type LogConfig struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
	// SlowRequest logs requests slower than this (0 = off);
	// SlowRequestKeys adds their keys to those lines.
	SlowRequest     Duration `yaml:"slow_request"`
	SlowRequestKeys bool     `yaml:"slow_request_keys"`
}

// ShutdownConfig bounds the graceful shutdown.
type ShutdownConfig struct {
	DrainTimeout Duration `yaml:"drain_timeout"`
}

// Defaults, also written in vbproxy.example.yaml.
const (
	defaultListen         = "127.0.0.1:11211"
	defaultBucket         = "default"
	defaultAdmin          = "127.0.0.1:8080"
	defaultNetwork        = "default"
	defaultPollInterval   = 10 * time.Second
	defaultLoops          = 1
	defaultPoolSize       = 2
	defaultQueueSize      = 4096
	defaultConnectTimeout = 2 * time.Second
	defaultOpTimeout      = 2500 * time.Millisecond
	defaultMaxConnections = 10000
	defaultMaxRequestSize = 20<<20 + 255
	maxReplyHold          = 100 * time.Millisecond // longer only delays replies
	defaultLogLevel       = "info"
	defaultLogFormat      = "text"
	defaultDrainTimeout   = 10 * time.Second
)

// DefaultConfig returns the configuration used for everything a file or the
// flags leave out. It has no listeners: a file must list them, and without a
// file the flags make one.
func DefaultConfig() Config {
	return Config{
		Cluster: ClusterConfig{Network: defaultNetwork, PollInterval: Duration(defaultPollInterval)},
		Upstream: UpstreamConfig{
			Loops: defaultLoops, PoolSize: defaultPoolSize, QueueSize: defaultQueueSize,
			ConnectTimeout: Duration(defaultConnectTimeout), OperationTimeout: Duration(defaultOpTimeout),
		},
		Limits:   LimitsConfig{MaxConnections: defaultMaxConnections, MaxRequestSize: defaultMaxRequestSize, ReplyHold: Duration(proxy.DefaultReplyHold)},
		Admin:    AdminConfig{Address: defaultAdmin},
		Log:      LogConfig{Level: defaultLogLevel, Format: defaultLogFormat},
		Shutdown: ShutdownConfig{DrainTimeout: Duration(defaultDrainTimeout)},
	}
}

// Duration is a time.Duration written as a Go duration string ("2.5s").
type Duration time.Duration

// UnmarshalYAML parses a duration string. Its errors are yaml.TypeErrors so
// that decoding goes on and every error is reported.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: want a duration such as \"2.5s\"", n.Line)}}
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: invalid duration %q: want a number with a unit (ns, us, ms, s, m, h), such as \"2.5s\"", n.Line, n.Value)}}
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// String returns the Go duration string.
func (d Duration) String() string { return time.Duration(d).String() }

// FieldError is one configuration problem: the field path
// ("listeners[1].bucket") and what is wrong.
type FieldError struct {
	Field string // "" when the problem is not tied to a field (YAML syntax)
	Msg   string
}

func (e FieldError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

// ConfigError lists every problem found in a configuration.
type ConfigError struct {
	Errors []FieldError
}

func (e *ConfigError) Error() string {
	lines := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		lines[i] = fe.Error()
	}
	return strings.Join(lines, "\n")
}

// decodeConfig reads YAML onto cfg (which holds the defaults), rejecting
// unknown keys. It reports every problem the decoder finds, each with its
// field path and line; fatal means cfg cannot be trusted (not YAML, or a
// key set twice), so validating it would only add noise.
func decodeConfig(data []byte, cfg *Config) (errs []FieldError, fatal bool) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return []FieldError{{Msg: "YAML syntax: " + strings.TrimPrefix(err.Error(), "yaml: ")}}, true
	}
	paths := fieldPaths(&root)

	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(cfg)
	var te *yaml.TypeError
	switch {
	case err == nil, errors.Is(err, io.EOF):
	case errors.As(err, &te):
		for _, msg := range te.Errors {
			fe, f := readableYAMLError(msg, paths)
			errs = append(errs, fe)
			fatal = fatal || f
		}
	default:
		return []FieldError{{Msg: "YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}}, true
	}
	if err == nil {
		var extra yaml.Node
		if dec.Decode(&extra) == nil {
			errs = append(errs, FieldError{Msg: fmt.Sprintf("line %d: a second YAML document; the file must hold exactly one", extra.Line)})
		}
	}
	return errs, fatal
}

// loadConfigFile reads the file at path onto cfg.
func loadConfigFile(path string, cfg *Config) ([]FieldError, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return []FieldError{{Msg: err.Error()}}, true
	}
	return decodeConfig(data, cfg)
}

// dropCovered removes the validation errors about fields a decoding error
// already reported (a field that failed to decode kept its default, which
// may look wrong too).
func dropCovered(verrs, decoded []FieldError) []FieldError {
	out := verrs[:0:0]
next:
	for _, v := range verrs {
		for _, d := range decoded {
			if d.Field != "" && (v.Field == d.Field || strings.HasPrefix(v.Field, d.Field+".") || strings.HasPrefix(v.Field, d.Field+"[")) {
				continue next
			}
		}
		out = append(out, v)
	}
	return out
}
