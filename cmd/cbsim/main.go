// Command cbsim runs a simulated Couchbase cluster on loopback addresses: a
// cluster manager (HTTP) and a KV service (memcached binary protocol) per
// node. See sim/README.md for the topology-change REST calls.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/vbproxy/vbproxy/internal/netns"
	"github.com/vbproxy/vbproxy/sim"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "cbsim:", err)
		os.Exit(1)
	}
}

// config is the parsed command line.
type config struct {
	opts     sim.Options
	logLevel slog.Level
	// nodeNetns are the network namespaces of -node-netns: node i listens
	// in nodeNetns[i] (nodes added later take the following entries).
	nodeNetns []string
	// control is the -control address ("" = none): sim.ControlHandler,
	// reachable while the cluster managers are not.
	control string
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("cbsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &cfg.opts
	var buckets, level, nodeNetns string
	var replicas int
	fs.IntVar(&o.Nodes, "nodes", 3, "number of nodes")
	fs.StringVar(&o.HostBase, "host-base", "127.0.0.11", "address of node 0; node i listens on the address plus i")
	fs.StringVar(&o.Host, "host", "", "put every node on this one address with distinct ports (overrides -host-base)")
	fs.IntVar(&o.MgmtPort, "mgmt-port", 8091, "cluster manager port (with -host: node i uses port+i, 0 = ephemeral)")
	fs.IntVar(&o.KVPort, "kv-port", 11210, "KV port (with -host: node i uses port+i, 0 = ephemeral)")
	fs.StringVar(&buckets, "buckets", "default", "comma-separated bucket names")
	fs.IntVar(&o.VBuckets, "vbuckets", 1024, "vBuckets per bucket")
	fs.IntVar(&replicas, "replicas", 1, "replicas per vBucket (0-3)")
	fs.StringVar(&o.User, "user", "Administrator", "cluster user (HTTP and KV SASL)")
	fs.StringVar(&o.Password, "password", "password", "cluster password")
	fs.BoolVar(&o.AllowFlush, "flush", false, "allow FLUSH on the buckets")
	fs.StringVar(&o.ExternalHost, "external-host", "", "advertise alternateAddresses.external with this host")
	fs.BoolVar(&o.NoAuth, "no-auth", false, "let KV clients use the first bucket without SASL (plain memcached clients)")
	fs.BoolVar(&o.ZeroDeleteCAS, "zero-delete-cas", false, "answer DELETE with CAS 0 as memcached does (Couchbase sends the deletion's CAS)")
	fs.IntVar(&o.RebalanceBatch, "rebalance-batch", 64, "vBuckets moved per config revision during a rebalance")
	fs.DurationVar(&o.RebalanceDelay, "rebalance-delay", 0, "pause between rebalance batches (e.g. 500ms, to watch moves)")
	fs.StringVar(&level, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&o.TLSDir, "tls-dir", "", "serve TLS too: write the CA (ca.pem, ca-key.pem) and a client certificate for -user (client.pem, client-key.pem) here; KV TLS on -kv-tls-port, https on the cluster manager port + 10000")
	fs.IntVar(&o.KVTLSPort, "kv-tls-port", 11207, "KV TLS port with -tls-dir (with -host: node i uses port+i, 0 = ephemeral; ephemeral by default when -kv-port is 0)")
	fs.StringVar(&o.ClientCertAuth, "client-cert-auth", sim.ClientCertDisable, "KV TLS client certificates: disable, enable (optional; one that names -user authenticates without SASL) or mandatory")
	fs.BoolVar(&o.NoCollections, "no-collections", false, "buckets without collections, as before Couchbase 7 (no scopes REST API, HELLO declines Collections)")
	fs.BoolVar(&o.NoClustermapPush, "no-push", false, "start with clustermap push notifications off (POST /sim/push enabled=true turns them on)")
	fs.StringVar(&cfg.control, "control", "", "serve the control API (POST /sim/mgmt reachable=false|true and every cluster manager call) on this host:port, reachable while the cluster managers are not")
	fs.StringVar(&nodeNetns, "node-netns", "", "comma-separated network namespaces (ip netns names): node i listens in the i-th; extra entries serve nodes added later")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if o.Nodes < 1 {
		return cfg, fmt.Errorf("-nodes %d: need at least one node", o.Nodes)
	}
	if replicas < 0 || replicas > 3 {
		return cfg, fmt.Errorf("-replicas %d: must be 0-3", replicas)
	}
	o.Replicas, o.NoReplicas = replicas, replicas == 0
	for _, b := range strings.Split(buckets, ",") {
		if b = strings.TrimSpace(b); b != "" {
			o.Buckets = append(o.Buckets, b)
		}
	}
	if len(o.Buckets) == 0 {
		return cfg, fmt.Errorf("-buckets %q: no bucket name", buckets)
	}
	if o.Host != "" {
		o.HostBase = ""
	}
	if o.KVPort == 0 && !flagSet(fs, "kv-tls-port") {
		o.KVTLSPort = 0 // ephemeral like the plain KV port
	}
	if o.TLSDir == "" && o.ClientCertAuth != sim.ClientCertDisable {
		return cfg, fmt.Errorf("-client-cert-auth %s needs -tls-dir", o.ClientCertAuth)
	}
	if cfg.control != "" {
		if _, _, err := net.SplitHostPort(cfg.control); err != nil {
			return cfg, fmt.Errorf("-control %q: want host:port: %w", cfg.control, err)
		}
	}
	if err := cfg.logLevel.UnmarshalText([]byte(level)); err != nil {
		return cfg, fmt.Errorf("-log-level %q: %w", level, err)
	}
	if nodeNetns != "" {
		for _, ns := range strings.Split(nodeNetns, ",") {
			if ns = strings.TrimSpace(ns); ns == "" || strings.Contains(ns, "/") {
				return cfg, fmt.Errorf("-node-netns %q: %q is not a namespace name", nodeNetns, ns)
			}
			cfg.nodeNetns = append(cfg.nodeNetns, strings.TrimSpace(ns))
		}
		if len(cfg.nodeNetns) < o.Nodes {
			return cfg, fmt.Errorf("-node-netns %q: %d namespaces for %d nodes", nodeNetns, len(cfg.nodeNetns), o.Nodes)
		}
		o.Listen = listenInNetns(cfg.nodeNetns)
	}
	return cfg, nil
}

// flagSet reports whether the command line set flag name.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// listenInNetns opens node i's listeners in namespaces[i].
func listenInNetns(namespaces []string) func(node int, network, addr string) (net.Listener, error) {
	return func(node int, network, addr string) (net.Listener, error) {
		if node < 0 || node >= len(namespaces) {
			return nil, fmt.Errorf("node %d has no namespace in -node-netns (%d given)", node, len(namespaces))
		}
		return netns.ListenIn(namespaces[node], network, addr)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.logLevel}))
	cfg.opts.Logger = logger

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	c, err := sim.Start(cfg.opts)
	if err != nil {
		return err
	}
	printReady(stdout, c, cfg.opts)
	if cfg.control != "" {
		srv, url, err := serveControl(c, cfg.control, logger)
		if err != nil {
			_ = c.Close()
			return err
		}
		defer srv.Close()
		fmt.Fprintf(stdout, "  control %s (POST /sim/mgmt reachable=false|true)\n", url)
	}
	<-ctx.Done()
	logger.Info("shutting down")
	done := make(chan error, 1)
	go func() { done <- c.Close() }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		return errors.New("shutdown timed out after 10s")
	}
}

