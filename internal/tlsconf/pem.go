package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"
)

// ErrNoCertificates is returned (wrapped) when a PEM file holds no
// CERTIFICATE block.
var ErrNoCertificates = errors.New("no certificates found")

// LoadCertPool reads a PEM bundle of CA certificates. Every CERTIFICATE
// block must parse; other block types are ignored, so a bundle that carries
// a comment block still loads. The error does not name the config field:
// callers prefix it ("cluster.tls.ca_file: ...").
func LoadCertPool(file string) (*x509.CertPool, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return ParseCertPool(data, file)
}

// ParseCertPool is LoadCertPool on bytes already read; name is used in
// errors.
func ParseCertPool(data []byte, name string) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	n := 0
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: certificate %d: %w", name, n+1, err)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("%w in %s", ErrNoCertificates, name)
	}
	return pool, nil
}

// LoadKeyPair reads a certificate chain and its private key from PEM files
// and checks that they belong together. The leaf is parsed (Leaf is set).
// Errors name the file that is wrong; callers prefix the config field.
func LoadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	return ParseKeyPair(certPEM, keyPEM, certFile, keyFile)
}

// ParseKeyPair is LoadKeyPair on bytes already read; the names are used in
// errors.
func ParseKeyPair(certPEM, keyPEM []byte, certName, keyName string) (tls.Certificate, error) {
	if !hasBlock(certPEM, "CERTIFICATE") {
		return tls.Certificate{}, fmt.Errorf("%w in %s", ErrNoCertificates, certName)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%s and %s: %w", certName, keyName, err)
	}
	if pair.Leaf == nil {
		leaf, err := x509.ParseCertificate(pair.Certificate[0])
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("%s: %w", certName, err)
		}
		pair.Leaf = leaf
	}
	return pair, nil
}

// Expired reports whether the leaf of pair is outside its validity period
// at now, with a reason for the log ("expired at 2026-01-02T03:04:05Z").
func Expired(leaf *x509.Certificate, now time.Time) (string, bool) {
	switch {
	case now.After(leaf.NotAfter):
		return "expired at " + leaf.NotAfter.UTC().Format(time.RFC3339), true
	case now.Before(leaf.NotBefore):
		return "not valid before " + leaf.NotBefore.UTC().Format(time.RFC3339), true
	}
	return "", false
}

func hasBlock(data []byte, typ string) bool {
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return false
		}
		if b.Type == typ {
			return true
		}
	}
}
