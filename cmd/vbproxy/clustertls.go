package main

import (
	"crypto/tls"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/vbproxy/vbproxy/internal/tlsconf"
	"github.com/vbproxy/vbproxy/vbmap"
)

// Cluster TLS (cluster.tls). One base *tls.Config, built by
// tlsconf.BuildClusterTLS, serves both sides of the cluster: the map
// source's HTTPS client (vbmap.SourceOptions.TLSConfig) and every KV
// connection (proxy.Options.UpstreamTLS, which dials with tlsconf.ForAddr so
// each node's certificate is checked against the address dialled). https
// seeds turn TLS on by themselves; with it the map names the nodes' kvSSL
// ports. A client certificate authenticates the proxy to the nodes: KV
// connections then skip SASL (Couchbase refuses SASL on a connection a
// certificate authenticated), and cluster.user, when set, is used only for
// the cluster manager's HTTP Basic authentication.

// clusterTLSOn reports whether the cluster connections use TLS.
func clusterTLSOn(c *ClusterConfig) bool { return c.TLS.Enabled || httpsSeeds(c.Seeds) }

// httpsSeeds reports whether any seed is a TLS one: an https URL, or KV
// addresses couchbases://... or host:11207.
func httpsSeeds(seeds []string) bool {
	for _, s := range seeds {
		s = strings.TrimSpace(s)
		if u, err := url.Parse(s); err == nil && (u.Scheme == "https" || strings.EqualFold(u.Scheme, "couchbases")) {
			return true
		}
		if _, port, err := net.SplitHostPort(s); err == nil && !strings.Contains(s, "://") && port == strconv.Itoa(vbmap.DefaultKVTLSPort) {
			return true
		}
	}
	return false
}

// certAuth reports whether the proxy authenticates to the nodes with a
// client certificate.
func certAuth(c *ClusterConfig) bool { return c.TLS.ClientCertFile != "" }

// clusterTLSOptions is cluster.tls as tlsconf takes it.
func clusterTLSOptions(c *ClusterConfig, log *slog.Logger) tlsconf.ClusterTLS {
	t := c.TLS
	return tlsconf.ClusterTLS{
		Enabled: clusterTLSOn(c), CAFile: t.CAFile, ServerName: t.ServerName,
		ClientCertFile: t.ClientCertFile, ClientKeyFile: t.ClientKeyFile,
		InsecureSkipVerify: t.InsecureSkipVerify, Logger: log,
	}
}

// buildClusterTLS returns the base config, nil when TLS is off.
func buildClusterTLS(c *ClusterConfig, log *slog.Logger) (*tls.Config, error) {
	return tlsconf.BuildClusterTLS(clusterTLSOptions(c, log))
}

// clusterTLS checks cluster.tls, and the seeds against it as the map
// source will (no I/O): mixing http and https seeds, or enabled with http
// seeds, is an error naming cluster.seeds. seedsOK says every seed parsed.
func (v *validator) clusterTLS(c *ClusterConfig, seedsOK bool) {
	if _, err := buildClusterTLS(c, nil); err != nil {
		v.errs = append(v.errs, fieldOf("", err))
	}
	if c.TLS.SCRAMOverTLS && !clusterTLSOn(c) {
		v.add("cluster.tls.scram_over_tls", "set but cluster TLS is off (set cluster.tls.enabled, or use https:// seeds)")
	}
	if !seedsOK || len(c.Seeds) == 0 {
		return
	}
	_, err := vbmap.NewSource(vbmap.SourceOptions{Seeds: c.Seeds, Bucket: "check", TLS: c.TLS.Enabled})
	if err != nil {
		v.add("cluster.seeds", "%s", strings.TrimPrefix(err.Error(), "vbmap: "))
	}
}