func printReady(w io.Writer, c *sim.Cluster, o sim.Options) {
	fmt.Fprintf(w, "cbsim ready: seed %s, buckets %s, user %s\n", c.SeedURL(), strings.Join(c.Buckets(), ","), o.User)
	if o.TLSDir != "" {
		fmt.Fprintf(w, "  tls: seed %s, CA %s, client certificate %s (client-cert-auth %s)\n", c.TLSSeedURL(),
			filepath.Join(o.TLSDir, sim.CAFile), filepath.Join(o.TLSDir, sim.ClientCertFile), o.ClientCertAuth)
	}
	for _, n := range c.Nodes() {
		fmt.Fprintf(w, "  %s  kv %s  mgmt %s", n.OTPName(), n.KVAddr(), n.MgmtURL())
		if o.TLSDir != "" {
			fmt.Fprintf(w, "  kv-tls %s  mgmt-tls %s", n.KVTLSAddr(), n.MgmtTLSURL())
		}
		fmt.Fprintln(w)
	}
}

// serveControl serves c.ControlHandler on addr and returns the server and
// its URL.
func serveControl(c *sim.Cluster, addr string, logger *slog.Logger) (*http.Server, string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("-control %s: %w", addr, err)
	}
	srv := &http.Server{
		Handler:           c.ControlHandler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Warn("control API stopped", "err", err)
		}
	}()
	return srv, "http://" + ln.Addr().String(), nil
}
