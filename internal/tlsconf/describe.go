package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"time"
)

// DescribeTLSError turns an error from a TLS dial or handshake (or from the
// first read after it, where TLS 1.3 reports a refused client certificate)
// into a short reason for a log line, /readyz and the node state on /vbmap:
//
//	certificate signed by unknown authority (issuer "CN=other CA")
//	certificate is valid for db1.example.com, not db2.example.com
//	certificate expired at 2026-01-02T03:04:05Z
//	certificate not valid before 2026-01-02T03:04:05Z
//	peer refused the handshake: certificate required
//	peer did not answer with TLS (a plain-text port?)
//	TLS handshake timed out
//	connection closed during the TLS handshake
//	connection reset during the TLS handshake
//
// Other errors are returned as their text without the "tls: " or "x509: "
// prefix. DescribeTLSError(nil) is "".
func DescribeTLSError(err error) string {
	if err == nil {
		return ""
	}
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		record   tls.RecordHeaderError
		op       *net.OpError
	)
	switch {
	case errors.As(err, &unknown):
		if unknown.Cert != nil {
			return "certificate signed by unknown authority (issuer \"" + unknown.Cert.Issuer.String() + "\")"
		}
		return "certificate signed by unknown authority"
	case errors.As(err, &hostname):
		return strings.TrimPrefix(hostname.Error(), "x509: ")
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired && invalid.Cert != nil:
		if why, bad := Expired(invalid.Cert, time.Now()); bad {
			return "certificate " + why
		}
		return "certificate expired at " + invalid.Cert.NotAfter.UTC().Format(time.RFC3339)
	case errors.As(err, &invalid):
		return strings.TrimPrefix(invalid.Error(), "x509: ")
	case errors.As(err, &record):
		return "peer did not answer with TLS (a plain-text port?)"
	case errors.As(err, &op) && op.Op == "remote error":
		return "peer refused the handshake: " + strings.TrimPrefix(op.Err.Error(), "tls: ")
	case errors.Is(err, os.ErrDeadlineExceeded) || isTimeout(err):
		return "TLS handshake timed out"
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed during the TLS handshake"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset during the TLS handshake"
	}
	msg := err.Error()
	for _, p := range []string{"tls: ", "x509: "} {
		msg = strings.TrimPrefix(msg, p)
	}
	return msg
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
