package kubecheck

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
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
	ClusterTLS   ProxyClusterTLS
	AdminAddress string
	// AdminTLS is true when admin.tls serves the admin port over HTTPS.
	AdminTLS     bool
	DrainTimeout time.Duration // 0 when not set
	// Files are the certificate, key, CA and token files the config reads
	// (passwords aside: SecretRefs), in config order.
	Files []ConfigFile
}

// ProxyListener is one listeners[] entry.
type ProxyListener struct {
	Address string
	Bucket  string
	Users   []ProxySecretRef
	// TLS is true when the listener serves TLS (tls.cert_file is set).
	TLS bool
}

// ProxyClusterTLS is what the checks read of cluster.tls.
type ProxyClusterTLS struct {
	// On: cluster.tls.enabled, or an https:// seed.
	On                 bool
	InsecureSkipVerify bool
}

// FileKind says what a configured file holds, and so where it may come
// from: private keys and the admin token only from a Secret.
type FileKind uint8

const (
	FileCert  FileKind = iota // a certificate chain (public)
	FileKey                   // a private key
	FileCA                    // a CA bundle (public)
	FileToken                 // the admin bearer token
)

var fileKindNames = [...]string{FileCert: "certificate", FileKey: "private key", FileCA: "CA bundle", FileToken: "admin token"}

func (k FileKind) String() string { return fileKindNames[k] }

// Secret reports whether a file of this kind must come from a Secret.
func (k FileKind) Secret() bool { return k == FileKey || k == FileToken }

// ConfigFile is one file the vbproxy config names.
type ConfigFile struct {
	Field string // the config key, e.g. "listeners[1].tls.cert_file"
	Path  string
	Kind  FileKind
	// Of says what the file is for, so that checks know which certificate
	// must serve clients (ForListener) or authenticate to the cluster
	// (ForCluster).
	Of FileUse
}

// FileUse is what a configured file serves.
type FileUse uint8

const (
	ForListener FileUse = iota // a listener's tls: the clients' side
	ForCluster                 // cluster.tls: the proxy's side towards Couchbase
	ForAdmin                   // admin.token_file and admin.tls
)

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
		TLS struct {
			CertFile     string `json:"cert_file"`
			KeyFile      string `json:"key_file"`
			ClientCAFile string `json:"client_ca_file"`
		} `json:"tls"`
	} `json:"listeners"`
	Cluster struct {
		Seeds        []string `json:"seeds"`
		MapFile      string   `json:"map_file"`
		User         string   `json:"user"`
		PasswordFile string   `json:"password_file"`
		PasswordEnv  string   `json:"password_env"`
		Network      string   `json:"network"`
		TLS          struct {
			Enabled            bool   `json:"enabled"`
			CAFile             string `json:"ca_file"`
			ClientCertFile     string `json:"client_cert_file"`
			ClientKeyFile      string `json:"client_key_file"`
			InsecureSkipVerify bool   `json:"insecure_skip_verify"`
		} `json:"tls"`
	} `json:"cluster"`
	Admin struct {
		Address   string `json:"address"`
		TokenFile string `json:"token_file"`
		TLS       struct {
			CertFile string `json:"cert_file"`
			KeyFile  string `json:"key_file"`
		} `json:"tls"`
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
		AdminTLS:     raw.Admin.TLS.CertFile != "",
		ClusterTLS:   ProxyClusterTLS{On: raw.Cluster.TLS.Enabled, InsecureSkipVerify: raw.Cluster.TLS.InsecureSkipVerify},
	}
	file := func(field, path string, kind FileKind, of FileUse) {
		if path != "" {
			c.Files = append(c.Files, ConfigFile{Field: field, Path: path, Kind: kind, Of: of})
		}
	}
	for _, s := range raw.Cluster.Seeds {
		if strings.HasPrefix(s, "https://") {
			c.ClusterTLS.On = true
		}
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
		pl := ProxyListener{Address: l.Address, Bucket: l.Bucket, TLS: l.TLS.CertFile != ""}
		for _, u := range l.Users {
			pl.Users = append(pl.Users, ProxySecretRef(u))
		}
		c.Listeners = append(c.Listeners, pl)
		at := fmt.Sprintf("listeners[%d].tls.", i)
		file(at+"cert_file", l.TLS.CertFile, FileCert, ForListener)
		file(at+"key_file", l.TLS.KeyFile, FileKey, ForListener)
		file(at+"client_ca_file", l.TLS.ClientCAFile, FileCA, ForListener)
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
	ct := &raw.Cluster.TLS
	file("cluster.tls.ca_file", ct.CAFile, FileCA, ForCluster)
	file("cluster.tls.client_cert_file", ct.ClientCertFile, FileCert, ForCluster)
	file("cluster.tls.client_key_file", ct.ClientKeyFile, FileKey, ForCluster)
	file("admin.token_file", raw.Admin.TokenFile, FileToken, ForAdmin)
	file("admin.tls.cert_file", raw.Admin.TLS.CertFile, FileCert, ForAdmin)
	file("admin.tls.key_file", raw.Admin.TLS.KeyFile, FileKey, ForAdmin)
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
