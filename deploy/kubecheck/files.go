package kubecheck

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// defaultSecretMode is the mode Kubernetes gives Secret and ConfigMap files
// when a volume sets none.
const defaultSecretMode = 0o644

// files: every certificate, key, CA bundle and token file the config names
// is mounted read-only as part of a directory (a subPath mount never sees a
// renewed Secret, so rotation would silently stop), from a Secret (keys and
// the token; a ConfigMap may carry certificates and CA bundles) that exists
// or that a cert-manager Certificate of objs writes, with the key present,
// and keys and the token not readable by other users.
func (c *checker) files() {
	for _, f := range c.w.Config.Files {
		c.file(f)
	}
}

func (c *checker) file(f ConfigFile) {
	where := c.where("volumeMounts")
	for _, m := range c.w.Container.VolumeMounts {
		rel, ok := mountedFile(m, f.Path)
		if !ok {
			continue
		}
		if !m.ReadOnly {
			c.failf("%s: %s: %s (%s) is mounted writable: set readOnly", where, m.Name, f.Path, f.Field)
		}
		if m.SubPath != "" {
			c.failf("%s: %s: %s (%s) is a subPath mount, which never sees an updated Secret: mount the directory", where, m.Name, f.Path, f.Field)
			return
		}
		vol := podVolume(&c.w.Deployment.Spec.Template.Spec, m.Name)
		switch {
		case vol == nil:
			c.failf("%s: %s: no volume %q", where, f.Field, m.Name)
		case vol.Secret != nil:
			key, mode := volumeItem(vol.Secret.Items, rel, vol.Secret.DefaultMode)
			c.secretFile(f, m.Name, vol.Secret.SecretName, key)
			c.fileMode(f, m.Name, mode)
		case vol.ConfigMap != nil && !f.Kind.Secret():
			key, _ := volumeItem(vol.ConfigMap.Items, rel, vol.ConfigMap.DefaultMode)
			if cm := c.objs.ConfigMap(vol.ConfigMap.Name); cm == nil {
				c.failf("%s: %s: no ConfigMap %q", where, f.Field, vol.ConfigMap.Name)
			} else if _, ok := cm.Data[key]; !ok {
				c.failf("%s: %s: ConfigMap %s has no key %q", where, f.Field, cm.Name, key)
			}
		default:
			c.failf("%s: %s (%s: %s) is not mounted from a Secret", where, f.Path, f.Field, f.Kind)
		}
		return
	}
	c.failf("%s: the config's %s %s is not mounted", where, f.Field, f.Path)
}

// volumeItem returns the key a file of a Secret or ConfigMap volume comes
// from and its mode.
func volumeItem(items []corev1.KeyToPath, rel string, defaultMode *int32) (key string, mode int32) {
	mode = defaultSecretMode
	if defaultMode != nil {
		mode = *defaultMode
	}
	if len(items) == 0 {
		return rel, mode
	}
	for _, it := range items {
		if it.Path == rel {
			if it.Mode != nil {
				mode = *it.Mode
			}
			return it.Key, mode
		}
	}
	return "", mode // the volume does not project this file
}

// secretFile checks that key of Secret name exists: in a Secret of objs, or
// among the keys a Certificate of objs writes into it, by a Certificate that
// may serve f's purpose.
func (c *checker) secretFile(f ConfigFile, mount, name, key string) {
	where := fmt.Sprintf("%s: %s: %s", c.where("volumeMounts "+mount), f.Field, f.Path)
	if key == "" {
		c.failf("%s: the volume's items do not include this file", where)
		return
	}
	if s := c.objs.Secret(name); s != nil {
		_, inData := s.Data[key]
		_, inString := s.StringData[key]
		if !inData && !inString {
			c.failf("%s: Secret %s has no key %q", where, name, key)
		}
		return
	}
	cert := c.objs.CertificateFor(name)
	if cert == nil {
		c.failf("%s: no Secret %q, and no Certificate writes one", where, name)
		return
	}
	want := map[FileKind]string{FileCert: SecretCertKey, FileKey: SecretKeyKey, FileCA: SecretCAKey}[f.Kind]
	switch {
	case f.Kind == FileToken:
		c.failf("%s: the admin token comes from Certificate %s's Secret %s", where, cert.Name, name)
	case key != want && !(f.Kind == FileCA && key == SecretCertKey):
		c.failf("%s: key %q of Certificate %s's Secret %s, want %q (%s)", where, key, cert.Name, name, want, f.Kind)
	}
	switch {
	case f.Of == ForListener && f.Kind != FileCA && !cert.hasUsage("server auth"):
		c.failf("%s: Certificate %s serves a listener but its usages %v lack \"server auth\"", where, cert.Name, cert.Spec.Usages)
	case f.Of == ForCluster && f.Kind != FileCA && !cert.hasUsage("client auth"):
		c.failf("%s: Certificate %s authenticates to the cluster but its usages %v lack \"client auth\"", where, cert.Name, cert.Spec.Usages)
	}
	if f.Of == ForListener && f.Kind == FileCert {
		c.listenerNames(where, cert)
	}
}

