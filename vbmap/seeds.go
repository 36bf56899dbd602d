package vbmap

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Default ports of seeds that omit theirs (facts D.1).
const (
	DefaultKVPort      = 11210
	DefaultKVTLSPort   = 11207
	DefaultMgmtPort    = 8091
	DefaultMgmtTLSPort = 18091
)

// seedSet is SourceOptions.Seeds sorted by kind.
type seedSet struct {
	http []*url.URL // cluster manager seeds, "scheme://host:port"
	kv   []string   // KV seeds, "host:port" (IPv6 bracketed)
	tls  bool       // the seeds are TLS ones (https, couchbases, :11207)
}

// seedTLS is what a seed says about TLS.
type seedTLS uint8

const (
	seedEither seedTLS = iota // a bare host: follows SourceOptions.TLS
	seedPlain
	seedSecure
)

// parseSeeds sorts and normalizes the seeds. A seed is
//
//   - a cluster manager URL, "http://host[:8091]" or "https://host[:18091]",
//     or a bare "host[:port]" (http, https with useTLS) whose port is not a
//     KV port;
//   - KV addresses, "couchbase://host[:11210][,host[:port]...]" or
//     "couchbases://host[:11207],..." (TLS), or a bare "host:11210" /
//     "host:11207" (TLS).
//
// Seeds must agree on TLS: mixing plain and TLS seeds is an error, and so is
// a plain seed with useTLS.
func parseSeeds(seeds []string, useTLS bool) (seedSet, error) {
	var set seedSet
	var plainSeen, secureSeen bool
	var firstPlain string
	for _, seed := range seeds {
		kv, kind, isKV, err := parseKVSeed(seed)
		if err != nil {
			return seedSet{}, fmt.Errorf("vbmap: seed %q: %w", seed, err)
		}
		if isKV {
			for _, a := range kv {
				set.kv = appendUnique(set.kv, a)
			}
		} else {
			u, err := parseSeed(seed, useTLS)
			if err != nil {
				return seedSet{}, err
			}
			set.http = append(set.http, u)
			kind = seedPlain
			if u.Scheme == "https" {
				kind = seedSecure
			}
		}
		switch kind {
		case seedPlain:
			if !plainSeen {
				firstPlain = strings.TrimSpace(seed)
			}
			plainSeen = true
		case seedSecure:
			secureSeen = true
		}
	}
	onlyHTTP := len(set.kv) == 0
	switch {
	case plainSeen && secureSeen && onlyHTTP:
		return seedSet{}, errors.New("vbmap: seeds mix http and https")
	case plainSeen && secureSeen:
		return seedSet{}, errors.New("vbmap: seeds mix plain (http://, couchbase://, :11210) and TLS (https://, couchbases://, :11207) addresses")
	case plainSeen && useTLS && onlyHTTP:
		return seedSet{}, errors.New("vbmap: TLS is set but the seeds are http (use https:// seeds)")
	case plainSeen && useTLS:
		return seedSet{}, fmt.Errorf("vbmap: TLS is set but seed %q is a plain address (use https:// or couchbases:// seeds)", firstPlain)
	}
	set.tls = secureSeen || useTLS
	return set, nil
}

// CheckKVSeed reports whether seed is a KV seed ("couchbase://host[:port]
// [,host...]", "couchbases://...", or a bare "host:11210" / "host:11207")
// and, for one, what is wrong with it (nil when valid; the error does not
// repeat the seed). Anything else is a cluster manager seed (isKV false).
func CheckKVSeed(seed string) (isKV bool, err error) {
	_, _, isKV, err = parseKVSeed(seed)
	return isKV, err
}

// parseKVSeed parses a KV seed: "couchbase://" or "couchbases://" with one
// or more comma-separated hosts, or a bare "host:11210" or "host:11207".
// isKV is false for anything else (a cluster manager seed).
func parseKVSeed(seed string) (addrs []string, kind seedTLS, isKV bool, err error) {
	raw := strings.TrimSpace(seed)
	scheme, rest, hasScheme := strings.Cut(raw, "://")
	if !hasScheme {
		h, p, err := net.SplitHostPort(raw)
		if err != nil || h == "" {
			return nil, seedEither, false, nil
		}
		switch p {
		case strconv.Itoa(DefaultKVPort):
			return []string{net.JoinHostPort(h, p)}, seedPlain, true, nil
		case strconv.Itoa(DefaultKVTLSPort):
			return []string{net.JoinHostPort(h, p)}, seedSecure, true, nil
		}
		return nil, seedEither, false, nil
	}
	port := DefaultKVPort
	kind = seedPlain
	switch strings.ToLower(scheme) {
	case "couchbase":
	case "couchbases":
		port, kind = DefaultKVTLSPort, seedSecure
	default:
		return nil, seedEither, false, nil
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		if tail := rest[i:]; tail != "/" {
			return nil, seedEither, true, fmt.Errorf("%q is not accepted (a connection string's bucket and options are set in their own fields)", tail)
		}
		rest = rest[:i]
	}
	if rest == "" {
		return nil, seedEither, true, errors.New("no host")
	}
	for _, hp := range strings.Split(rest, ",") {
		addr, err := kvHostPort(hp, port)
		if err != nil {
			return nil, seedEither, true, err
		}
		addrs = append(addrs, addr)
	}
	return addrs, kind, true, nil
}

// kvHostPort normalizes "host", "host:port", "[v6]" or "[v6]:port" to
// "host:port", with def as the port when none is given.
func kvHostPort(hp string, def int) (string, error) {
	hp = strings.TrimSpace(hp)
	if hp == "" {
		return "", errors.New("empty host")
	}
	host, port := hp, strconv.Itoa(def)
	if h, p, err := net.SplitHostPort(hp); err == nil {
		host, port = h, p
	} else if strings.Count(hp, ":") > 1 && !strings.HasPrefix(hp, "[") {
		return "", fmt.Errorf("%q: bracket an IPv6 address ([%s])", hp, hp)
	}
	host = bareHost(host)
	if host == "" {
		return "", fmt.Errorf("%q: no host", hp)
	}
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
		return "", fmt.Errorf("%q: invalid port %q", hp, port)
	}
	return net.JoinHostPort(host, port), nil
}

// parseSeed normalizes a cluster manager seed to scheme://host:port with no
// path; a seed without a scheme gets https when useTLS is set, else http.
func parseSeed(seed string, useTLS bool) (*url.URL, error) {
	raw := strings.TrimSpace(seed)
	if !strings.Contains(raw, "://") {
		if useTLS {
			raw = "https://" + raw
		} else {
			raw = "http://" + raw
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("vbmap: seed %q: %w", seed, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("vbmap: seed %q: scheme %q, want http, https, couchbase or couchbases", seed, u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("vbmap: seed %q: no host", seed)
	}
	host := u.Host
	if u.Port() == "" {
		port := DefaultMgmtPort
		if u.Scheme == "https" {
			port = DefaultMgmtTLSPort
		}
		host = joinHostPort(u.Hostname(), port)
	}
	return &url.URL{Scheme: u.Scheme, Host: host}, nil
}
