package kubecheck

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Kustomization is the subset of kustomize's kustomization.yaml that vbproxy's
// manifests use; decoding is strict, so any other field is an error.
type Kustomization struct {
	APIVersion         string            `json:"apiVersion"`
	Kind               string            `json:"kind"`
	Namespace          string            `json:"namespace,omitempty"`
	NamePrefix         string            `json:"namePrefix,omitempty"`
	NameSuffix         string            `json:"nameSuffix,omitempty"`
	Resources          []string          `json:"resources,omitempty"`
	Components         []string          `json:"components,omitempty"`
	Patches            []Patch           `json:"patches,omitempty"`
	ConfigMapGenerator []Generator       `json:"configMapGenerator,omitempty"`
	SecretGenerator    []Generator       `json:"secretGenerator,omitempty"`
	GeneratorOptions   *GeneratorOptions `json:"generatorOptions,omitempty"`
	Images             []Image           `json:"images,omitempty"`
	CommonAnnotations  map[string]string `json:"commonAnnotations,omitempty"`
	Labels             []Label           `json:"labels,omitempty"`
}

// Patch is a strategic-merge or JSON 6902 patch, from a file or inline.
type Patch struct {
	Path    string          `json:"path,omitempty"`
	Patch   string          `json:"patch,omitempty"`
	Target  *PatchTarget    `json:"target,omitempty"`
	Options map[string]bool `json:"options,omitempty"`
}

// PatchTarget selects the objects a patch applies to.
type PatchTarget struct {
	Group              string `json:"group,omitempty"`
	Version            string `json:"version,omitempty"`
	Kind               string `json:"kind,omitempty"`
	Name               string `json:"name,omitempty"`
	Namespace          string `json:"namespace,omitempty"`
	LabelSelector      string `json:"labelSelector,omitempty"`
	AnnotationSelector string `json:"annotationSelector,omitempty"`
}

// Generator is a configMapGenerator or secretGenerator entry.
type Generator struct {
	Name      string            `json:"name"`
	Namespace string            `json:"namespace,omitempty"`
	Behavior  string            `json:"behavior,omitempty"` // create (default), merge, replace
	Type      string            `json:"type,omitempty"`     // secrets only
	Files     []string          `json:"files,omitempty"`    // "path" or "key=path"
	Literals  []string          `json:"literals,omitempty"` // "key=value"
	Envs      []string          `json:"envs,omitempty"`     // env files
	Options   *GeneratorOptions `json:"options,omitempty"`
}

// GeneratorOptions modify generated objects.
type GeneratorOptions struct {
	Labels                map[string]string `json:"labels,omitempty"`
	Annotations           map[string]string `json:"annotations,omitempty"`
	DisableNameSuffixHash bool              `json:"disableNameSuffixHash,omitempty"`
	Immutable             bool              `json:"immutable,omitempty"`
}

// Image overrides a container image by its name in the manifests.
type Image struct {
	Name    string `json:"name"`
	NewName string `json:"newName,omitempty"`
	NewTag  string `json:"newTag,omitempty"`
	Digest  string `json:"digest,omitempty"`
}

// Label adds labels to objects (and optionally selectors and templates).
type Label struct {
	Pairs            map[string]string `json:"pairs"`
	IncludeSelectors bool              `json:"includeSelectors,omitempty"`
	IncludeTemplates bool              `json:"includeTemplates,omitempty"`
}

// KustomizationFile is the file name kustomize looks for in a directory.
const KustomizationFile = "kustomization.yaml"

// Tree is a kustomization and everything it pulls in, before kustomize
// transforms it.
type Tree struct {
	Dir           string
	Kustomization Kustomization
	// Objects are the documents of every resource and component file, in this
	// directory and below, as written (names without generator hashes).
	Objects []Object
	// Generated names the ConfigMaps and Secrets generated here and below.
	Generated []Object
	// Files lists every file the tree reads (manifests, patches, generator
	// inputs, kustomization files), absolute.
	Files []string
	// outer, for a component, is what the kustomization that includes it
	// holds when kustomize applies it (its resources and the components
	// before this one): the component's patches and merge or replace
	// generators act on those.
	outer []Object
}

