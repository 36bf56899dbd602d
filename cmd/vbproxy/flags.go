package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// trustAllCIDRs are the trusted_cidrs of -proxy-protocol: every source.
var trustAllCIDRs = []string{"0.0.0.0/0", "::/0"}

// options are the command line flags.
type options struct {
	config      string
	checkConfig string
	version     bool

	listen, bucket            string
	cluster                   stringList
	mapFile                   string
	user                      string
	passwordFile, passwordEnv string
	network                   string
	clusterCAFile             string
	admin                     string
	allowFlush, proxyProtocol bool
	poolSize                  int
	loops                     int
	logLevel, logFormat       string
	set                       map[string]bool // flags given on the command line
}

// stringList is a repeatable flag of seeds whose values may also be comma
// separated. As in a Couchbase connection string, the hosts that follow a
// couchbase:// or couchbases:// seed without a scheme of their own belong
// to its host list: "couchbase://a,b" is one seed of two KV hosts.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }

func (s *stringList) Set(v string) error {
	hostList := false // the last part added is a couchbase(s):// seed
	for part := range strings.SplitSeq(v, ",") {
		part = strings.TrimSpace(part)
		switch {
		case part == "":
		case hostList && !strings.Contains(part, "://"):
			(*s)[len(*s)-1] += "," + part
		default:
			*s = append(*s, part)
			scheme, _, _ := strings.Cut(strings.ToLower(part), "://")
			hostList = scheme == "couchbase" || scheme == "couchbases"
		}
	}
	return nil
}

const usageHeader = `Usage:
  vbproxy -config vbproxy.yaml [flags]
  vbproxy -listen 127.0.0.1:11211 -cluster http://127.0.0.11:8091 -bucket default \
          -user Administrator -password-file FILE -admin 127.0.0.1:8080
  vbproxy -listen 127.0.0.1:11211 -map map.json        (static map, plain memcached nodes)
  vbproxy -check-config vbproxy.yaml
  vbproxy -version

vbproxy lets memcached binary-protocol clients use a Couchbase bucket through
one address. Flags override the configuration file (see vbproxy.example.yaml).
-listen and -bucket set the first listener (without -config they make it,
defaulting to 127.0.0.1:11211 and "default"); -allow-flush and
-proxy-protocol set every listener. https:// and couchbases:// cluster
seeds (or -cluster-ca-file) turn TLS to the cluster on; couchbase:// seeds
reach only the data ports (config over KV).

Flags:
`

// parseFlags parses args; errors and -h output go to stderr.
func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{set: map[string]bool{}}
	fs := flag.NewFlagSet("vbproxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usageHeader)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.config, "config", "", "configuration `file` (YAML)")
	fs.StringVar(&o.checkConfig, "check-config", "", "validate the configuration `file` (with any other flags), print \"config OK\" or the errors, and exit")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	fs.StringVar(&o.listen, "listen", "", "client `address` (host:port) of the first listener (default "+defaultListen+" without -config)")
	fs.StringVar(&o.bucket, "bucket", "", "`bucket` of the first listener (default \""+defaultBucket+"\" without -config)")
	fs.Var(&o.cluster, "cluster", "cluster `seed`: a cluster manager URL such as http://127.0.0.11:8091, or KV addresses such as couchbase://10.0.0.1,10.0.0.2 or 10.0.0.1:11210; repeatable or comma-separated (replaces cluster.seeds and map_file)")
	fs.StringVar(&o.mapFile, "map", "", "static vBucket map `file` (config JSON) instead of -cluster")
	fs.StringVar(&o.user, "user", "", "cluster `user`")
	fs.StringVar(&o.passwordFile, "password-file", "", "`file` holding the cluster password")
	fs.StringVar(&o.passwordEnv, "password-env", "", "environment `variable` holding the cluster password")
	fs.StringVar(&o.network, "network", "", "node addresses to use: default, external or auto (default \"default\")")
	fs.StringVar(&o.admin, "admin", "", "admin HTTP `address` for /healthz, /readyz, /metrics, /vbmap, /reload; \"\" disables it (default "+defaultAdmin+")")
	fs.BoolVar(&o.allowFlush, "allow-flush", false, "let FLUSH through to every node (refused by default)")
	fs.StringVar(&o.clusterCAFile, "cluster-ca-file", "", "PEM `file` of the CAs that sign the cluster's certificates; turns cluster TLS on (sets cluster.tls.ca_file and enabled)")
	fs.BoolVar(&o.proxyProtocol, "proxy-protocol", false, "accept PROXY protocol v1 and v2 headers from ANY source (proxy_protocol optional, trusted_cidrs 0.0.0.0/0 and ::/0); list the load balancers in trusted_cidrs instead")
	fs.IntVar(&o.poolSize, "pool-size", 0, "upstream connections per node on each event loop (default 2)")
	fs.IntVar(&o.loops, "loops", 0, "event loops (OS threads) per listener (default 1)")
	fs.StringVar(&o.logLevel, "log-level", "", "log level: debug, info, warn or error (default \"info\")")
	fs.StringVar(&o.logFormat, "log-format", "", "log format: text or json (default \"text\")")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if o.config != "" && o.checkConfig != "" {
		return nil, fmt.Errorf("use -config or -check-config, not both")
	}
	fs.Visit(func(f *flag.Flag) { o.set[f.Name] = true })
	return o, nil
}

