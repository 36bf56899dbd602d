package edge

import (
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"
)

// Mode says whether a listener reads a PROXY protocol header (v1 or v2) at
// the start of each connection.
type Mode uint8

const (
	// ProxyOff reads no header: the first bytes belong to the session.
	ProxyOff Mode = iota
	// ProxyOptional reads a header when one is sent, from a trusted source;
	// a connection without one is served with its socket addresses.
	ProxyOptional
	// ProxyRequired refuses a connection that does not start with a header
	// from a trusted source.
	ProxyRequired
)

var modeNames = [...]string{ProxyOff: "off", ProxyOptional: "optional", ProxyRequired: "required"}

// String is the config word: "off", "optional" or "required".
func (m Mode) String() string {
	if int(m) < len(modeNames) {
		return modeNames[m]
	}
	return fmt.Sprintf("Mode(%d)", m)
}

// ParseMode reads a config word: "off" (or ""), "optional", "required".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "", "off":
		return ProxyOff, nil
	case "optional":
		return ProxyOptional, nil
	case "required":
		return ProxyRequired, nil
	}
	return 0, fmt.Errorf("unknown mode %q: want off, optional or required", s)
}

// MarshalText implements encoding.TextMarshaler.
func (m Mode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler (YAML and JSON config).
func (m *Mode) UnmarshalText(b []byte) error {
	v, err := ParseMode(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// Defaults for zero Options fields.
const (
	DefaultHeaderTimeout    = 5 * time.Second
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultReloadInterval   = time.Second
)

// Options configure one listener's edge. The zero value admits plain
// connections with no PROXY header.
type Options struct {
	// ProxyProtocol is off (default), optional or required.
	ProxyProtocol Mode
	// TrustedCIDRs are the sources (the load balancers) allowed to send a
	// PROXY header. A header from any other source is refused, so that no
	// client can claim another address; with ProxyOptional such a source
	// is still served when it sends no header. Required (non-empty) when
	// ProxyProtocol is not off: list 0.0.0.0/0 and ::/0 to trust every
	// source deliberately. IPv4-mapped IPv6 sources match IPv4 prefixes.
	TrustedCIDRs []netip.Prefix
	// HeaderTimeout bounds the wait for a PROXY header. Default 5s. With
	// ProxyOptional a connection that sends nothing for this long is
	// served without a header (clients that pool idle connections);
	// with ProxyRequired it is refused.
	HeaderTimeout time.Duration
	// TLS makes the listener a TLS listener. Nil: plain TCP.
	TLS *TLSOptions
	// HandshakeTimeout bounds the TLS handshake; a client that has not
	// completed it by then is closed. Default 10s.
	HandshakeTimeout time.Duration
	// Logger receives one line per refused connection (at most one per
	// reason every LogEvery, with the count of lines suppressed) and per
	// certificate reload. Nil discards.
	Logger *slog.Logger
}

// LogEvery is the shortest interval between two log lines for the same
// refusal reason; a port scan or a misconfigured load balancer produces
// one line per LogEvery, not one per connection.
const LogEvery = 10 * time.Second

// TLSOptions configure a TLS listener. Field names in errors are the
// config keys under a listener's tls: ("tls.cert_file: ...").
type TLSOptions struct {
	// CertFile and KeyFile are the PEM certificate chain and private key
	// served; required. Re-read when they change (see ReloadInterval).
	CertFile, KeyFile string
	// ClientCAFile is a PEM bundle of the CAs that sign client
	// certificates; required when ClientAuth is request or require, and
	// re-read with the pair.
	ClientCAFile string
	// ClientAuth is "none" (default, ""), "request" (a certificate is
	// verified when the client sends one) or "require" (a verified
	// certificate is required: mutual TLS).
	ClientAuth string
	// MinVersion is tls.VersionTLS12 or tls.VersionTLS13; 0 is TLS 1.2.
	MinVersion uint16
	// CertUsers map a verified client certificate to a configured user
	// (Admitted.User), in order; the first rule that matches wins. Needs
	// ClientAuth request or require. See CertUser.
	CertUsers []CertUser
	// UserFromCert maps a verified client leaf certificate to a user; the
	// programmatic alternative to CertUsers (not both). Nil: CertUsers.
	UserFromCert func(*x509.Certificate) (string, bool)
	// ReloadInterval is how often the certificate files are checked for a
	// change. Default 1s; negative: never (ReloadCertificates still works).
	ReloadInterval time.Duration
}

// CertUser maps client certificates to a user.
type CertUser struct {
	// Match selects certificates: "cn:NAME" (the subject common name),
	// "dns:NAME" (a DNS SAN, compared without case), "email:ADDR" (an
	// email SAN) or "uri:URI" (a URI SAN, e.g. a SPIFFE ID).
	Match string
	// User is the configured user the certificate authenticates as.
	User string
}

// options is Options after defaults and checks.
type options struct {
	Options
	trusted []netip.Prefix
}

func (o Options) check() (options, error) {
	r := options{Options: o}
	switch o.ProxyProtocol {
	case ProxyOff:
		if len(o.TrustedCIDRs) > 0 {
			return r, errors.New("trusted_cidrs: set but proxy_protocol is off")
		}
	case ProxyOptional, ProxyRequired:
		if len(o.TrustedCIDRs) == 0 {
			return r, fmt.Errorf("trusted_cidrs: required with proxy_protocol %s "+
				"(the load balancers' addresses; 0.0.0.0/0 and ::/0 trust every source)", o.ProxyProtocol)
		}
	default:
		return r, fmt.Errorf("proxy_protocol: unknown mode %d", o.ProxyProtocol)
	}
	for i, p := range o.TrustedCIDRs {
		if !p.IsValid() {
			return r, fmt.Errorf("trusted_cidrs[%d]: invalid prefix", i)
		}
		r.trusted = append(r.trusted, p.Masked())
	}
	var err error
	if r.HeaderTimeout, err = duration("header_timeout", o.HeaderTimeout, DefaultHeaderTimeout); err != nil {
		return r, err
	}
	if r.HandshakeTimeout, err = duration("handshake_timeout", o.HandshakeTimeout, DefaultHandshakeTimeout); err != nil {
		return r, err
	}
	if r.Logger == nil {
		r.Logger = slog.New(slog.DiscardHandler)
	}
	return r, nil
}

func duration(field string, d, def time.Duration) (time.Duration, error) {
	switch {
	case d < 0:
		return 0, fmt.Errorf("%s: %s is negative", field, d)
	case d == 0:
		return def, nil
	}
	return d, nil
}

// ParsePrefixes reads trusted_cidrs from config: each entry is a prefix
// ("10.0.0.0/8", "2001:db8::/32") or a single address ("10.1.2.3", a /32
// or /128). Errors name the entry: "trusted_cidrs[1]: ...".
func ParsePrefixes(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for i, s := range list {
		s = strings.TrimSpace(s)
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("trusted_cidrs[%d]: %q is neither an address nor a prefix", i, s)
			}
			a = a.Unmap()
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("trusted_cidrs[%d]: %w", i, err)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