// CheckKustomization loads the kustomization in dir and everything it refers
// to, and checks the tree's structure: the file decodes strictly; resources,
// components, patches and generator inputs exist (remote references are not
// allowed); every resource document decodes strictly; every patch decodes
// strictly and targets an object of the tree; generators with behavior merge
// or replace refer to one generated below; every image override names an
// image the tree's Deployments use. A component's patches and generators
// may also refer to what the kustomization that includes it holds before
// it. All problems are reported, joined.
func CheckKustomization(dir string) (*Tree, error) {
	return loadTree(dir, "Kustomization", map[string]bool{}, nil)
}

func loadTree(dir, wantKind string, visiting map[string]bool, outer []Object) (*Tree, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("kubecheck: %w", err)
	}
	if visiting[abs] {
		return nil, fmt.Errorf("kubecheck: %s: kustomization cycle", abs)
	}
	visiting[abs] = true
	defer delete(visiting, abs)

	kpath := filepath.Join(abs, KustomizationFile)
	data, err := os.ReadFile(kpath)
	if err != nil {
		return nil, fmt.Errorf("kubecheck: %w", err)
	}
	t := &Tree{Dir: abs, Files: []string{kpath}, outer: outer}
	k := &t.Kustomization
	if err := UnmarshalStrictYAML(data, k); err != nil {
		return nil, fmt.Errorf("%s: %w", kpath, err)
	}
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{kpath}, args...)...))
	}
	switch {
	case wantKind == "Kustomization" && (k.Kind != "Kustomization" || k.APIVersion != "kustomize.config.k8s.io/v1beta1"):
		fail("apiVersion/kind %q %q, want kustomize.config.k8s.io/v1beta1 Kustomization", k.APIVersion, k.Kind)
	case wantKind == "Component" && (k.Kind != "Component" || k.APIVersion != "kustomize.config.k8s.io/v1alpha1"):
		fail("apiVersion/kind %q %q, want kustomize.config.k8s.io/v1alpha1 Component", k.APIVersion, k.Kind)
	}

	// Generated below this level or, for a component, before it: what
	// merge and replace may refer to.
	below := slices.Clone(outer)
	for i, r := range k.Resources {
		p, ok := localPath(abs, r)
		if !ok {
			fail("resources[%d]: %q is not a local path", i, r)
			continue
		}
		sub, err := t.include(p, "Kustomization", visiting, nil)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: resources[%d]: %w", kpath, i, err))
		}
		below = append(below, sub...)
	}
	for i, c := range k.Components {
		p, ok := localPath(abs, c)
		if !ok {
			fail("components[%d]: %q is not a local path", i, c)
			continue
		}
		if st, err := os.Stat(p); err != nil || !st.IsDir() {
			fail("components[%d]: %q is not a directory", i, c)
			continue
		}
		sub, err := t.include(p, "Component", visiting, t.visible())
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: components[%d]: %w", kpath, i, err))
		}
		below = append(below, sub...)
	}
	errs = append(errs, t.checkGenerators(kpath, "configMapGenerator", "ConfigMap", k.ConfigMapGenerator, below)...)
	errs = append(errs, t.checkGenerators(kpath, "secretGenerator", "Secret", k.SecretGenerator, below)...)
	for i, p := range k.Patches {
		if err := t.checkPatch(p); err != nil {
			fail("patches[%d]: %w", i, err)
		}
	}
	for i, img := range k.Images {
		if !t.usesImage(img.Name) {
			fail("images[%d]: no container in this tree uses image %q", i, img.Name)
		}
	}
	return t, errors.Join(errs...)
}

// visible returns what a component included by t now acts on: t's own
// objects so far and what t itself sees from outside.
func (t *Tree) visible() []Object {
	return slices.Concat(t.outer, t.Objects, t.Generated)
}

// include loads a resource or component path into t and returns the objects
// generated there.
func (t *Tree) include(p, kind string, visiting map[string]bool, outer []Object) ([]Object, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("kubecheck: %w", err)
	}
	if st.IsDir() {
		sub, err := loadTree(p, kind, visiting, outer)
		if sub != nil {
			t.Objects = append(t.Objects, sub.Objects...)
			t.Generated = append(t.Generated, sub.Generated...)
			t.Files = append(t.Files, sub.Files...)
			return sub.Generated, err
		}
		return nil, err
	}
	objs, err := DecodeFile(p)
	if err != nil {
		return nil, err
	}
	if len(objs) == 0 {
		return nil, fmt.Errorf("kubecheck: %s holds no object", p)
	}
	t.Objects = append(t.Objects, objs...)
	t.Files = append(t.Files, p)
	return nil, nil
}

