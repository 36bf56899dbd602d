// Package certs issues X.509 certificates at run time for tests and for the
// simulated cluster (sim): a certificate authority, server certificates for
// chosen hosts, client certificates that name a user, and the broken
// variants TLS tests need. Keys are ECDSA P-256. It is not meant for
// production certificates: keys are written unencrypted.
//
// The usual set for a test:
//
//	ca, _ := certs.NewCA("test CA")
//	srv, _ := ca.Server("127.0.0.1", "localhost")   // IP and DNS SANs
//	cli, _ := ca.Client("Administrator")            // CN = the user
//	pool := ca.Pool()                               // for tls.Config.RootCAs / ClientCAs
//
// and the broken variants:
//
//	ca.ExpiredServer("127.0.0.1")     // validity ended yesterday
//	ca.NotYetValidServer("127.0.0.1") // validity starts tomorrow
//	ca.Server("wrong.invalid")        // names another host
//	other, _ := certs.NewCA("unknown CA"); other.Server("127.0.0.1") // untrusted issuer
//
// Files: CA.WriteFiles and Cert.WriteFiles write NAME.pem (certificate) and
// NAME-key.pem (PKCS #8 private key, mode 0600) into a directory, each by
// rename so that a reader never sees half a file; LoadCA reads a CA back.
package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// Validity defaults.
const (
	// DefaultValidity is how long an issued certificate is valid when
	// Options.NotAfter is zero.
	DefaultValidity = 365 * 24 * time.Hour
	// CAValidity is how long a CA from NewCA is valid.
	CAValidity = 10 * 365 * 24 * time.Hour
	// Backdate is how far before now validity starts when Options.NotBefore
	// is zero, so that small clock differences do not matter.
	Backdate = time.Hour
)

// CA is a certificate authority that signs certificates. It is immutable
// and safe for concurrent use.
type CA struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
	keyPEM  []byte
}

// Cert is an issued certificate with its private key.
type Cert struct {
	X509    *x509.Certificate
	Key     *ecdsa.PrivateKey
	CertPEM []byte // "CERTIFICATE" block
	KeyPEM  []byte // "PRIVATE KEY" block (PKCS #8)
}

// Options describe a certificate to issue. The zero value is a server
// certificate with no name, valid from Backdate ago for DefaultValidity.
type Options struct {
	// CommonName is the subject CN. Default "".
	CommonName string
	// Hosts become subject alternative names: an IP literal ("127.0.0.11",
	// "::1") an IP SAN, anything else a DNS SAN.
	Hosts []string
	// Emails and URIs become email and URI SANs (client certificates that
	// map a SAN to a user). URIs must parse with net/url.
	Emails []string
	URIs   []string
	// Client makes a client certificate (extended key usage clientAuth)
	// instead of a server certificate (serverAuth).
	Client bool
	// NotBefore and NotAfter bound validity. Zero: now minus Backdate, and
	// NotBefore plus DefaultValidity.
	NotBefore, NotAfter time.Time
}