// listenerNames: a listener's certificate names the clients' Service, as
// clients in the namespace dial it.
func (c *checker) listenerNames(where string, cert *Certificate) {
	svc := c.o.ClientService
	if !slices.Contains(cert.Spec.DNSNames, svc) {
		c.failf("%s: Certificate %s: dnsNames %v lack %q, the Service clients dial", where, cert.Name, cert.Spec.DNSNames, svc)
	}
	if ns := cert.Namespace; ns != "" {
		for _, full := range []string{svc + "." + ns + ".svc", svc + "." + ns + ".svc.cluster.local"} {
			if !slices.Contains(cert.Spec.DNSNames, full) {
				c.failf("%s: Certificate %s: dnsNames %v lack %q, the name clients in other namespaces dial", where, cert.Name, cert.Spec.DNSNames, full)
			}
		}
	}
}

// fileMode: private keys and the token are readable by the file's owner
// and group (the pod's fsGroup) only.
func (c *checker) fileMode(f ConfigFile, mount string, mode int32) {
	if f.Kind.Secret() && mode&0o007 != 0 {
		c.failf("%s: %s: %s (%s) has mode %#o: other users may read it, want at most 0440", c.where("volumeMounts "+mount),
			f.Field, f.Path, f.Kind, mode)
	}
}

// mounts: no volume is mounted inside another volume's mount: the runtime
// would have to create the mount point inside the outer volume, which fails
// for read-only ConfigMap and Secret volumes.
func (c *checker) mounts() {
	ms := c.w.Container.VolumeMounts
	for i, a := range ms {
		for j, b := range ms {
			if i == j {
				continue
			}
			outer := strings.TrimSuffix(a.MountPath, "/") + "/"
			if strings.HasPrefix(b.MountPath, outer) || (a.MountPath == b.MountPath && i < j) {
				c.failf("%s: %s at %s is inside %s at %s: mount them side by side", c.where("volumeMounts"), b.Name, b.MountPath, a.Name, a.MountPath)
			}
		}
	}
}

// certificates: every cert-manager Certificate is sound on its own
// (CheckCertificate), and its Secret is mounted by the pod.
func (c *checker) certificates() {
	spec := &c.w.Deployment.Spec.Template.Spec
	for _, cert := range c.objs.Certificates() {
		if err := CheckCertificate(cert); err != nil {
			c.failf("%v", err)
		}
		used := slices.ContainsFunc(spec.Volumes, func(v corev1.Volume) bool {
			return v.Secret != nil && v.Secret.SecretName == cert.Spec.SecretName
		})
		if !used {
			c.failf("Certificate %s: its Secret %s is not a volume of Deployment %s", cert.Name, cert.Spec.SecretName, c.w.Deployment.Name)
		}
	}
}

// clusterTLS: a shipped config never turns certificate verification off.
func (c *checker) clusterTLS() {
	if c.w.Config.ClusterTLS.InsecureSkipVerify {
		c.failf("ConfigMap %s key %s: cluster.tls.insecure_skip_verify is true: any certificate, any man in the middle, would be accepted",
			c.w.ConfigMap.Name, c.w.ConfigKey)
	}
}
