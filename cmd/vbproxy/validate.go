package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/vbproxy/vbproxy/vbmap"
)

// secrets are the passwords read from files and the environment. They are
// kept apart from Config so that printing or logging a Config never shows
// one.
type secrets struct {
	clusterPassword string
	users           []map[string]string // per listener: name to password
	adminToken      string              // admin.token_file's token, "" when none
	adminCert       *tls.Certificate    // admin.tls's pair, nil when none
}

// lookupEnv is os.LookupEnv; tests pass their own.
type lookupEnv func(string) (string, bool)

// validator collects every problem instead of stopping at the first.
type validator struct {
	errs []FieldError
	env  lookupEnv
}

func (v *validator) add(field, format string, args ...any) {
	v.errs = append(v.errs, FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
}

// validate checks cfg and reads the secrets it names.
func validate(cfg *Config, env lookupEnv) (secrets, []FieldError) {
	v := &validator{env: env}
	var s secrets
	v.listeners(cfg, &s)
	s.clusterPassword = v.cluster(&cfg.Cluster)
	v.positive("upstream.loops", cfg.Upstream.Loops)
	v.positive("upstream.pool_size", cfg.Upstream.PoolSize)
	v.positive("upstream.queue_size", cfg.Upstream.QueueSize)
	v.positiveDuration("upstream.connect_timeout", cfg.Upstream.ConnectTimeout)
	v.positiveDuration("upstream.operation_timeout", cfg.Upstream.OperationTimeout)
	if n := cfg.Limits.MaxConnections; n < 0 {
		v.add("limits.max_connections", "must be >= 0 (0 = unlimited), got %d", n)
	}
	v.positive("limits.max_request_size", cfg.Limits.MaxRequestSize)
	if d := cfg.Limits.IdleTimeout; d < 0 {
		v.add("limits.idle_timeout", "must be >= 0 (0 = none), got %s", d)
	}
	if d := cfg.Limits.ReplyHold; d < 0 || d > Duration(maxReplyHold) {
		v.add("limits.reply_hold", "must be between 0s (never wait) and %s, got %s", Duration(maxReplyHold), d)
	}
	if a := cfg.Admin.Address; a != "" {
		if v.address("admin.address", a) {
			for i, l := range cfg.Listeners {
				if sameAddress(a, l.Address) {
					v.add("admin.address", "%q is also listeners[%d].address", a, i)
				}
			}
		}
	}
	s.adminToken = v.adminToken(cfg.Admin.TokenFile)
	s.adminCert = v.adminTLS(&cfg.Admin.TLS)
	v.oneOf("log.level", cfg.Log.Level, "debug", "info", "warn", "error")
	v.oneOf("log.format", cfg.Log.Format, "text", "json")
	if d := cfg.Log.SlowRequest; d < 0 {
		v.add("log.slow_request", "must be >= 0 (0 = off), got %s", d)
	}
	v.positiveDuration("shutdown.drain_timeout", cfg.Shutdown.DrainTimeout)
	return s, v.errs
}

func (v *validator) listeners(cfg *Config, s *secrets) {
	if len(cfg.Listeners) == 0 {
		v.add("listeners", "at least one listener is required")
		return
	}
	s.users = make([]map[string]string, len(cfg.Listeners))
	for i, l := range cfg.Listeners {
		p := fmt.Sprintf("listeners[%d]", i)
		if l.Address == "" {
			v.add(p+".address", "required")
		} else if v.address(p+".address", l.Address) {
			for j := range i {
				if sameAddress(l.Address, cfg.Listeners[j].Address) {
					v.add(p+".address", "%q is also listeners[%d].address", l.Address, j)
					break
				}
			}
		}
		switch {
		case l.Bucket == "":
			v.add(p+".bucket", "required")
		case !validBucketName(l.Bucket):
			v.add(p+".bucket", "%q: bucket names have 1 to 100 letters, digits, '.', '_', '-' or '%%'", l.Bucket)
		}
		users := make(map[string]string, len(l.Users))
		for j, u := range l.Users {
			up := fmt.Sprintf("%s.users[%d]", p, j)
			if u.Name == "" {
				v.add(up+".name", "required")
			} else if _, dup := users[u.Name]; dup {
				v.add(up+".name", "user %q is listed twice", u.Name)
			}
			pw, ok := v.password(up, u.PasswordFile, u.PasswordEnv)
			if !ok && u.PasswordFile == "" && u.PasswordEnv == "" {
				v.add(up, "exactly one of password_file or password_env must be set")
			}
			if u.Name != "" {
				users[u.Name] = pw
			}
		}
		s.users[i] = users
		v.listenerOptions(p, &cfg.Listeners[i], users, plainNodes(&cfg.Cluster))
	}
}

// plainNodes reports whether the map names plain memcached servers: a
// map_file with neither cluster credentials nor a client certificate.
func plainNodes(c *ClusterConfig) bool {
	return c.MapFile != "" && c.User == "" && !certAuth(c)
}

// minAdminToken is the shortest admin token accepted: shorter ones can be
// guessed.
const minAdminToken = 16

// adminToken reads admin.token_file: one line of at least minAdminToken
// visible ASCII characters (it travels in an HTTP header).
func (v *validator) adminToken(file string) string {
	if file == "" {
		return ""
	}
	data, err := readFileMax(file, maxPasswordFile)
	if err != nil {
		v.add("admin.token_file", "%v", err)
		return ""
	}
	tok := strings.TrimRight(string(data), "\r\n")
	switch {
	case tok == "":
		v.add("admin.token_file", "%s is empty", file)
		return ""
	case len(tok) < minAdminToken:
		v.add("admin.token_file", "%s: the token has %d characters, want at least %d (a short token can be guessed)", file, len(tok), minAdminToken)
		return ""
	}
	for i := range len(tok) {
		if c := tok[i]; c < 0x21 || c > 0x7e {
			v.add("admin.token_file", "%s: the token must be one line of visible ASCII characters (byte %d is 0x%02x)", file, i, c)
			return ""
		}
	}
	return tok
}

// adminTLS loads admin.tls's certificate and key (both or neither).
func (v *validator) adminTLS(c *AdminTLSConfig) *tls.Certificate {
	switch {
	case c.CertFile == "" && c.KeyFile == "":
		return nil
	case c.CertFile == "":
		v.add("admin.tls.cert_file", "required with admin.tls.key_file")
		return nil
	case c.KeyFile == "":
		v.add("admin.tls.key_file", "required with admin.tls.cert_file")
		return nil
	}
	pair, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		v.add("admin.tls", "%s and %s: %v", c.CertFile, c.KeyFile, err)
		return nil
	}
	return &pair
}

