package kubecheck

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	fixtureDeployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: app}
spec:
  selector: {matchLabels: {a: b}}
  template:
    metadata: {labels: {a: b}}
    spec:
      containers: [{name: app, image: app}]
`
	fixtureBase = `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [deployment.yaml]
configMapGenerator:
  - name: cfg
    files: [app.yaml]
images:
  - {name: app, newName: example/app, newTag: v1}
`
	fixturePatch = `apiVersion: apps/v1
kind: Deployment
metadata: {name: app}
spec: {replicas: 3}
`
)

// writeTree writes files (path -> content) under a temporary directory.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, content := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestCheckKustomization(t *testing.T) {
	base := map[string]string{
		"base/kustomization.yaml": fixtureBase,
		"base/deployment.yaml":    fixtureDeployment,
		"base/app.yaml":           "x: 1\n",
	}
	overlay := func(k string, extra map[string]string) map[string]string {
		m := map[string]string{"overlay/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n" + k}
		for p, c := range base {
			m[p] = c
		}
		for p, c := range extra {
			m[p] = c
		}
		return m
	}
	tests := []struct {
		name  string
		files map[string]string
		want  string // "" = no error
	}{
		{"good overlay", overlay("resources: [../base]\npatches: [{path: p.yaml}]\nconfigMapGenerator: [{name: cfg, behavior: replace, files: [app.yaml]}]\n",
			map[string]string{"overlay/p.yaml": fixturePatch, "overlay/app.yaml": "y: 2\n"}), ""},
		{"good target patch", overlay("resources: [../base]\npatches:\n  - target: {kind: Deployment, name: app}\n    patch: |\n      - op: add\n        path: /spec/replicas\n        value: 3\n", nil), ""},
		{"missing resource", overlay("resources: [../base, svc.yaml]\n", nil), "svc.yaml"},
		{"remote resource", overlay("resources: [https://github.com/x/y//base]\n", nil), "is not a local path"},
		{"unknown field", overlay("resources: [../base]\nbases: [../base]\n", nil), `unknown field "bases"`},
		{"wrong kind", map[string]string{"overlay/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"}, "want kustomize.config.k8s.io/v1beta1 Kustomization"},
		{"patch targets nothing", overlay("resources: [../base]\npatches: [{path: p.yaml}]\n",
			map[string]string{"overlay/p.yaml": strings.Replace(fixturePatch, "name: app", "name: other", 1)}), `targets Deployment "other"`},
		{"inline patch targets nothing", overlay("resources: [../base]\npatches: [{target: {kind: Service, name: app}, patch: '[]'}]\n", nil), `targets Service "app"`},
		{"patch with a typo", overlay("resources: [../base]\npatches: [{path: p.yaml}]\n",
			map[string]string{"overlay/p.yaml": strings.Replace(fixturePatch, "replicas", "replica", 1)}), `unknown field "spec.replica"`},
		{"missing patch file", overlay("resources: [../base]\npatches: [{path: p.yaml}]\n", nil), "p.yaml"},
		{"replace without a base generator", overlay("resources: [../base]\nconfigMapGenerator: [{name: other, behavior: replace, files: [app.yaml]}]\n",
			map[string]string{"overlay/app.yaml": "y: 2\n"}), `no ConfigMap "other" is generated`},
		{"missing generator file", overlay("resources: [../base]\nconfigMapGenerator: [{name: x, files: [k=nope.yaml]}]\n", nil), `file "nope.yaml" does not exist`},
		{"bad behavior", overlay("resources: [../base]\nconfigMapGenerator: [{name: cfg, behavior: upsert, literals: [a=b]}]\n", nil), `behavior "upsert"`},
		{"unused image override", overlay("resources: [../base]\nimages: [{name: other, newTag: v2}]\n", nil), `uses image "other"`},
		{"component patches what includes it", overlay("resources: [../base]\ncomponents: [../comp]\n", map[string]string{
			"comp/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\npatches: [{path: p.yaml}]\n" +
				"configMapGenerator: [{name: cfg, behavior: merge, literals: [a=b]}]\n",
			"comp/p.yaml": fixturePatch}), ""},
		{"component patch targets nothing", overlay("resources: [../base]\ncomponents: [../comp]\n", map[string]string{
			"comp/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\npatches: [{path: p.yaml}]\n",
			"comp/p.yaml":             strings.Replace(fixturePatch, "name: app", "name: other", 1)}), `targets Deployment "other"`},
		{"component before the resources it patches", overlay("components: [../comp]\n", map[string]string{
			"comp/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\npatches: [{path: p.yaml}]\n",
			"comp/p.yaml":             fixturePatch}), `targets Deployment "app", which is not in the tree`},
		{"component that is a Kustomization", overlay("resources: [../base]\ncomponents: [../base]\n", nil), "want kustomize.config.k8s.io/v1alpha1 Component"},
		{"cycle", map[string]string{"overlay/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [.]\n"}, "cycle"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := writeTree(t, tt.files)
			tree, err := CheckKustomization(filepath.Join(root, "overlay"))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("CheckKustomization: %v, want nil", err)
				}
				if len(tree.Objects) != 1 || tree.Objects[0].Name != "app" {
					t.Errorf("objects = %v, want the base's Deployment app", tree.Objects)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("CheckKustomization error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// TestBuildAgreesWithCheck renders a fixture with kustomize: the structural
// check and the real build accept the same tree, and the build applies what
// the check looked at.
func TestBuildAgreesWithCheck(t *testing.T) {
	root := writeTree(t, map[string]string{
		"base/kustomization.yaml":    fixtureBase,
		"base/deployment.yaml":       fixtureDeployment,
		"base/app.yaml":              "x: 1\n",
		"overlay/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [../base]\npatches: [{path: p.yaml}]\n",
		"overlay/p.yaml":             fixturePatch,
	})
	dir := filepath.Join(root, "overlay")
	if _, err := CheckKustomization(dir); err != nil {
		t.Fatal(err)
	}
	objs, _, err := Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	d := Objects(objs).Deployments()
	if len(d) != 1 || d[0].Spec.Replicas == nil || *d[0].Spec.Replicas != 3 {
		t.Fatalf("built Deployments %v, want one with 3 replicas", d)
	}
	if got, want := d[0].Spec.Template.Spec.Containers[0].Image, "example/app:v1"; got != want {
		t.Errorf("image = %q, want %q", got, want)
	}
	cms := Objects(objs).ConfigMaps()
	if len(cms) != 1 || !strings.HasPrefix(cms[0].Name, "cfg-") || cms[0].Data["app.yaml"] != "x: 1\n" {
		t.Errorf("ConfigMaps = %v, want cfg-<hash> with app.yaml", cms)
	}
	if _, _, err := Build(filepath.Join(root, "missing")); err == nil {
		t.Errorf("Build(missing dir) = nil error")
	}
}

func TestImageName(t *testing.T) {
	for in, want := range map[string]string{
		"vbproxy":                         "vbproxy",
		"ghcr.io/vbproxy/vbproxy:v1":      "ghcr.io/vbproxy/vbproxy",
		"localhost:5000/vbproxy":          "localhost:5000/vbproxy",
		"localhost:5000/vbproxy:v1":       "localhost:5000/vbproxy",
		"vbproxy@sha256:abc":              "vbproxy",
		"r.io/vbproxy:v1@sha256:abcdef01": "r.io/vbproxy",
	} {
		if got := imageName(in); got != want {
			t.Errorf("imageName(%q) = %q, want %q", in, got, want)
		}
	}
}
