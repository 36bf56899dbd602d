package kubecheck

import (
	"fmt"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// Build renders the kustomization in dir with the kustomize library (as
// `kubectl kustomize dir` does) and decodes the output strictly. It returns
// the objects and the rendered YAML.
func Build(dir string) ([]Object, []byte, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, nil, fmt.Errorf("kubecheck: kustomize build %s: %w", dir, err)
	}
	out, err := rm.AsYaml()
	if err != nil {
		return nil, nil, fmt.Errorf("kubecheck: kustomize build %s: %w", dir, err)
	}
	objs, err := Decode(out, "kustomize build "+dir)
	if err != nil {
		return nil, out, err
	}
	return objs, out, nil
}
