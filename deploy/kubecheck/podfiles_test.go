package kubecheck

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// placeholder is the value of every Secret key the repository ships.
const placeholder = "REPLACE-ME"

// replacedPlaceholder stands in for a placeholder that an operator replaced:
// long enough for any secret vbproxy checks the length of.
const replacedPlaceholder = "kubecheck-test-value-0123456789abcdef"

// testCA signs the certificates that stand in for what cert-manager
// issues.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// oneCA issues every Certificate from ca.
func oneCA(ca *testCA) func(*Certificate) *testCA { return func(*Certificate) *testCA { return ca } }

// loadTestCA reads a CA certificate and its PKCS #8 ECDSA key (as cbsim
// writes them into its -tls-dir).
func loadTestCA(t *testing.T, certFile, keyFile string) *testCA {
	t.Helper()
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		t.Fatalf("%s or %s holds no PEM block", certFile, keyFile)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		t.Fatalf("%s: %T, want an ECDSA key", keyFile, k)
	}
	return &testCA{cert: cert, key: key, pem: certPEM}
}

// issue signs a leaf for names (IP literals become IP SANs) with the
// extended key usages of cert-manager's usage names, and returns the PEM
// chain and PKCS #8 key.
func (ca *testCA) issue(t *testing.T, commonName string, names, usages []string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: commonName},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	if slices.Contains(usages, "server auth") {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	if slices.Contains(usages, "client auth") {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

// podFiles writes under root what the container's Secret and ConfigMap
// volumes (the config's aside) would hold in a pod: a Secret's keys (with
// placeholders replaced when replace is set), a cert-manager Certificate's
// tls.crt, tls.key and ca.crt (issued by caFor(the Certificate) for its names
// and usages), a ConfigMap's keys. It returns the config with every path
// under such a mount moved below root, so that vbproxy reads the files there.
func podFiles(t *testing.T, objs Objects, w *Workload, caFor func(*Certificate) *testCA, root string, replace bool) []byte {
	t.Helper()
	cfg := string(w.ConfigData)
	spec := &w.Deployment.Spec.Template.Spec
	for _, m := range w.Container.VolumeMounts {
		vol := podVolume(spec, m.Name)
		if vol == nil || vol.ConfigMap != nil && vol.ConfigMap.Name == w.ConfigMap.Name {
			continue
		}
		files := map[string][]byte{} // key -> content
		switch {
		case vol.Secret != nil && objs.Secret(vol.Secret.SecretName) != nil:
			s := objs.Secret(vol.Secret.SecretName)
			for k, v := range s.Data {
				files[k] = v
			}
			for k, v := range s.StringData {
				if replace && v == placeholder {
					v = replacedPlaceholder
				}
				files[k] = []byte(v + "\n")
			}
		case vol.Secret != nil && objs.CertificateFor(vol.Secret.SecretName) != nil:
			c := objs.CertificateFor(vol.Secret.SecretName)
			names := slices.Concat(c.Spec.DNSNames, c.Spec.IPAddresses)
			ca := caFor(c)
			files[SecretCertKey], files[SecretKeyKey] = ca.issue(t, c.Spec.CommonName, names, c.Spec.Usages)
			files[SecretCAKey] = ca.pem
		case vol.ConfigMap != nil && objs.ConfigMap(vol.ConfigMap.Name) != nil:
			for k, v := range objs.ConfigMap(vol.ConfigMap.Name).Data {
				files[k] = []byte(v)
			}
		default:
			t.Fatalf("volume %s: neither a Secret, a Certificate's Secret nor a ConfigMap of the manifests", m.Name)
		}
		var items []struct{ key, path string }
		switch {
		case vol.Secret != nil && len(vol.Secret.Items) > 0:
			for _, it := range vol.Secret.Items {
				items = append(items, struct{ key, path string }{it.Key, it.Path})
			}
		case vol.ConfigMap != nil && len(vol.ConfigMap.Items) > 0:
			for _, it := range vol.ConfigMap.Items {
				items = append(items, struct{ key, path string }{it.Key, it.Path})
			}
		default:
			for k := range files {
				items = append(items, struct{ key, path string }{k, k})
			}
		}
		dir := filepath.Join(root, m.MountPath)
		for _, it := range items {
			data, ok := files[it.key]
			if !ok {
				t.Fatalf("volume %s: no key %q", m.Name, it.key)
			}
			p := filepath.Join(dir, it.path)
			if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		mp := strings.TrimSuffix(m.MountPath, "/") + "/"
		cfg = strings.ReplaceAll(cfg, mp, filepath.Join(root, mp)+"/")
	}
	return []byte(cfg)
}
