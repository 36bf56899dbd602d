package kubecheck

import (
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

var (
	tlsOnce sync.Once
	tlsYAML []byte
	tlsErr  error
)

// freshTLS returns a new decoded copy of the rendered tls example, for a
// test to mutate.
func freshTLS(t *testing.T) Objects {
	t.Helper()
	tlsOnce.Do(func() { _, tlsYAML, tlsErr = Build(filepath.Join(kubeDir, "examples", "tls")) })
	if tlsErr != nil {
		t.Fatal(tlsErr)
	}
	objs, err := Decode(tlsYAML, "tls")
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func volumeNamed(t *testing.T, objs Objects, name string) *corev1.Volume {
	t.Helper()
	d, _ := vbproxyDeployment(t, objs)
	v := podVolume(&d.Spec.Template.Spec, name)
	if v == nil {
		t.Fatalf("no volume %q", name)
	}
	return v
}

func mountNamed(t *testing.T, objs Objects, name string) *corev1.VolumeMount {
	t.Helper()
	_, c := vbproxyDeployment(t, objs)
	for i := range c.VolumeMounts {
		if c.VolumeMounts[i].Name == name {
			return &c.VolumeMounts[i]
		}
	}
	t.Fatalf("no volumeMount %q", name)
	return nil
}

func certNamed(t *testing.T, objs Objects, name string) *Certificate {
	t.Helper()
	for _, c := range objs.Certificates() {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no Certificate %q", name)
	return nil
}

// certAuth switches the tls example's config from the password to
// certificate authentication, as its comments describe.
func certAuth(s string) string {
	s = strings.Replace(s, "  user: vbproxy\n  password_env: VBPROXY_PASSWORD\n", "", 1)
	s = strings.Replace(s, "    #   client_cert_file:", "    client_cert_file:", 1)
	return strings.Replace(s, "    #   client_key_file:", "    client_key_file:", 1)
}

// TestCheckWorkloadTLSDetects breaks the tls example one way at a time and
// checks that CheckWorkload names the problem: the files the config reads
// for TLS and the admin token, the Secrets and Certificates behind them.
func TestCheckWorkloadTLSDetects(t *testing.T) {
	mode := func(m int32) *int32 { return &m }
	tests := []struct {
		name   string
		mutate func(t *testing.T, objs Objects)
		want   string
	}{
		{"listener key not mounted", func(t *testing.T, objs Objects) {
			setConfig(t, objs, replace("/var/run/secrets/vbproxy/listener/tls.key", "/var/run/secrets/vbproxy/other/tls.key"))
		}, "the config's listeners[1].tls.key_file /var/run/secrets/vbproxy/other/tls.key is not mounted"},
		{"token file from the config's ConfigMap", func(t *testing.T, objs Objects) {
			setConfig(t, objs, replace("/var/run/secrets/vbproxy/admin/token", "/etc/vbproxy/token"))
		}, "/etc/vbproxy/token (admin.token_file: admin token) is not mounted from a Secret"},
		{"certificate by subPath", func(t *testing.T, objs Objects) {
			m := mountNamed(t, objs, "listener-tls")
			m.MountPath, m.SubPath = "/var/run/secrets/vbproxy/listener/tls.crt", "tls.crt"
		}, "is a subPath mount, which never sees an updated Secret"},
		{"cluster CA mounted writable", func(t *testing.T, objs Objects) {
			mountNamed(t, objs, "cluster-tls").ReadOnly = false
		}, "/var/run/secrets/vbproxy/cluster/ca.crt (cluster.tls.ca_file) is mounted writable"},
		{"keys readable by everyone", func(t *testing.T, objs Objects) {
			volumeNamed(t, objs, "listener-tls").Secret.DefaultMode = mode(0o644)
		}, "listeners[1].tls.key_file: /var/run/secrets/vbproxy/listener/tls.key (private key) has mode 0644"},
		{"token readable by everyone", func(t *testing.T, objs Objects) {
			volumeNamed(t, objs, "admin-token").Secret.DefaultMode = nil
		}, "admin.token_file: /var/run/secrets/vbproxy/admin/token (admin token) has mode 0644"},
		{"token item missing", func(t *testing.T, objs Objects) {
			volumeNamed(t, objs, "admin-token").Secret.Items[0].Path = "admin-token"
		}, "admin.token_file: /var/run/secrets/vbproxy/admin/token: the volume's items do not include this file"},
		{"token key missing", func(t *testing.T, objs Objects) {
			volumeNamed(t, objs, "admin-token").Secret.Items[0].Key = "bearer"
		}, `Secret vbproxy-admin has no key "bearer"`},
		{"secret nobody writes", func(t *testing.T, objs Objects) {
			volumeNamed(t, objs, "cluster-tls").Secret.SecretName = "couchbase-ca"
		}, `no Secret "couchbase-ca", and no Certificate writes one`},
		{"key from the certificate key", func(t *testing.T, objs Objects) {
			setConfig(t, objs, replace("key_file: /var/run/secrets/vbproxy/listener/tls.key", "key_file: /var/run/secrets/vbproxy/listener/tls.crt"))
		}, `key "tls.crt" of Certificate vbproxy-listener's Secret vbproxy-listener-tls, want "tls.key" (private key)`},
		{"listener certificate without server auth", func(t *testing.T, objs Objects) {
			certNamed(t, objs, "vbproxy-listener").Spec.Usages = []string{"digital signature", "client auth"}
		}, `Certificate vbproxy-listener serves a listener but its usages [digital signature client auth] lack "server auth"`},
		{"cluster certificate without client auth", func(t *testing.T, objs Objects) {
			setConfig(t, objs, certAuth)
			certNamed(t, objs, "vbproxy-cluster").Spec.Usages = []string{"server auth"}
		}, `Certificate vbproxy-cluster authenticates to the cluster but its usages [server auth] lack "client auth"`},
		{"listener certificate without the Service name", func(t *testing.T, objs Objects) {
			c := certNamed(t, objs, "vbproxy-listener")
			c.Spec.DNSNames = c.Spec.DNSNames[1:]
		}, `lack "vbproxy", the Service clients dial`},
		{"listener certificate without the namespaced name", func(t *testing.T, objs Objects) {
			c := certNamed(t, objs, "vbproxy-listener")
			c.Spec.DNSNames = c.Spec.DNSNames[:1]
		}, `lack "vbproxy.couchbase.svc", the name clients in other namespaces dial`},
		{"certificate renewed after it expires", func(t *testing.T, objs Objects) {
			certNamed(t, objs, "vbproxy-cluster").Spec.RenewBefore = "3000h"
		}, "Certificate vbproxy-cluster: spec.renewBefore 3000h is not shorter than the duration 2160h0m0s"},
		{"certificate keeps its key", func(t *testing.T, objs Objects) {
			certNamed(t, objs, "vbproxy-listener").Spec.PrivateKey.RotationPolicy = "Never"
		}, "Certificate vbproxy-listener: spec.privateKey.rotationPolicy: want Always"},
		{"certificate usage misspelt", func(t *testing.T, objs Objects) {
			certNamed(t, objs, "vbproxy-listener").Spec.Usages = []string{"server-auth"}
		}, `spec.usages: "server-auth" is not a cert-manager usage`},
		{"certificate whose secret nobody mounts", func(t *testing.T, objs Objects) {
			certNamed(t, objs, "vbproxy-cluster").Spec.SecretName = "vbproxy-cluster-cert"
		}, "Certificate vbproxy-cluster: its Secret vbproxy-cluster-cert is not a volume of Deployment vbproxy"},
		{"nested mount", func(t *testing.T, objs Objects) {
			mountNamed(t, objs, "admin-token").MountPath = "/etc/vbproxy/admin"
		}, "admin-token at /etc/vbproxy/admin is inside config at /etc/vbproxy"},
		{"verification off", func(t *testing.T, objs Objects) {
			setConfig(t, objs, replace("insecure_skip_verify: false", "insecure_skip_verify: true"))
		}, "cluster.tls.insecure_skip_verify is true"},
		{"admin TLS probed over HTTP", func(t *testing.T, objs Objects) {
			setConfig(t, objs, replace("  token_file: /var/run/secrets/vbproxy/admin/token",
				"  token_file: /var/run/secrets/vbproxy/admin/token\n  tls: {cert_file: /var/run/secrets/vbproxy/listener/tls.crt, key_file: /var/run/secrets/vbproxy/listener/tls.key}"))
		}, `readinessProbe: httpGet.scheme "", want HTTPS: admin.tls serves the admin port over TLS`},
		{"TLS port not on the Service", func(t *testing.T, objs Objects) {
			s := objs.Services()[0]
			s.Spec.Ports = slices.DeleteFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == "memcached-tls" })
		}, "no port 11207 targeting listeners[1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := freshTLS(t)
			if _, err := CheckWorkload(objs, WorkloadOptions{}); err != nil {
				t.Fatalf("CheckWorkload(tls) = %v, want nil", err)
			}
			tt.mutate(t, objs)
			_, err := CheckWorkload(objs, WorkloadOptions{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("CheckWorkload error = %v\nwant it to contain %q", err, tt.want)
			}
		})
	}
}

// TestCheckWorkloadTLSFromConfigMap accepts CA bundles and certificates
// from a ConfigMap (a trust-manager Bundle, say), and refuses a private key
// from one.
func TestCheckWorkloadTLSFromConfigMap(t *testing.T) {
	objs := freshTLS(t)
	d, c := vbproxyDeployment(t, objs)
	cfg := objs.ConfigMaps()[0]
	cfg.Data["ca.crt"] = "-----BEGIN CERTIFICATE-----\n"
	c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "bundle", MountPath: "/var/run/vbproxy/bundle", ReadOnly: true})
	d.Spec.Template.Spec.Volumes = append(d.Spec.Template.Spec.Volumes, corev1.Volume{Name: "bundle",
		VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: cfg.Name},
			Items:                []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.pem"}},
		}}})
	setConfig(t, objs, replace("ca_file: /var/run/secrets/vbproxy/cluster/ca.crt", "ca_file: /var/run/vbproxy/bundle/ca.pem"))
	if _, err := CheckWorkload(objs, WorkloadOptions{}); err != nil {
		t.Errorf("CheckWorkload with the CA from a ConfigMap = %v, want nil", err)
	}
	setConfig(t, objs, certAuth)
	if _, err := CheckWorkload(objs, WorkloadOptions{}); err != nil {
		t.Errorf("CheckWorkload with certificate authentication = %v, want nil", err)
	}
	setConfig(t, objs, replace("client_key_file: /var/run/secrets/vbproxy/cluster/tls.key", "client_key_file: /var/run/vbproxy/bundle/ca.pem"))
	_, err := CheckWorkload(objs, WorkloadOptions{})
	if want := "/var/run/vbproxy/bundle/ca.pem (cluster.tls.client_key_file: private key) is not mounted from a Secret"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("CheckWorkload with a key from a ConfigMap = %v, want %q", err, want)
	}
}

