package main

import (
	"crypto/tls"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vbproxy/vbproxy/internal/certs"
	"github.com/vbproxy/vbproxy/proxy"
	"github.com/vbproxy/vbproxy/proxy/edge"
)

// TestConfigListenerKeysGood: every listener key and cluster.tls, set, is
// read and turned into the proxy.Listener and edge.Options the start uses.
func TestConfigListenerKeysGood(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t, "CA")
	_, certFile, keyFile := issue(t, ca, dir, "server", certs.Options{Hosts: []string{"127.0.0.1"}})
	caFile := writeCAFile(t, ca, dir, "ca")
	_, clientCert, clientKey := issue(t, ca, dir, "client", certs.Options{CommonName: "vbproxy", Client: true})
	text := `
listeners:
  - address: 127.0.0.1:11211
    bucket: default
    protocols: text
    collection: inventory.hotels
    read_replicas: on_failure
    proxy_protocol: required
    trusted_cidrs: [10.0.0.0/8, 192.168.1.7, "2001:db8::/32"]
    header_timeout: 2s
    handshake_timeout: 3s
    tls:
      cert_file: ` + certFile + `
      key_file: ` + keyFile + `
      client_ca_file: ` + caFile + `
      client_auth: require
      min_version: "1.3"
      cert_users: [{match: "cn:app", user: app}, {match: "uri:spiffe://example.org/app", user: app}]
    users: [{name: app, password_env: APP}]
  - address: 127.0.0.1:11212
    bucket: default
cluster:
  seeds: [https://cb1.example.com:18091, https://cb2.example.com]
  tls:
    ca_file: ` + caFile + `
    server_name: cb.example.com
    client_cert_file: ` + clientCert + `
    client_key_file: ` + clientKey + `
    scram_over_tls: true
`
	c, s, errs := checkYAML(t, text, map[string]string{"APP": "app-pw"})
	if len(errs) > 0 {
		t.Fatalf("errors: %q", errs)
	}
	l := &c.Listeners[0]
	pl := proxyListener(l, s.users[0], nil)
	if pl.Protocols != proxy.ProtocolsText || pl.Collection != "inventory.hotels" || pl.ReadReplicas != proxy.ReplicasOnFailure || pl.Users["app"] != "app-pw" {
		t.Errorf("proxy.Listener: got %+v", pl)
	}
	if !needsEdge(l) || needsEdge(&c.Listeners[1]) {
		t.Errorf("needsEdge: got %v %v, want true (PROXY, TLS) and false (plain)", needsEdge(l), needsEdge(&c.Listeners[1]))
	}
	o, err := edgeOptions(l)
	if err != nil {
		t.Fatal(err)
	}
	if o.ProxyProtocol != edge.ProxyRequired || len(o.TrustedCIDRs) != 3 || o.TrustedCIDRs[1].String() != "192.168.1.7/32" ||
		o.HeaderTimeout != 2*time.Second || o.HandshakeTimeout != 3*time.Second {
		t.Errorf("edge.Options: got %+v", o)
	}
	if o.TLS == nil || o.TLS.CertFile != certFile || o.TLS.ClientAuth != "require" || o.TLS.MinVersion != tls.VersionTLS13 ||
		len(o.TLS.CertUsers) != 2 || o.TLS.CertUsers[1] != (edge.CertUser{Match: "uri:spiffe://example.org/app", User: "app"}) {
		t.Errorf("edge.TLSOptions: got %+v", o.TLS)
	}
	p1 := proxyListener(&c.Listeners[1], nil, nil)
	if p1.Protocols != proxy.ProtocolsBoth || p1.Collection != "" || p1.ReadReplicas != proxy.ReplicasNever {
		t.Errorf("defaults: got %+v, want both, the default collection, never", p1)
	}
	if !clusterTLSOn(&c.Cluster) || !certAuth(&c.Cluster) {
		t.Errorf("cluster TLS: on %v cert auth %v, want both (https seeds, client_cert_file)", clusterTLSOn(&c.Cluster), certAuth(&c.Cluster))
	}
	base, err := buildClusterTLS(&c.Cluster, nil)
	if err != nil || base == nil || base.ServerName != "cb.example.com" || base.RootCAs == nil || base.GetClientCertificate == nil {
		t.Errorf("cluster tls.Config: got %+v, %v", base, err)
	}
}