// NewCA creates a self-signed CA named commonName, valid from Backdate ago
// for CAValidity.
func NewCA(commonName string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("certs: CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"vbproxy test"}},
		NotBefore:             now.Add(-Backdate),
		NotAfter:              now.Add(CAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("certs: create CA %q: %w", commonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("certs: parse CA %q: %w", commonName, err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	return &CA{cert: cert, key: key, certPEM: encodeCert(der), keyPEM: keyPEM}, nil
}

// LoadCA reads a CA written by CA.WriteFiles (or any PEM certificate with
// an ECDSA PKCS #8 or SEC 1 key), so that a test can issue more
// certificates from a CA another process created.
func LoadCA(certFile, keyFile string) (*CA, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("certs: CA certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("certs: CA key: %w", err)
	}
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("certs: %s: no CERTIFICATE block", certFile)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("certs: %s: %w", certFile, err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("certs: %s: not a CA certificate", certFile)
	}
	key, err := decodeKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("certs: %s: %w", keyFile, err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("certs: %s does not match the key in %s", certFile, keyFile)
	}
	return &CA{cert: cert, key: key, certPEM: encodeCert(cert.Raw), keyPEM: keyPEM}, nil
}

// Certificate returns the CA certificate. Do not modify.
func (ca *CA) Certificate() *x509.Certificate { return ca.cert }

// CertPEM returns the CA certificate as PEM (what a ca_file holds).
func (ca *CA) CertPEM() []byte { return ca.certPEM }

// KeyPEM returns the CA private key as PEM.
func (ca *CA) KeyPEM() []byte { return ca.keyPEM }

// Pool returns a new pool holding only this CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// WriteFiles writes DIR/NAME.pem and DIR/NAME-key.pem and returns their
// paths.
func (ca *CA) WriteFiles(dir, name string) (certFile, keyFile string, err error) {
	return writePair(dir, name, ca.certPEM, ca.keyPEM)
}

// Issue signs a certificate described by o.
func (ca *CA) Issue(o Options) (*Cert, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("certs: key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	notBefore, notAfter := o.NotBefore, o.NotAfter
	if notBefore.IsZero() {
		notBefore = time.Now().Add(-Backdate)
	}
	if notAfter.IsZero() {
		notAfter = notBefore.Add(DefaultValidity)
	}
	if !notAfter.After(notBefore) {
		return nil, fmt.Errorf("certs: NotAfter %s is not after NotBefore %s", notAfter, notBefore)
	}
	usage := x509.ExtKeyUsageServerAuth
	if o.Client {
		usage = x509.ExtKeyUsageClientAuth
	}
	tmpl := &x509.Certificate{
		SerialNumber:   serial,
		Subject:        pkix.Name{CommonName: o.CommonName},
		NotBefore:      notBefore,
		NotAfter:       notAfter,
		KeyUsage:       x509.KeyUsageDigitalSignature,
		ExtKeyUsage:    []x509.ExtKeyUsage{usage},
		EmailAddresses: o.Emails,
	}
	for _, h := range o.Hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	for _, s := range o.URIs {
		u, err := url.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("certs: URI SAN %q: %w", s, err)
		}
		tmpl.URIs = append(tmpl.URIs, u)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, fmt.Errorf("certs: create certificate %q: %w", o.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("certs: parse certificate %q: %w", o.CommonName, err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	return &Cert{X509: cert, Key: key, CertPEM: encodeCert(der), KeyPEM: keyPEM}, nil
}

// Server issues a server certificate for hosts (IP or DNS SANs), with the
// first host as CN.
func (ca *CA) Server(hosts ...string) (*Cert, error) {
	return ca.Issue(Options{CommonName: first(hosts), Hosts: hosts})
}

// Client issues a client certificate whose subject CN is user.
func (ca *CA) Client(user string) (*Cert, error) {
	return ca.Issue(Options{CommonName: user, Client: true})
}

// ExpiredServer issues a server certificate for hosts whose validity ended
// a day ago.
func (ca *CA) ExpiredServer(hosts ...string) (*Cert, error) {
	now := time.Now()
	return ca.Issue(Options{CommonName: first(hosts), Hosts: hosts,
		NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-24 * time.Hour)})
}

// NotYetValidServer issues a server certificate for hosts whose validity
// starts in a day.
func (ca *CA) NotYetValidServer(hosts ...string) (*Cert, error) {
	now := time.Now()
	return ca.Issue(Options{CommonName: first(hosts), Hosts: hosts,
		NotBefore: now.Add(24 * time.Hour), NotAfter: now.Add(48 * time.Hour)})
}

// TLSCertificate returns c for tls.Config.Certificates (server) or
// GetClientCertificate (client), with Leaf set.
func (c *Cert) TLSCertificate() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{c.X509.Raw}, PrivateKey: c.Key, Leaf: c.X509}
}

// WriteFiles writes DIR/NAME.pem and DIR/NAME-key.pem and returns their
// paths (what cert_file and key_file settings take).
func (c *Cert) WriteFiles(dir, name string) (certFile, keyFile string, err error) {
	return writePair(dir, name, c.CertPEM, c.KeyPEM)
}

func first(hosts []string) string {
	if len(hosts) == 0 {
		return ""
	}
	return hosts[0]
}

func newSerial() (*big.Int, error) {
	s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("certs: serial number: %w", err)
	}
	return s.Add(s, big.NewInt(1)), nil // never 0
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func encodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("certs: marshal key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func decodeKey(data []byte) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	switch block.Type {
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		ek, ok := k.(*ecdsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("key is %T, want an ECDSA key", k)
		}
		return ek, nil
	case "EC PRIVATE KEY":
		return x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q, want PRIVATE KEY or EC PRIVATE KEY", block.Type)
	}
}

// writePair writes the certificate and key files of name into dir.
func writePair(dir, name string, certPEM, keyPEM []byte) (certFile, keyFile string, err error) {
	certFile = filepath.Join(dir, name+".pem")
	keyFile = filepath.Join(dir, name+"-key.pem")
	if err := writeFile(keyFile, keyPEM, 0o600); err != nil {
		return "", "", err
	}
	if err := writeFile(certFile, certPEM, 0o644); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}

// writeFile replaces path with data by writing a temporary file in the same
// directory and renaming it.
func writeFile(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("certs: write %s: %w", path, err)
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	cerr := f.Close()
	if err := errors.Join(werr, cerr, os.Chmod(tmp, mode)); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("certs: write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("certs: write %s: %w", path, err)
	}
	return nil
}
