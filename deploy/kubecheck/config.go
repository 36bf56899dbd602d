package kubecheck

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"sigs.k8s.io/yaml"
)

// ErrConfig: a vbproxy configuration lacks what the manifests rely on.
var ErrConfig = errors.New("kubecheck: vbproxy config")

// ProxyConfig is the part of a vbproxy YAML configuration (docs/design.md,
// "Configuration") that the manifests must agree with. Other keys are ignored
// here: `vbproxy -check-config` validates the whole file.
type ProxyConfig struct {
	Listeners    []ProxyListener
	Cluster      ProxySecretRef // cluster.password_file / password_env
	Seeds        []string
	MapFile      string
	Network      string
	AdminAddress string
	DrainTimeout time.Duration // 0 when not set
}

// ProxyListener is one listeners[] entry.
type ProxyListener struct {
	Address string
	Bucket  string
	Users   []ProxySecretRef
}

// ProxySecretRef says where a password comes from.
type ProxySecretRef struct {
	Name         string // user name
	PasswordFile string
	PasswordEnv  string
}

// rawProxyConfig mirrors the YAML keys the checks read.
type rawProxyConfig struct {
	Listeners []struct {
		Address string `json:"address"`
		Bucket  string `json:"bucket"`
		Users   []struct {
			Name         string `json:"name"`
			PasswordFile string `json:"password_file"`
			PasswordEnv  string `json:"password_env"`
		} `json:"users"`
	} `json:"listeners"`
	Cluster struct {
		Seeds        []string `json:"seeds"`
		MapFile      string   `json:"map_file"`
		User         string   `json:"user"`
		PasswordFile string   `json:"password_file"`
		PasswordEnv  string   `json:"password_env"`
		Network      string   `json:"network"`
	} `json:"cluster"`
	Admin struct {
		Address string `json:"address"`
	} `json:"admin"`
	Shutdown struct {
		DrainTimeout string `json:"drain_timeout"`
	} `json:"shutdown"`
}

// ParseProxyConfig reads the keys of a vbproxy configuration that the
// manifests depend on, and checks that they are usable inside a pod: at least
// one listener, every address with a port, and no listener or admin address
// bound to loopback (the kubelet and the Services reach the pod's IP).
func ParseProxyConfig(data []byte) (*ProxyConfig, error) {
	var raw rawProxyConfig
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	c := &ProxyConfig{
		Cluster: ProxySecretRef{
			Name:         raw.Cluster.User,
			PasswordFile: raw.Cluster.PasswordFile,
			PasswordEnv:  raw.Cluster.PasswordEnv,
		},
		Seeds:        raw.Cluster.Seeds,
		MapFile:      raw.Cluster.MapFile,
		Network:      raw.Cluster.Network,
		AdminAddress: raw.Admin.Address,
	}
	var errs []error
	if raw.Shutdown.DrainTimeout != "" {
		d, err := time.ParseDuration(raw.Shutdown.DrainTimeout)
		if err != nil || d < 0 {
			errs = append(errs, fmt.Errorf("%w: shutdown.drain_timeout: %q is not a duration", ErrConfig, raw.Shutdown.DrainTimeout))
		}
		c.DrainTimeout = d
	}
	if len(raw.Listeners) == 0 {
		errs = append(errs, fmt.Errorf("%w: listeners: none", ErrConfig))
	}
	seen := map[int]int{}
	for i, l := range raw.Listeners {
		pl := ProxyListener{Address: l.Address, Bucket: l.Bucket}
		for _, u := range l.Users {
			pl.Users = append(pl.Users, ProxySecretRef(u))
		}
		c.Listeners = append(c.Listeners, pl)
		port, err := podPort(l.Address)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: listeners[%d].address: %w", ErrConfig, i, err))
			continue
		}
		if j, dup := seen[port]; dup {
			errs = append(errs, fmt.Errorf("%w: listeners[%d].address: port %d already used by listeners[%d]", ErrConfig, i, port, j))
		}
		seen[port] = i
	}
	if port, err := podPort(raw.Admin.Address); err != nil {
		errs = append(errs, fmt.Errorf("%w: admin.address: %w", ErrConfig, err))
	} else if j, dup := seen[port]; dup {
		errs = append(errs, fmt.Errorf("%w: admin.address: port %d already used by listeners[%d]", ErrConfig, port, j))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// ListenerPorts returns each listener's port, in order.
func (c *ProxyConfig) ListenerPorts() []int {
	out := make([]int, len(c.Listeners))
	for i, l := range c.Listeners {
		out[i], _ = podPort(l.Address) // checked by ParseProxyConfig
	}
	return out
}

// AdminPort returns the admin listener's port.
func (c *ProxyConfig) AdminPort() int {
	p, _ := podPort(c.AdminAddress) // checked by ParseProxyConfig
	return p
}

// SecretRefs returns every password reference: the cluster's, then each
// listener user's.
func (c *ProxyConfig) SecretRefs() []ProxySecretRef {
	var out []ProxySecretRef
	if c.Cluster.PasswordEnv != "" || c.Cluster.PasswordFile != "" {
		out = append(out, c.Cluster)
	}
	for _, l := range c.Listeners {
		out = append(out, l.Users...)
	}
	return out
}

// podPort returns the port of a listen address that a pod can serve others
// on: host empty, 0.0.0.0 or ::, and a port in 1..65535.
func podPort(addr string) (int, error) {
	if addr == "" {
		return 0, errors.New("empty")
	}
	host, ps, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, fmt.Errorf("%q: %w", addr, err)
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port < 1 || port > 65535 {
		return 0, fmt.Errorf("%q: port %q is not in 1..65535", addr, ps)
	}
	switch host {
	case "", "0.0.0.0", "::":
	default:
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() || host == "localhost" {
			return 0, fmt.Errorf("%q: a loopback address is unreachable from outside the pod", addr)
		}
		return 0, fmt.Errorf("%q: bind all addresses (%q) in a pod: its IP is not known in advance", addr, ":"+ps)
	}
	return port, nil
}
