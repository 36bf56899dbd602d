package kubecheck

import (
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Certificate is the subset of cert-manager's Certificate
// (cert-manager.io/v1) that vbproxy's manifests use. Decoding is strict, so
// a field outside this subset is an error: extend the struct (with the
// field's real name and type from the CRD) before using a new one.
type Certificate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              CertificateSpec `json:"spec"`
}

// CertificateSpec is what cert-manager issues and where it stores it.
type CertificateSpec struct {
	// SecretName is the Secret cert-manager writes: tls.crt (the chain),
	// tls.key and, for CA-based issuers, ca.crt.
	SecretName     string                     `json:"secretName"`
	SecretTemplate *CertificateSecretTemplate `json:"secretTemplate,omitempty"`
	IssuerRef      IssuerRef                  `json:"issuerRef"`
	CommonName     string                     `json:"commonName,omitempty"`
	DNSNames       []string                   `json:"dnsNames,omitempty"`
	IPAddresses    []string                   `json:"ipAddresses,omitempty"`
	URIs           []string                   `json:"uris,omitempty"`
	EmailAddresses []string                   `json:"emailAddresses,omitempty"`
	// Usages are key usages and extended key usages by cert-manager's
	// names ("server auth", "client auth", "digital signature", ...).
	Usages []string `json:"usages,omitempty"`
	// Duration and RenewBefore are Go durations ("2160h").
	Duration    string                 `json:"duration,omitempty"`
	RenewBefore string                 `json:"renewBefore,omitempty"`
	PrivateKey  *CertificatePrivateKey `json:"privateKey,omitempty"`
}

// CertificateSecretTemplate labels and annotates the Secret.
type CertificateSecretTemplate struct {
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// IssuerRef names the Issuer or ClusterIssuer that signs.
type IssuerRef struct {
	Name  string `json:"name"`
	Kind  string `json:"kind,omitempty"`  // Issuer (default) or ClusterIssuer
	Group string `json:"group,omitempty"` // cert-manager.io (default) or an external issuer's
}

// CertificatePrivateKey says how the key is made and when it is replaced.
type CertificatePrivateKey struct {
	Algorithm      string `json:"algorithm,omitempty"`      // RSA, ECDSA, Ed25519
	Size           int    `json:"size,omitempty"`           // RSA bits; ECDSA 256, 384, 521
	Encoding       string `json:"encoding,omitempty"`       // PKCS1 or PKCS8
	RotationPolicy string `json:"rotationPolicy,omitempty"` // Never or Always
}

// The keys cert-manager writes into a Certificate's Secret.
const (
	SecretCertKey = "tls.crt"
	SecretKeyKey  = "tls.key"
	SecretCAKey   = "ca.crt"
)

// Certificates returns the cert-manager Certificates, in order.
func (s Objects) Certificates() []*Certificate { return collect[*Certificate](s) }

// CertificateFor returns the Certificate that writes the Secret called
// secret, or nil.
func (s Objects) CertificateFor(secret string) *Certificate {
	for _, c := range s.Certificates() {
		if c.Spec.SecretName == secret {
			return c
		}
	}
	return nil
}

// certUsages are the usage names cert-manager accepts (KeyUsage in the
// cert-manager.io/v1 API).
var certUsages = []string{
	"signing", "digital signature", "content commitment", "key encipherment", "key agreement",
	"data encipherment", "cert sign", "crl sign", "encipher only", "decipher only", "any",
	"server auth", "client auth", "code signing", "email protection", "s/mime",
	"ipsec end system", "ipsec tunnel", "ipsec user", "timestamping", "ocsp signing",
	"microsoft sgc", "netscape sgc",
}

// CheckCertificate checks one Certificate on its own: it names a Secret and
// an issuer, its usages are cert-manager's, its durations parse and it is
// renewed before it expires, and its key is replaced at each renewal (so
// that a leaked key stops working) with a size the algorithm supports.
func CheckCertificate(c *Certificate) error {
	var errs []string
	fail := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	s := &c.Spec
	if s.SecretName == "" {
		fail("spec.secretName is empty")
	}
	if s.IssuerRef.Name == "" {
		fail("spec.issuerRef.name is empty")
	}
	if g := s.IssuerRef.Group; g == "" || g == "cert-manager.io" {
		if k := s.IssuerRef.Kind; k != "" && k != "Issuer" && k != "ClusterIssuer" {
			fail("spec.issuerRef.kind %q, want Issuer or ClusterIssuer", k)
		}
	}
	if s.CommonName == "" && len(s.DNSNames)+len(s.IPAddresses)+len(s.URIs)+len(s.EmailAddresses) == 0 {
		fail("spec names nothing: set commonName or a dnsNames, ipAddresses, uris or emailAddresses entry")
	}
	for _, u := range s.Usages {
		if !slices.Contains(certUsages, u) {
			fail("spec.usages: %q is not a cert-manager usage", u)
		}
	}
	dur, renew := 90*24*time.Hour, time.Duration(0)
	if s.Duration != "" {
		d, err := time.ParseDuration(s.Duration)
		switch {
		case err != nil:
			fail("spec.duration: %v", err)
		case d < time.Hour:
			fail("spec.duration %s: cert-manager's minimum is 1h", s.Duration)
		default:
			dur = d
		}
	}
	if s.RenewBefore != "" {
		d, err := time.ParseDuration(s.RenewBefore)
		switch {
		case err != nil:
			fail("spec.renewBefore: %v", err)
		case d < 5*time.Minute:
			fail("spec.renewBefore %s: cert-manager's minimum is 5m", s.RenewBefore)
		default:
			renew = d
		}
	}
	if renew >= dur {
		fail("spec.renewBefore %s is not shorter than the duration %s: the certificate would be renewed forever", s.RenewBefore, dur)
	}
	pk := s.PrivateKey
	if pk == nil || pk.RotationPolicy != "Always" {
		fail("spec.privateKey.rotationPolicy: want Always, so that a renewal also replaces the key")
	}
	if pk != nil {
		switch pk.Algorithm {
		case "", "RSA":
			if pk.Size != 0 && pk.Size < 2048 {
				fail("spec.privateKey.size %d: RSA keys need at least 2048 bits", pk.Size)
			}
		case "ECDSA":
			if pk.Size != 0 && pk.Size != 256 && pk.Size != 384 && pk.Size != 521 {
				fail("spec.privateKey.size %d: ECDSA takes 256, 384 or 521", pk.Size)
			}
		case "Ed25519":
		default:
			fail("spec.privateKey.algorithm %q, want RSA, ECDSA or Ed25519", pk.Algorithm)
		}
		if e := pk.Encoding; e != "" && e != "PKCS1" && e != "PKCS8" {
			fail("spec.privateKey.encoding %q, want PKCS1 or PKCS8", e)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("Certificate %s: %s", c.Name, strings.Join(errs, "; "))
	}
	return nil
}

// hasUsage reports whether c may be used for u: its usages list u, or it
// lists none (then no extended key usage restricts it).
func (c *Certificate) hasUsage(u string) bool {
	return len(c.Spec.Usages) == 0 || slices.Contains(c.Spec.Usages, u)
}