func TestParseProxyConfigFiles(t *testing.T) {
	c, err := ParseProxyConfig([]byte(`
listeners:
  - {address: ":11211", bucket: b}
  - address: ":11207"
    bucket: b
    tls: {cert_file: /l/c.pem, key_file: /l/k.pem, client_ca_file: /l/ca.pem, client_auth: require}
cluster:
  seeds: [http://a:8091, https://b:18091]
  tls: {ca_file: /c/ca.pem, client_cert_file: /c/c.pem, client_key_file: /c/k.pem}
admin:
  address: ":8080"
  token_file: /a/token
  tls: {cert_file: /a/c.pem, key_file: /a/k.pem}
`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range c.Files {
		got = append(got, f.Field+"="+f.Path+" "+f.Kind.String())
	}
	want := []string{
		"listeners[1].tls.cert_file=/l/c.pem certificate", "listeners[1].tls.key_file=/l/k.pem private key",
		"listeners[1].tls.client_ca_file=/l/ca.pem CA bundle", "cluster.tls.ca_file=/c/ca.pem CA bundle",
		"cluster.tls.client_cert_file=/c/c.pem certificate", "cluster.tls.client_key_file=/c/k.pem private key",
		"admin.token_file=/a/token admin token", "admin.tls.cert_file=/a/c.pem certificate", "admin.tls.key_file=/a/k.pem private key",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Files:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if c.Listeners[0].TLS || !c.Listeners[1].TLS || !c.ClusterTLS.On || !c.AdminTLS {
		t.Errorf("listener TLS %v %v, cluster TLS %v, admin TLS %v; want false true true true",
			c.Listeners[0].TLS, c.Listeners[1].TLS, c.ClusterTLS.On, c.AdminTLS)
	}
}

// TestCheckWorkloadAdminTLS: with admin.tls the probes must use HTTPS, and
// then pass.
func TestCheckWorkloadAdminTLS(t *testing.T) {
	objs := freshTLS(t)
	setConfig(t, objs, replace("  token_file: /var/run/secrets/vbproxy/admin/token",
		"  token_file: /var/run/secrets/vbproxy/admin/token\n  tls: {cert_file: /var/run/secrets/vbproxy/listener/tls.crt, key_file: /var/run/secrets/vbproxy/listener/tls.key}"))
	_, c := vbproxyDeployment(t, objs)
	c.ReadinessProbe.HTTPGet.Scheme = corev1.URISchemeHTTPS
	c.LivenessProbe.HTTPGet.Scheme = corev1.URISchemeHTTPS
	if _, err := CheckWorkload(objs, WorkloadOptions{}); err != nil {
		t.Errorf("CheckWorkload with admin.tls and HTTPS probes = %v, want nil", err)
	}
}

func TestCheckCertificate(t *testing.T) {
	good := func() *Certificate {
		c := &Certificate{Spec: CertificateSpec{SecretName: "s", IssuerRef: IssuerRef{Name: "i"}, DNSNames: []string{"a"},
			Duration: "2160h", RenewBefore: "720h", PrivateKey: &CertificatePrivateKey{Algorithm: "ECDSA", Size: 256, RotationPolicy: "Always"}}}
		c.Name = "c"
		return c
	}
	if err := CheckCertificate(good()); err != nil {
		t.Fatalf("CheckCertificate(good) = %v", err)
	}
	for _, tc := range []struct {
		name   string
		mutate func(c *Certificate)
		want   string
	}{
		{"no secret", func(c *Certificate) { c.Spec.SecretName = "" }, "spec.secretName is empty"},
		{"no issuer", func(c *Certificate) { c.Spec.IssuerRef.Name = "" }, "spec.issuerRef.name is empty"},
		{"issuer kind", func(c *Certificate) { c.Spec.IssuerRef.Kind = "CertIssuer" }, `spec.issuerRef.kind "CertIssuer"`},
		{"no names", func(c *Certificate) { c.Spec.DNSNames = nil }, "spec names nothing"},
		{"short duration", func(c *Certificate) { c.Spec.Duration, c.Spec.RenewBefore = "30m", "" }, "cert-manager's minimum is 1h"},
		{"bad duration", func(c *Certificate) { c.Spec.Duration = "90d" }, `spec.duration: time: unknown unit "d"`},
		{"short renewal", func(c *Certificate) { c.Spec.RenewBefore = "1m" }, "cert-manager's minimum is 5m"},
		{"no private key", func(c *Certificate) { c.Spec.PrivateKey = nil }, "rotationPolicy: want Always"},
		{"small RSA", func(c *Certificate) { c.Spec.PrivateKey.Algorithm, c.Spec.PrivateKey.Size = "RSA", 1024 }, "at least 2048 bits"},
		{"ECDSA size", func(c *Certificate) { c.Spec.PrivateKey.Size = 255 }, "ECDSA takes 256, 384 or 521"},
		{"algorithm", func(c *Certificate) { c.Spec.PrivateKey.Algorithm = "DSA" }, `algorithm "DSA"`},
		{"encoding", func(c *Certificate) { c.Spec.PrivateKey.Encoding = "PEM" }, `encoding "PEM"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good()
			tc.mutate(c)
			err := CheckCertificate(c)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "Certificate c: ") {
				t.Errorf("CheckCertificate = %v, want an error for Certificate c containing %q", err, tc.want)
			}
		})
	}
	// An external issuer (another API group) may use its own kinds.
	c := good()
	c.Spec.IssuerRef = IssuerRef{Name: "vault", Kind: "VaultIssuer", Group: "vault.example.com"}
	if err := CheckCertificate(c); err != nil {
		t.Errorf("CheckCertificate with an external issuer = %v, want nil", err)
	}
}
