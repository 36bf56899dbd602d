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
	"github.com/vbproxy/vbproxy/vbmap"
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

// ListenerConfig is one client-facing address serving one bucket (and one
// collection of it). Listeners of the same bucket share one proxy.Server:
// its event loops and upstream connections. Empty strings and zero
// durations mean the defaults written in vbproxy.example.yaml.
type ListenerConfig struct {
	Address string `yaml:"address"`
	Bucket  string `yaml:"bucket"`
	// Protocols is both (default), binary or text.
	Protocols string `yaml:"protocols"`
	// Collection is "scope.collection"; default _default._default.
	Collection string `yaml:"collection"`
	// ReadReplicas is never (default) or on_failure.
	ReadReplicas string `yaml:"read_replicas"`
	// ProxyProtocol is off (default), optional or required; TrustedCIDRs
	// are the sources allowed to send a header.
	ProxyProtocol ProxyMode `yaml:"proxy_protocol"`
	TrustedCIDRs  []string  `yaml:"trusted_cidrs"`
	// HeaderTimeout bounds the wait for a PROXY header (default 5s);
	// HandshakeTimeout bounds the TLS handshake (default 10s).
	HeaderTimeout    Duration          `yaml:"header_timeout"`
	HandshakeTimeout Duration          `yaml:"handshake_timeout"`
	TLS              ListenerTLSConfig `yaml:"tls"`
	AllowFlush       bool              `yaml:"allow_flush"`
	Users            []UserConfig      `yaml:"users"`
}

// ListenerTLSConfig makes a listener a TLS listener when CertFile and
// KeyFile are set. The files are re-read when they change.
type ListenerTLSConfig struct {
	CertFile     string `yaml:"cert_file"`
	KeyFile      string `yaml:"key_file"`
	ClientCAFile string `yaml:"client_ca_file"`
	// ClientAuth is none (default), request or require.
	ClientAuth string `yaml:"client_auth"`
	// MinVersion is "1.2" (default) or "1.3".
	MinVersion string `yaml:"min_version"`
	// CertUsers map verified client certificates to users of the listener.
	CertUsers []CertUserConfig `yaml:"cert_users"`
}

// enabled reports whether the listener is a TLS listener: a file, a
// client_auth other than none or a cert_users rule is set (then cert_file
// and key_file are required). min_version and client_auth none alone, the
// defaults written out, leave it plain.
func (c *ListenerTLSConfig) enabled() bool {
	return c.CertFile != "" || c.KeyFile != "" || c.ClientCAFile != "" ||
		(c.ClientAuth != "" && c.ClientAuth != "none") || len(c.CertUsers) > 0
}

// CertUserConfig maps client certificates ("cn:NAME", "dns:NAME",
// "email:ADDR", "uri:URI") to a configured user of the listener.
type CertUserConfig struct {
	Match string `yaml:"match"`
	User  string `yaml:"user"`
}

// ProxyMode is listeners[].proxy_protocol: off, optional or required. It
// is a string type of its own so that a YAML boolean, the key's type before
// PROXY v2 and trusted_cidrs, is refused with what to write instead.
type ProxyMode string

// UnmarshalYAML refuses booleans and non-scalars; the word itself is
// checked by validate. Errors are yaml.TypeErrors naming the key, so that
// decoding goes on and every error is reported.
func (m *ProxyMode) UnmarshalYAML(n *yaml.Node) error {
	switch {
	case n.Kind != yaml.ScalarNode:
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: proxy_protocol: want off, optional or required", n.Line)}}
	case n.Tag == "!!bool" && (n.Value == "true" || n.Value == "True" || n.Value == "TRUE"):
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: proxy_protocol: %s is no longer accepted: "+
			"use optional with trusted_cidrs (the load balancers' addresses), or required", n.Line, n.Value)}}
	case n.Tag == "!!bool":
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: proxy_protocol: %s is no longer accepted: use off (the default)", n.Line, n.Value)}}
	}
	*m = ProxyMode(n.Value)
	return nil
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
	// ConfigSource is where the map comes from: auto (the KV nodes, CCCP,
	// with the cluster manager's stream beside it), http or cccp.
	ConfigSource string `yaml:"config_source"`
	// ConfigCheckInterval is the revision check on the KV config
	// connection; SilentInterval restarts a config source that delivers
	// nothing while the cluster is known to have moved.
	ConfigCheckInterval Duration `yaml:"config_check_interval"`
	SilentInterval      Duration `yaml:"silent_interval"`
	// TLS is the connections to the cluster: https seeds imply it.
	TLS ClusterTLSConfig `yaml:"tls"`
}

// ClusterTLSConfig is cluster.tls: TLS to the cluster manager and to the
// nodes' kvSSL ports.
type ClusterTLSConfig struct {
	// Enabled turns TLS on; https seeds turn it on by themselves.
	Enabled bool `yaml:"enabled"`
	// CAFile is the PEM bundle the nodes' certificates are verified
	// against; "" is the system pool.
	CAFile string `yaml:"ca_file"`
	// ServerName overrides the name every node's certificate must carry;
	// "" is the host dialled.
	ServerName string `yaml:"server_name"`
	// ClientCertFile and ClientKeyFile authenticate the proxy to the
	// nodes by certificate: KV connections then skip SASL.
	ClientCertFile string `yaml:"client_cert_file"`
	ClientKeyFile  string `yaml:"client_key_file"`
	// InsecureSkipVerify accepts any node certificate (a warning at start
	// and on /readyz).
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// SCRAMOverTLS prefers SCRAM to PLAIN over TLS.
	SCRAMOverTLS bool `yaml:"scram_over_tls"`
}

// UpstreamConfig tunes the connections to the nodes.
type UpstreamConfig struct {
	// Loops is the number of event loops (OS threads) of each bucket's
	// data path (its listeners share them); each has its own PoolSize
	// connections to every node.
	Loops            int      `yaml:"loops"`
	PoolSize         int      `yaml:"pool_size"`
	QueueSize        int      `yaml:"queue_size"`
	ConnectTimeout   Duration `yaml:"connect_timeout"`
	OperationTimeout Duration `yaml:"operation_timeout"`
}

// LimitsConfig bounds what clients may do (per bucket: its listeners share
// one proxy.Server).
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
		Cluster: ClusterConfig{
			Network: defaultNetwork, PollInterval: Duration(defaultPollInterval), ConfigSource: vbmap.ConfigSourceAuto,
			ConfigCheckInterval: Duration(vbmap.DefaultConfigCheckInterval), SilentInterval: Duration(vbmap.DefaultSilentInterval),
		},
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