func (t *Tree) checkGenerators(kpath, field, kind string, gens []Generator, below []Object) []error {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{kpath}, args...)...))
	}
	for i, g := range gens {
		where := fmt.Sprintf("%s[%d] (%s)", field, i, g.Name)
		if g.Name == "" {
			fail("%s: name is empty", where)
		}
		switch g.Behavior {
		case "", "create":
		case "merge", "replace":
			if !slices.ContainsFunc(below, func(o Object) bool { return o.Kind == kind && o.Name == g.Name }) {
				fail("%s: behavior %s, but no %s %q is generated by the resources", where, g.Behavior, kind, g.Name)
			}
		default:
			fail("%s: behavior %q, want create, merge or replace", where, g.Behavior)
		}
		for j, f := range append(slices.Clone(g.Files), g.Envs...) {
			if _, path, ok := strings.Cut(f, "="); ok {
				f = path
			}
			p, ok := localPath(t.Dir, f)
			if !ok {
				fail("%s: file %d: %q is not a local path", where, j, f)
				continue
			}
			if st, err := os.Stat(p); err != nil || st.IsDir() {
				fail("%s: file %q does not exist", where, f)
				continue
			}
			t.Files = append(t.Files, p)
		}
		t.Generated = append(t.Generated, Object{APIVersion: "v1", Kind: kind, Name: g.Name, Source: kpath})
	}
	return errs
}

// checkPatch checks that a patch file exists and decodes strictly, and that
// its target (the target field, or the patch's own kind and name) is an
// object of the tree.
func (t *Tree) checkPatch(p Patch) error {
	switch {
	case p.Path != "" && p.Patch != "":
		return errors.New("both path and patch are set")
	case p.Path == "" && p.Patch == "":
		return errors.New("neither path nor patch is set")
	}
	var patchObj *Object
	if p.Path != "" {
		fp, ok := localPath(t.Dir, p.Path)
		if !ok {
			return fmt.Errorf("%q is not a local path", p.Path)
		}
		data, err := os.ReadFile(fp)
		if err != nil {
			return fmt.Errorf("kubecheck: %w", err)
		}
		t.Files = append(t.Files, fp)
		if !isJSONPatch(data) {
			objs, err := Decode(data, fp)
			if err != nil {
				return err
			}
			if len(objs) != 1 {
				return fmt.Errorf("%s: %d documents, want 1", fp, len(objs))
			}
			patchObj = &objs[0]
		}
	}
	var kind, name string
	switch {
	case p.Target != nil:
		kind, name = p.Target.Kind, p.Target.Name
		if kind == "" && name == "" {
			return errors.New("target names neither kind nor name")
		}
	case patchObj != nil:
		kind, name = patchObj.Kind, patchObj.Name
	default:
		return errors.New("a JSON 6902 patch needs a target")
	}
	all := slices.Concat(t.Objects, t.Generated, t.outer)
	if !slices.ContainsFunc(all, func(o Object) bool {
		return (kind == "" || o.Kind == kind) && (name == "" || o.Name == name)
	}) {
		return fmt.Errorf("targets %s %q, which is not in the tree", kind, name)
	}
	return nil
}

// usesImage reports whether a Deployment in the tree has a container whose
// image, without tag or digest, is name.
func (t *Tree) usesImage(name string) bool {
	for _, o := range t.Objects {
		d, ok := deploymentOf(o)
		if !ok {
			continue
		}
		for _, c := range d.Spec.Template.Spec.Containers {
			if imageName(c.Image) == name {
				return true
			}
		}
	}
	return false
}

// imageName strips the tag and digest from an image reference.
func imageName(ref string) string {
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.LastIndexByte(ref, ':'); i > strings.LastIndexByte(ref, '/') {
		ref = ref[:i]
	}
	return ref
}

// localPath resolves a kustomization reference relative to dir; remote
// references (URLs, git) are refused.
func localPath(dir, ref string) (string, bool) {
	if ref == "" || strings.Contains(ref, "://") || strings.HasPrefix(ref, "github.com/") || strings.HasPrefix(ref, "git@") {
		return "", false
	}
	if filepath.IsAbs(ref) {
		return ref, true
	}
	return filepath.Join(dir, ref), true
}

// isJSONPatch reports whether a patch file is a JSON 6902 operation list
// (a YAML or JSON sequence) rather than a partial object.
func isJSONPatch(data []byte) bool {
	for line := range strings.Lines(string(data)) {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "#") || t == "---" {
			continue
		}
		return strings.HasPrefix(t, "-") || strings.HasPrefix(t, "[")
	}
	return false
}
