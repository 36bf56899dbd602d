package tlsconf

import (
	"crypto/tls"
	"fmt"
)

// DefaultMinVersion is the lowest TLS version accepted on either side when
// the configuration does not say.
const DefaultMinVersion uint16 = tls.VersionTLS12

// ParseVersion maps a configured min_version word to its crypto/tls
// constant: "1.2" or "1.3"; "" is DefaultMinVersion. Older versions are
// refused: they are deprecated (RFC 8996) and Couchbase does not need them.
func ParseVersion(s string) (uint16, error) {
	switch s {
	case "":
		return DefaultMinVersion, nil
	case "1.2":
		return tls.VersionTLS12, nil
	case "1.3":
		return tls.VersionTLS13, nil
	case "1.0", "1.1":
		return 0, fmt.Errorf("TLS %s is not supported (RFC 8996 deprecates it): use 1.2 or 1.3", s)
	}
	return 0, fmt.Errorf("unknown TLS version %q: use 1.2 or 1.3", s)
}

// CheckVersion accepts the crypto/tls constants ParseVersion returns, and 0
// (meaning DefaultMinVersion); it returns the version to use.
func CheckVersion(v uint16) (uint16, error) {
	switch v {
	case 0:
		return DefaultMinVersion, nil
	case tls.VersionTLS12, tls.VersionTLS13:
		return v, nil
	}
	return 0, fmt.Errorf("unsupported TLS version %s: use TLS 1.2 or 1.3", tls.VersionName(v))
}
