package kubecheck

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// kubeDir is deploy/kubernetes, relative to this package.
const kubeDir = "../kubernetes"

// buildable lists every kustomization that is meant to be applied: the base
// and each example overlay. Components are checked through the examples.
func buildable(t *testing.T) []string {
	t.Helper()
	dirs := []string{filepath.Join(kubeDir, "base")}
	examples, err := os.ReadDir(filepath.Join(kubeDir, "examples"))
	if err != nil {
		t.Fatalf("read examples: %v", err)
	}
	for _, e := range examples {
		if e.IsDir() {
			dirs = append(dirs, filepath.Join(kubeDir, "examples", e.Name()))
		}
	}
	if len(dirs) < 3 {
		t.Fatalf("kustomizations = %v, want the base and at least two examples", dirs)
	}
	return dirs
}

// TestManifestFilesDecodeStrictly decodes every YAML manifest under
// deploy/kubernetes (kustomization files and config files aside) into its
// typed object, rejecting unknown fields.
func TestManifestFilesDecodeStrictly(t *testing.T) {
	n := 0
	err := filepath.WalkDir(kubeDir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".yaml") {
			return err
		}
		switch filepath.Base(p) {
		case KustomizationFile, "vbproxy.yaml":
			return nil
		}
		n++
		objs, err := DecodeFile(p)
		if err != nil {
			t.Errorf("DecodeFile(%s): %v", p, err)
			return nil
		}
		if len(objs) == 0 {
			t.Errorf("DecodeFile(%s): no objects", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 10 {
		t.Errorf("decoded %d manifest files, want at least 10 (did the layout move?)", n)
	}
}

// TestKustomizationsStructure checks every kustomization.yaml (base,
// components, examples) structurally, and that every YAML file under
// deploy/kubernetes is used by some kustomization.
func TestKustomizationsStructure(t *testing.T) {
	used := map[string]bool{}
	for _, dir := range buildable(t) {
		tree, err := CheckKustomization(dir)
		if err != nil {
			t.Errorf("CheckKustomization(%s): %v", dir, err)
			continue
		}
		for _, f := range tree.Files {
			used[f] = true
		}
	}
	err := filepath.WalkDir(kubeDir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".yaml") {
			return err
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return err
		}
		if !used[abs] {
			t.Errorf("%s is not used by any example or the base", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestKustomizeBuild renders every kustomization with the kustomize library,
// decodes the output strictly and cross-checks the objects.
func TestKustomizeBuild(t *testing.T) {
	for _, dir := range buildable(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			objs, _, err := Build(dir)
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			w, err := CheckWorkload(objs, WorkloadOptions{})
			if err != nil {
				t.Fatalf("CheckWorkload: %v", err)
			}
			if got := len(w.Config.Listeners); got < 1 {
				t.Errorf("listeners = %d, want at least 1", got)
			}
			for _, s := range w.Config.Seeds {
				switch {
				case strings.HasPrefix(s, "https://"):
					if !strings.HasSuffix(s, ":18091") {
						t.Errorf("seed %q: want the cluster manager's TLS port 18091", s)
					}
				case !strings.HasSuffix(s, ":8091"):
					t.Errorf("seed %q: want the cluster manager's port 8091", s)
				}
			}
			if !strings.HasPrefix(w.Container.Image, "ghcr.io/vbproxy/vbproxy:") {
				t.Errorf("image = %q, want ghcr.io/vbproxy/vbproxy:<tag> set by kustomize", w.Container.Image)
			}
			if !strings.HasPrefix(w.ConfigMap.Name, "vbproxy-config-") {
				t.Errorf("ConfigMap = %q, want the generated vbproxy-config-<hash>", w.ConfigMap.Name)
			}
		})
	}
}

// TestSecretIsPlaceholder pins that the repository never carries a real
// password: the only Secret value is the placeholder.
func TestSecretIsPlaceholder(t *testing.T) {
	for _, dir := range buildable(t) {
		objs, _, err := Build(dir)
		if err != nil {
			t.Fatalf("Build(%s): %v", dir, err)
		}
		secrets := Objects(objs).Secrets()
		if len(secrets) == 0 {
			t.Errorf("%s: no Secret", dir)
		}
		for _, s := range secrets {
			if len(s.Data) != 0 {
				t.Errorf("%s: Secret %s has data %v, want only the stringData placeholder", dir, s.Name, keys(s.Data))
			}
			for k, v := range s.StringData {
				if v != "REPLACE-ME" {
					t.Errorf("%s: Secret %s key %s = %q, want the placeholder REPLACE-ME", dir, s.Name, k, v)
				}
			}
		}
	}
}

// TestExamples pins what each example is for.
func TestExamples(t *testing.T) {
	t.Run("two-buckets", func(t *testing.T) {
		objs, _, err := Build(filepath.Join(kubeDir, "examples", "two-buckets"))
		if err != nil {
			t.Fatal(err)
		}
		w, err := CheckWorkload(objs, WorkloadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var buckets []string
		for _, l := range w.Config.Listeners {
			buckets = append(buckets, l.Bucket)
		}
		if want := []string{"default", "sessions"}; !slices.Equal(buckets, want) {
			t.Errorf("buckets = %v, want %v", buckets, want)
		}
		if got := len(Objects(objs).Deployments()); got != 1 {
			t.Errorf("Deployments = %d, want 1", got)
		}
	})
	t.Run("tls", func(t *testing.T) {
		objs, _, err := Build(filepath.Join(kubeDir, "examples", "tls"))
		if err != nil {
			t.Fatal(err)
		}
		w, err := CheckWorkload(objs, WorkloadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var listeners []string
		for _, l := range w.Config.Listeners {
			listeners = append(listeners, fmt.Sprintf("%s %s tls=%v", l.Address, l.Bucket, l.TLS))
		}
		if want := []string{":11211 default tls=false", ":11207 default tls=true"}; !slices.Equal(listeners, want) {
			t.Errorf("listeners = %q, want %q (plain and TLS side by side)", listeners, want)
		}
		if !w.Config.ClusterTLS.On || len(w.Config.Seeds) != 1 || !strings.HasPrefix(w.Config.Seeds[0], "https://") {
			t.Errorf("cluster TLS %v, seeds %v: want TLS to the cluster from an https seed", w.Config.ClusterTLS.On, w.Config.Seeds)
		}
		var files []string
		for _, f := range w.Config.Files {
			files = append(files, f.Field)
		}
		if want := []string{"listeners[1].tls.cert_file", "listeners[1].tls.key_file", "cluster.tls.ca_file",
			"admin.token_file"}; !slices.Equal(files, want) {
			t.Errorf("config files %q, want %q", files, want)
		}
		var certs []string
		for _, c := range Objects(objs).Certificates() {
			certs = append(certs, c.Name+" -> "+c.Spec.SecretName+" "+strings.Join(c.Spec.DNSNames, ","))
		}
		if want := []string{
			"vbproxy-listener -> vbproxy-listener-tls vbproxy,vbproxy.couchbase.svc,vbproxy.couchbase.svc.cluster.local",
			"vbproxy-cluster -> vbproxy-cluster-tls ",
		}; !slices.Equal(certs, want) {
			t.Errorf("Certificates %q, want %q", certs, want)
		}
		var ports []string
		for _, p := range Objects(objs).Services()[0].Spec.Ports {
			ports = append(ports, fmt.Sprintf("%s %d", p.Name, p.Port))
		}
		slices.Sort(ports)
		if want := []string{"memcached 11211", "memcached-tls 11207"}; !slices.Equal(ports, want) {
			t.Errorf("Service ports %q, want %q", ports, want)
		}
		// 0440 in the manifests is octal: owner and group may read.
		for _, v := range w.Deployment.Spec.Template.Spec.Volumes {
			if v.Secret != nil && (v.Secret.DefaultMode == nil || *v.Secret.DefaultMode != 0o440) {
				t.Errorf("volume %s: defaultMode %v, want 0440", v.Name, v.Secret.DefaultMode)
			}
		}
		for _, o := range objs {
			if o.Namespace != "couchbase" {
				t.Errorf("%s: namespace %q, want couchbase", o, o.Namespace)
			}
		}
	})
	t.Run("monitoring", func(t *testing.T) {
		objs, _, err := Build(filepath.Join(kubeDir, "examples", "monitoring"))
		if err != nil {
			t.Fatal(err)
		}
		if got := len(Objects(objs).ServiceMonitors()); got != 1 {
			t.Errorf("ServiceMonitors = %d, want 1", got)
		}
		var headless []string
		for _, s := range Objects(objs).Services() {
			if s.Spec.ClusterIP == corev1.ClusterIPNone {
				headless = append(headless, s.Name)
			}
		}
		slices.Sort(headless)
		if want := []string{"vbproxy-headless", "vbproxy-metrics"}; !slices.Equal(headless, want) {
			t.Errorf("headless Services = %v, want %v", headless, want)
		}
		for _, o := range objs {
			if o.Namespace != "couchbase" {
				t.Errorf("%s: namespace %q, want couchbase", o, o.Namespace)
			}
		}
	})
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