// cluster checks the cluster section and returns the cluster password.
func (v *validator) cluster(c *ClusterConfig) string {
	switch {
	case len(c.Seeds) == 0 && c.MapFile == "":
		v.add("cluster", "exactly one of seeds or map_file must be set")
	case len(c.Seeds) > 0 && c.MapFile != "":
		v.add("cluster", "exactly one of seeds or map_file must be set, got both")
	}
	seedsOK := true
	for i, seed := range c.Seeds {
		seedsOK = v.seed(fmt.Sprintf("cluster.seeds[%d]", i), seed, c.ConfigSource) && seedsOK
	}
	v.clusterTLS(c, seedsOK)
	if c.MapFile != "" {
		if data, err := readFileMax(c.MapFile, vbmap.DefaultMaxConfigBytes); err != nil {
			v.add("cluster.map_file", "%v", err)
		} else if _, err := vbmap.Parse(data, vbmap.ParseOptions{Origin: vbmap.OriginStatic, Network: c.Network, TLS: clusterTLSOn(c)}); err != nil {
			v.add("cluster.map_file", "%s: %v", c.MapFile, err)
		}
	}
	v.oneOf("cluster.network", c.Network, vbmap.NetworkDefault, vbmap.NetworkExternal, vbmap.NetworkAuto)
	v.positiveDuration("cluster.poll_interval", c.PollInterval)
	v.oneOf("cluster.config_source", c.ConfigSource, vbmap.ConfigSourceAuto, vbmap.ConfigSourceHTTP, vbmap.ConfigSourceCCCP)
	v.positiveDuration("cluster.config_check_interval", c.ConfigCheckInterval)
	v.positiveDuration("cluster.silent_interval", c.SilentInterval)
	hasPassword := c.PasswordFile != "" || c.PasswordEnv != ""
	pw, _ := v.password("cluster", c.PasswordFile, c.PasswordEnv)
	switch {
	case c.User != "" && !hasPassword:
		v.add("cluster", "user %q has no password: set password_file or password_env", c.User)
	case c.User == "" && hasPassword:
		v.add("cluster.user", "required when a password is set")
	}
	return pw
}

