package vbmap

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
)

// Sentinel errors. Errors returned by this package wrap them with context (the
// URL tried, the field at fault); test for them with errors.Is.
var (
	// ErrUnauthorized: the cluster manager answered 401 (bad user or password).
	ErrUnauthorized = errors.New("vbmap: unauthorized (check user and password)")
	// ErrNoBucket: every config endpoint answered 404 for the bucket.
	ErrNoBucket = errors.New("vbmap: unknown bucket")
	// ErrMemcachedBucket: the config is for a memcached (ketama) bucket.
	ErrMemcachedBucket = errors.New("vbmap: memcached buckets are not supported (nodeLocator \"ketama\"); use a Couchbase bucket")
	// ErrUnreachable: a seed or node could not be reached (connection or I/O error).
	ErrUnreachable = errors.New("vbmap: cluster manager unreachable")
	// ErrCertificate: a cluster manager's TLS certificate failed
	// verification: untrusted (signed by an unknown authority), issued for
	// another host name, or expired or not yet valid. The wrapped chain
	// keeps the crypto/x509 error (errors.As finds
	// x509.UnknownAuthorityError, x509.HostnameError or
	// x509.CertificateInvalidError). Run retries like ErrUnreachable.
	ErrCertificate = errors.New("vbmap: cluster manager's TLS certificate rejected")
	// ErrInvalidConfig: the config is malformed or fails validation. The
	// wrapping *ConfigError names the field.
	ErrInvalidConfig = errors.New("vbmap: invalid config")
	// ErrBucketMismatch: a config names a different bucket than the source serves.
	ErrBucketMismatch = errors.New("vbmap: config is for another bucket")
	// ErrBadResponse: the cluster manager answered with an unexpected HTTP status.
	ErrBadResponse = errors.New("vbmap: unexpected response from cluster manager")
)

// ConfigError reports a config that failed parsing or validation. Field is a
// JSON path such as "vBucketServerMap.vBucketMap[17][0]".
type ConfigError struct {
	Field   string // JSON path of the offending field; "" for the whole document
	Problem string // what is wrong with it
	Err     error  // underlying error (ErrMemcachedBucket, a json error), may be nil
}

func (e *ConfigError) Error() string {
	msg := "vbmap: "
	if e.Field != "" {
		msg += e.Field + ": "
	}
	msg += e.Problem
	if e.Err != nil && e.Err != ErrMemcachedBucket {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns ErrInvalidConfig and, when set, the underlying error, so both
// errors.Is(err, ErrInvalidConfig) and errors.Is(err, ErrMemcachedBucket) work.
func (e *ConfigError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrInvalidConfig, e.Err}
	}
	return []error{ErrInvalidConfig}
}

func configErr(field, format string, args ...any) error {
	return &ConfigError{Field: field, Problem: fmt.Sprintf(format, args...)}
}

// certificateRejected reports whether err is a failed verification of the
// server's certificate.
func certificateRejected(err error) bool {
	var (
		verify   *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
	)
	return errors.As(err, &verify) || errors.As(err, &unknown) || errors.As(err, &hostname) || errors.As(err, &invalid)
}
