package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"
)

// version is stamped at build time: go build -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv))
}

// run is the whole program; it returns the exit status: 0 after a clean
// shutdown or a good -check-config, 1 for a runtime failure, 2 for bad flags
// or configuration. SIGINT and SIGTERM (or ctx ending) start the graceful
// shutdown; a second signal kills the process. SIGHUP reloads the config
// file (as POST /reload?config=1 does).
func run(ctx context.Context, args []string, stdout, stderr io.Writer, env lookupEnv) int {
	opts, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "vbproxy: %v\n", err)
		return 2
	}
	if opts.version {
		fmt.Fprintf(stdout, "vbproxy %s (%s %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return 0
	}

	cfg, sec, errs := loadConfig(opts, env)
	if len(errs) > 0 {
		prefix := "vbproxy: "
		if f := opts.configFile(); f != "" {
			prefix += f + ": "
		}
		for _, e := range errs {
			fmt.Fprintf(stderr, "%s%s\n", prefix, e.Error())
		}
		return 2
	}
	if opts.checkConfig != "" {
		fmt.Fprintln(stdout, "config OK")
		return 0
	}

	log, level, err := newLogger(cfg.Log, stderr)
	if err != nil { // validated already
		fmt.Fprintf(stderr, "vbproxy: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	a, err := newApp(cfg, sec, log)
	if err != nil {
		log.Error("vbproxy failed to start", "err", err)
		return 1
	}
	// SIGHUP re-reads the config file and applies what can change live.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	a.level, a.hup = level, hup
	if f := opts.configFile(); f != "" {
		a.configFile = f
		a.load = func() (*Config, secrets, []FieldError) { return loadConfig(opts, env) }
	}
	if err := a.run(ctx, stop); err != nil {
		log.Error("vbproxy stopped on error", "err", err)
		return 1
	}
	return 0
}

// loadConfig builds the configuration from the defaults, the file and the
// flags, validates it and reads the secrets it names.
func loadConfig(opts *options, env lookupEnv) (*Config, secrets, []FieldError) {
	cfg := DefaultConfig()
	var errs []FieldError
	if f := opts.configFile(); f != "" {
		var fatal bool
		if errs, fatal = loadConfigFile(f, &cfg); fatal {
			return &cfg, secrets{}, errs
		}
	}
	opts.apply(&cfg)
	sec, verrs := validate(&cfg, env)
	return &cfg, sec, append(errs, dropCovered(verrs, errs)...)
}