// password reads the password named by file or env (at most one may be
// set) and reports whether it got one.
func (v *validator) password(prefix, file, env string) (string, bool) {
	switch {
	case file != "" && env != "":
		v.add(prefix, "exactly one of password_file or password_env must be set, got both")
		return "", false
	case file != "":
		data, err := readFileMax(file, maxPasswordFile)
		if err != nil {
			v.add(prefix+".password_file", "%v", err)
			return "", false
		}
		pw := strings.TrimRight(string(data), "\r\n")
		if pw == "" {
			v.add(prefix+".password_file", "%s is empty", file)
			return "", false
		}
		return pw, true
	case env != "":
		pw, ok := v.env(env)
		switch {
		case !ok:
			v.add(prefix+".password_env", "environment variable %s is not set", env)
			return "", false
		case pw == "":
			v.add(prefix+".password_env", "environment variable %s is empty", env)
			return "", false
		}
		return pw, true
	}
	return "", false
}

// seed checks one cluster.seeds entry and reports whether it is valid: a
// cluster manager URL, or (unless configSource is http) KV addresses.
func (v *validator) seed(field, seed, configSource string) bool {
	n := len(v.errs)
	if isKV, err := vbmap.CheckKVSeed(seed); isKV {
		switch {
		case err != nil:
			v.add(field, "%q: %v", seed, err)
		case configSource == vbmap.ConfigSourceHTTP:
			v.add(field, "%q is a KV address, but cluster.config_source is http (it needs http:// or https:// seeds; use auto or cccp)", seed)
		}
		return len(v.errs) == n
	}
	u, err := url.Parse(seed)
	switch {
	case err != nil:
		v.add(field, "%q is not a URL: %v", seed, unwrapURLError(err))
	case u.Scheme != "http" && u.Scheme != "https":
		v.add(field, "%q: want an http:// or https:// URL such as http://10.0.0.1:8091, or KV addresses such as couchbase://10.0.0.1 or 10.0.0.1:11210", seed)
	case u.Hostname() == "":
		v.add(field, "%q: no host", seed)
	case u.Port() != "" && !validPort(u.Port()):
		v.add(field, "%q: port %q is not a number from 1 to 65535", seed, u.Port())
	case u.Path != "" && u.Path != "/":
		v.add(field, "%q: want no path (the cluster manager's root, such as http://10.0.0.1:8091)", seed)
	}
	return len(v.errs) == n
}

// address checks a listen address and reports whether it is valid.
func (v *validator) address(field, addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.add(field, "%q: want host:port, such as 127.0.0.1:11211 or :11211 (%s)", addr, unwrapAddrError(err))
		return false
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		v.add(field, "%q: port %q is not a number from 0 to 65535", addr, port)
		return false
	}
	return true
}

func (v *validator) positive(field string, n int) {
	if n <= 0 {
		v.add(field, "must be > 0, got %d", n)
	}
}

func (v *validator) positiveDuration(field string, d Duration) {
	if d <= 0 {
		v.add(field, "must be > 0, got %s", time.Duration(d))
	}
}

func (v *validator) oneOf(field, got string, want ...string) {
	for _, w := range want {
		if got == w {
			return
		}
	}
	v.add(field, "%q: must be one of %s", got, strings.Join(want, ", "))
}

// sameAddress reports whether two valid listen addresses collide. Port 0
// (an ephemeral port) never collides.
func sameAddress(a, b string) bool {
	ha, pa, errA := net.SplitHostPort(a)
	hb, pb, errB := net.SplitHostPort(b)
	if errA != nil || errB != nil || pa != pb || pa == "0" {
		return false
	}
	wildcard := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	return ha == hb || wildcard(ha) || wildcard(hb)
}

// maxPasswordFile bounds a password file: anything longer is not one.
const maxPasswordFile = 64 << 10

// readFileMax reads a whole file of at most max bytes.
func readFileMax(path string, max int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, int64(max)+1))
	if err != nil {
		return nil, err
	}
	if len(data) > max {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, max)
	}
	return data, nil
}

func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535
}

func validBucketName(name string) bool {
	if len(name) > 100 {
		return false
	}
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			r == '.' || r == '_' || r == '-' || r == '%'
		if !ok {
			return false
		}
	}
	return true
}

func unwrapAddrError(err error) string {
	if ae, ok := err.(*net.AddrError); ok {
		return ae.Err
	}
	return err.Error()
}

func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}