// configFile returns the file to load, "" for none.
func (o *options) configFile() string {
	if o.checkConfig != "" {
		return o.checkConfig
	}
	return o.config
}

// apply overrides cfg with the flags given on the command line.
func (o *options) apply(cfg *Config) {
	if len(cfg.Listeners) == 0 && o.configFile() == "" {
		cfg.Listeners = []ListenerConfig{{Address: defaultListen, Bucket: defaultBucket}}
	}
	if (o.set["listen"] || o.set["bucket"]) && len(cfg.Listeners) == 0 {
		cfg.Listeners = []ListenerConfig{{}}
	}
	if o.set["listen"] {
		cfg.Listeners[0].Address = o.listen
	}
	if o.set["bucket"] {
		cfg.Listeners[0].Bucket = o.bucket
	}
	for i := range cfg.Listeners {
		if o.set["allow-flush"] {
			cfg.Listeners[i].AllowFlush = o.allowFlush
		}
		if o.set["proxy-protocol"] {
			l := &cfg.Listeners[i]
			if o.proxyProtocol {
				// As before trusted_cidrs: a header from any source (app
				// logs a warning at start).
				l.ProxyProtocol, l.TrustedCIDRs = "optional", append([]string(nil), trustAllCIDRs...)
			} else {
				l.ProxyProtocol, l.TrustedCIDRs, l.HeaderTimeout = "off", nil, 0
			}
		}
	}
	if o.set["cluster"] {
		cfg.Cluster.Seeds = append([]string(nil), o.cluster...)
		cfg.Cluster.MapFile = ""
	}
	if o.set["map"] {
		cfg.Cluster.MapFile = o.mapFile
		if !o.set["cluster"] {
			cfg.Cluster.Seeds = nil
		}
	}
	if o.set["user"] {
		cfg.Cluster.User = o.user
	}
	if o.set["password-file"] {
		cfg.Cluster.PasswordFile = o.passwordFile
		if !o.set["password-env"] {
			cfg.Cluster.PasswordEnv = ""
		}
	}
	if o.set["password-env"] {
		cfg.Cluster.PasswordEnv = o.passwordEnv
		if !o.set["password-file"] {
			cfg.Cluster.PasswordFile = ""
		}
	}
	if o.set["network"] {
		cfg.Cluster.Network = o.network
	}
	if o.set["cluster-ca-file"] {
		cfg.Cluster.TLS.CAFile = o.clusterCAFile
		cfg.Cluster.TLS.Enabled = o.clusterCAFile != "" || cfg.Cluster.TLS.Enabled
	}
	if o.set["admin"] {
		cfg.Admin.Address = o.admin
	}
	if o.set["loops"] {
		cfg.Upstream.Loops = o.loops
	}
	if o.set["pool-size"] {
		cfg.Upstream.PoolSize = o.poolSize
	}
	if o.set["log-level"] {
		cfg.Log.Level = o.logLevel
	}
	if o.set["log-format"] {
		cfg.Log.Format = o.logFormat
	}
}
