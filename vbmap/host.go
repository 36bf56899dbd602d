package vbmap

import (
	"net"
	"strconv"
	"strings"
)

// hostPlaceholder is the stand-in for "the host this config came from".
const hostPlaceholder = "$HOST"

// bareHost strips the brackets of an IPv6 literal: "[::1]" -> "::1".
func bareHost(h string) string {
	if len(h) >= 2 && h[0] == '[' && h[len(h)-1] == ']' {
		return h[1 : len(h)-1]
	}
	return h
}

// urlHost brackets h when it is an IPv6 literal, as it must appear in
// "host:port" and in URLs.
func urlHost(h string) string {
	h = bareHost(h)
	if strings.IndexByte(h, ':') >= 0 {
		return "[" + h + "]"
	}
	return h
}

// joinHostPort formats host and port as "host:port", bracketing IPv6.
func joinHostPort(host string, port int) string {
	return net.JoinHostPort(bareHost(host), strconv.Itoa(port))
}

// replaceHost substitutes $HOST in s. In "host:port" forms the host must be
// bracketed when it is IPv6; bracket tells which form s is.
func replaceHost(s, host string, bracket bool) string {
	if !strings.Contains(s, hostPlaceholder) {
		return s
	}
	if bracket {
		host = urlHost(host)
	} else {
		host = bareHost(host)
	}
	return strings.ReplaceAll(s, hostPlaceholder, host)
}

// hostKey is the comparison key of a host and port: bare, lower-case host.
func hostKey(host string, port int) string {
	return strings.ToLower(bareHost(host)) + "|" + strconv.Itoa(port)
}

// SplitSourceHost returns the host part of s, which may be "host",
// "host:port", "[v6]:port", "[v6]" or a bare IPv6 literal. The result is bare
// (no brackets).
func splitSourceHost(s string) string {
	if h, _, err := net.SplitHostPort(s); err == nil {
		return bareHost(h)
	}
	return bareHost(s)
}