// TestConfigListenerKeysBad pins the error for each new key, named by its
// field.
func TestConfigListenerKeysBad(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t, "CA")
	_, certFile, keyFile := issue(t, ca, dir, "server", certs.Options{Hosts: []string{"127.0.0.1"}})
	_, _, otherKey := issue(t, ca, dir, "other", certs.Options{Hosts: []string{"127.0.0.1"}})
	caFile := writeCAFile(t, ca, dir, "ca")
	missing := filepath.Join(dir, "nope.pem")
	mapFile := writeFile(t, dir, "map.json", `{"vBucketServerMap":{"hashAlgorithm":"CRC","numReplicas":0,"serverList":["127.0.0.1:11211"],"vBucketMap":[[0]]}}`)
	pair := "cert_file: " + certFile + ", key_file: " + keyFile
	listener := func(keys string) string {
		return "listeners:\n  - {address: \":1\", bucket: b, " + keys + "}\ncluster: {seeds: [http://h:8091]}\n"
	}
	tests := []struct {
		name string
		text string
		want string
	}{
		{"protocols", listener("protocols: tcp"), `listeners[0].protocols: "tcp": must be one of both, binary, text`},
		{"read_replicas", listener("read_replicas: always"), `listeners[0].read_replicas: "always": must be one of never, on_failure`},
		{"read_replicas on plain memcached", "listeners: [{address: \":1\", bucket: b, read_replicas: on_failure}]\ncluster: {map_file: " + mapFile + "}\n",
			"listeners[0].read_replicas: on_failure needs a Couchbase bucket: plain memcached servers (cluster.map_file without cluster.user) have no replicas"},
		{"collection without scope", listener("collection: hotels"), `listeners[0].collection: "hotels": want scope.collection, such as inventory.hotels (default _default._default)`},
		{"collection name", listener("collection: inventory._hotels"), `listeners[0].collection: "inventory._hotels": "_hotels": names may not start with '_' or '%' (only _default does)`},
		{"collection characters", listener("collection: \"inventory.ho tels\""), `listeners[0].collection: "inventory.ho tels": "ho tels": names have letters, digits, '_', '-' or '%'`},
		{"collection on plain memcached", "listeners: [{address: \":1\", bucket: b, collection: a.b}]\ncluster: {map_file: " + mapFile + "}\n",
			`listeners[0].collection: "a.b": collections need a Couchbase bucket: plain memcached servers (cluster.map_file without cluster.user) have none`},
		{"proxy_protocol true", "listeners:\n  - address: \":1\"\n    bucket: b\n    proxy_protocol: true\ncluster: {seeds: [http://h:8091]}\n",
			"listeners[0].proxy_protocol: true is no longer accepted: use optional with trusted_cidrs (the load balancers' addresses), or required (line 4)"},
		{"proxy_protocol false", listener("proxy_protocol: false"), "listeners[0].proxy_protocol: false is no longer accepted: use off (the default) (line 2)"},
		{"proxy_protocol list", "listeners:\n  - address: \":1\"\n    bucket: b\n    proxy_protocol: [v1]\ncluster: {seeds: [http://h:8091]}\n",
			"listeners[0].proxy_protocol: want off, optional or required (line 4)"},
		{"proxy_protocol word", listener("proxy_protocol: sometimes"), `listeners[0].proxy_protocol: "sometimes": must be one of off, optional, required`},
		{"trusted_cidrs missing", listener("proxy_protocol: optional"),
			"listeners[0].trusted_cidrs: required with proxy_protocol optional (the load balancers' addresses; 0.0.0.0/0 and ::/0 trust every source)"},
		{"trusted_cidrs without proxy_protocol", listener("trusted_cidrs: [10.0.0.0/8]"),
			"listeners[0].trusted_cidrs: set but proxy_protocol is off (set it to optional or required)"},
		{"trusted_cidrs entry", listener("proxy_protocol: required, trusted_cidrs: [10.0.0.0/8, lb.example.com]"),
			`listeners[0].trusted_cidrs[1]: "lb.example.com" is neither an address nor a prefix`},
		{"header_timeout", listener("header_timeout: -1s"), "listeners[0].header_timeout: must be >= 0 (0 = the default), got -1s"},
		{"handshake_timeout", listener("handshake_timeout: soon"),
			`listeners[0].handshake_timeout: invalid duration "soon": want a number with a unit (ns, us, ms, s, m, h), such as "2.5s" (line 2)`},
		{"tls cert_file missing", listener("tls: {cert_file: " + missing + ", key_file: " + keyFile + "}"),
			"listeners[0].tls.cert_file: open " + missing + ": no such file or directory"},
		{"tls key_file required", listener("tls: {cert_file: " + certFile + "}"), "listeners[0].tls.key_file: required"},
		{"tls pair mismatch", listener("tls: {cert_file: " + certFile + ", key_file: " + otherKey + "}"),
			"listeners[0].tls.cert_file: " + certFile + " and " + otherKey + ": tls: private key does not match public key"},
		{"tls client_auth", listener("tls: {" + pair + ", client_auth: maybe}"), `listeners[0].tls.client_auth: "maybe": must be one of none, request, require`},
		{"tls client_auth on a plain listener", listener("tls: {client_auth: sometimes}"), `listeners[0].tls.client_auth: "sometimes": must be one of none, request, require`},
		{"tls client_ca_file required", listener("tls: {" + pair + ", client_auth: require}"), "listeners[0].tls.client_ca_file: required with client_auth require"},
		{"tls client_ca_file without client_auth", listener("tls: {" + pair + ", client_ca_file: " + caFile + "}"),
			"listeners[0].tls.client_ca_file: set but client_auth is none (use request or require)"},
		{"tls min_version", listener("tls: {" + pair + ", min_version: \"1.1\"}"),
			"listeners[0].tls.min_version: TLS 1.1 is not supported (RFC 8996 deprecates it): use 1.2 or 1.3"},
		{"tls min_version on a plain listener", listener("tls: {min_version: \"2\"}"), `listeners[0].tls.min_version: unknown TLS version "2": use 1.2 or 1.3`},
		{"tls cert_users user", listener("users: [{name: app, password_env: A}], tls: {" + pair + ", client_auth: require, client_ca_file: " + caFile +
			", cert_users: [{match: \"cn:x\", user: ghost}]}"),
			`listeners[0].tls.cert_users[0].user: "ghost" is not one of this listener's users (listeners[].users)`},
		{"tls cert_users match", listener("users: [{name: app, password_env: A}], tls: {" + pair + ", client_auth: require, client_ca_file: " + caFile +
			", cert_users: [{match: \"serial:12\", user: app}]}"),
			`listeners[0].tls.cert_users[0].match: unknown field "serial": want cn, dns, email or uri`},
		{"tls cert_users without client certificates", listener("users: [{name: app, password_env: A}], tls: {" + pair + ", cert_users: [{match: \"cn:x\", user: app}]}"),
			"listeners[0].tls.cert_users: client certificates are not requested (set client_auth to request or require)"},
		{"tls unknown key", "listeners:\n  - address: \":1\"\n    bucket: b\n    tls: {cert: x}\ncluster: {seeds: [http://h:8091]}\n",
			"listeners[0].tls.cert: unknown field (line 4); valid fields here: cert_file, key_file, client_ca_file, client_auth, min_version, cert_users"},

		{"cluster tls enabled with http seeds", "listeners: [{address: \":1\", bucket: b}]\ncluster: {seeds: [http://h:8091], tls: {enabled: true}}\n",
			"cluster.seeds: TLS is set but the seeds are http (use https:// seeds)"},
		{"cluster seeds mixed", "listeners: [{address: \":1\", bucket: b}]\ncluster: {seeds: [http://h:8091, https://g:18091]}\n",
			"cluster.seeds: seeds mix http and https"},
		{"cluster tls ca_file missing", "listeners: [{address: \":1\", bucket: b}]\ncluster: {seeds: [https://h:18091], tls: {ca_file: " + missing + "}}\n",
			"cluster.tls.ca_file: open " + missing + ": no such file or directory"},
		{"cluster tls off", "listeners: [{address: \":1\", bucket: b}]\ncluster: {seeds: [http://h:8091], tls: {ca_file: " + caFile + "}}\n",
			"cluster.tls.ca_file: set but cluster.tls.enabled is false"},
		{"cluster tls client key", "listeners: [{address: \":1\", bucket: b}]\ncluster: {seeds: [https://h:18091], tls: {client_cert_file: " + certFile + "}}\n",
			"cluster.tls.client_key_file: required with client_cert_file"},
		{"cluster tls insecure with a CA", "listeners: [{address: \":1\", bucket: b}]\ncluster: {seeds: [https://h:18091], tls: {ca_file: " + caFile + ", insecure_skip_verify: true}}\n",
			"cluster.tls.insecure_skip_verify: cannot be combined with ca_file (a CA that is never checked)"},
		{"cluster tls server_name", "listeners: [{address: \":1\", bucket: b}]\ncluster: {seeds: [https://h:18091], tls: {server_name: \"cb:18091\"}}\n",
			`cluster.tls.server_name: "cb:18091" is not a host name`},
		{"cluster scram_over_tls without TLS", "listeners: [{address: \":1\", bucket: b}]\ncluster: {seeds: [http://h:8091], tls: {scram_over_tls: true}}\n",
			"cluster.tls.scram_over_tls: set but cluster TLS is off (set cluster.tls.enabled, or use https:// seeds)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, got := checkYAML(t, tt.text, map[string]string{"A": "a"})
			if strings.Join(got, "\n") != tt.want {
				t.Errorf("errors:\n  got:  %q\n  want: %q", got, tt.want)
			}
		})
	}
}

// TestClusterCAFileFlag: -cluster-ca-file turns cluster TLS on with that CA;
// with http seeds the seeds are the error.
func TestClusterCAFileFlag(t *testing.T) {
	dir := t.TempDir()
	caFile := writeCAFile(t, newCA(t, "CA"), dir, "ca")
	listeners := "listeners: [{address: \":1\", bucket: b}]\n"
	c, _, errs := checkYAML(t, listeners+"cluster: {seeds: [https://h:18091]}\n", nil, "-cluster-ca-file", caFile)
	if len(errs) > 0 || !c.Cluster.TLS.Enabled || c.Cluster.TLS.CAFile != caFile {
		t.Errorf("https seeds: got tls %+v, errors %q; want enabled with %s", c.Cluster.TLS, errs, caFile)
	}
	_, _, errs = checkYAML(t, listeners+"cluster: {seeds: [http://h:8091]}\n", nil, "-cluster-ca-file", caFile)
	if want := "cluster.seeds: TLS is set but the seeds are http (use https:// seeds)"; strings.Join(errs, "\n") != want {
		t.Errorf("http seeds: got %q, want %q", errs, want)
	}
}
