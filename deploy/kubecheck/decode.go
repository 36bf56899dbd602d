package kubecheck

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Sentinel errors, wrapped with the document they concern.
var (
	// ErrUnknownKind: the apiVersion/kind pair is not one the manifests may use.
	ErrUnknownKind = errors.New("kubecheck: unknown apiVersion/kind")
	// ErrStrict: the document has fields its type does not know, or duplicate keys.
	ErrStrict = errors.New("kubecheck: strict decoding failed")
	// ErrMissingName: the document has no metadata.name.
	ErrMissingName = errors.New("kubecheck: metadata.name is empty")
)

// Object is one decoded manifest document.
type Object struct {
	APIVersion string
	Kind       string
	Name       string
	Namespace  string
	// Source names where the document came from: "file.yaml#2" (1-based).
	Source string
	// Value is the typed object: *appsv1.Deployment, *corev1.Service,
	// *corev1.ConfigMap, *corev1.Secret, *corev1.ServiceAccount,
	// *policyv1.PodDisruptionBudget, *autoscalingv2.HorizontalPodAutoscaler,
	// *ServiceMonitor or *Certificate.
	Value any
}

// String names the object as "Kind name".
func (o Object) String() string { return o.Kind + " " + o.Name }

// kinds lists the types the manifests may use, by "apiVersion kind".
var kinds = map[string]func() any{
	"v1 ConfigMap":                            func() any { return new(corev1.ConfigMap) },
	"v1 Secret":                               func() any { return new(corev1.Secret) },
	"v1 Service":                              func() any { return new(corev1.Service) },
	"v1 ServiceAccount":                       func() any { return new(corev1.ServiceAccount) },
	"apps/v1 Deployment":                      func() any { return new(appsv1.Deployment) },
	"policy/v1 PodDisruptionBudget":           func() any { return new(policyv1.PodDisruptionBudget) },
	"autoscaling/v2 HorizontalPodAutoscaler":  func() any { return new(autoscalingv2.HorizontalPodAutoscaler) },
	"monitoring.coreos.com/v1 ServiceMonitor": func() any { return new(ServiceMonitor) },
	"cert-manager.io/v1 Certificate":          func() any { return new(Certificate) },
}

// KnownKinds returns the "apiVersion kind" pairs Decode accepts, sorted.
func KnownKinds() []string {
	return slices.Sorted(maps.Keys(kinds))
}

// DecodeFile reads and decodes every document of a YAML file.
func DecodeFile(path string) ([]Object, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("kubecheck: %w", err)
	}
	return Decode(data, path)
}

// Decode splits data into YAML documents and decodes each one strictly into
// its typed object. Documents holding only comments are skipped. source names
// data in errors and in Object.Source.
func Decode(data []byte, source string) ([]Object, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var objs []Object
	for n := 1; ; n++ {
		doc, err := r.Read()
		if err == io.EOF {
			return objs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("kubecheck: %s: read document %d: %w", source, n, err)
		}
		if isEmptyDocument(doc) {
			continue
		}
		o, err := DecodeDocument(doc)
		if err != nil {
			return nil, fmt.Errorf("%s#%d: %w", source, n, err)
		}
		o.Source = fmt.Sprintf("%s#%d", source, n)
		objs = append(objs, o)
	}
}

// DecodeDocument decodes one YAML document strictly: duplicate keys, fields
// unknown to the type (matched case-sensitively, as the API server does) and
// kinds outside KnownKinds are errors.
func DecodeDocument(doc []byte) (Object, error) {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return Object{}, fmt.Errorf("%w: %w", ErrStrict, err)
	}
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(j, &head); err != nil {
		return Object{}, fmt.Errorf("kubecheck: document is not an object: %w", err)
	}
	key := head.APIVersion + " " + head.Kind
	newValue, ok := kinds[key]
	if !ok {
		return Object{}, fmt.Errorf("%w: apiVersion %q kind %q", ErrUnknownKind, head.APIVersion, head.Kind)
	}
	v := newValue()
	if err := UnmarshalStrictJSON(j, v); err != nil {
		return Object{}, fmt.Errorf("%s %s: %w", head.Kind, head.Metadata.Name, err)
	}
	if head.Metadata.Name == "" {
		return Object{}, fmt.Errorf("%s: %w", head.Kind, ErrMissingName)
	}
	return Object{
		APIVersion: head.APIVersion,
		Kind:       head.Kind,
		Name:       head.Metadata.Name,
		Namespace:  head.Metadata.Namespace,
		Value:      v,
	}, nil
}

// UnmarshalStrictJSON decodes JSON into v with unknown fields, duplicate
// fields and case-insensitive field matches reported as ErrStrict.
func UnmarshalStrictJSON(j []byte, v any) error {
	strictErrs, err := sjson.UnmarshalStrict(j, v, sjson.DisallowUnknownFields, sjson.DisallowDuplicateFields)
	if err != nil {
		return fmt.Errorf("kubecheck: %w", err)
	}
	if len(strictErrs) > 0 {
		msgs := make([]string, len(strictErrs))
		for i, e := range strictErrs {
			msgs[i] = e.Error()
		}
		return fmt.Errorf("%w: %s", ErrStrict, strings.Join(msgs, "; "))
	}
	return nil
}

// UnmarshalStrictYAML converts YAML to JSON (rejecting duplicate keys) and
// decodes it into v like UnmarshalStrictJSON.
func UnmarshalStrictYAML(y []byte, v any) error {
	j, err := yaml.YAMLToJSONStrict(y)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrStrict, err)
	}
	return UnmarshalStrictJSON(j, v)
}

// isEmptyDocument reports whether doc holds only blank lines and comments.
func isEmptyDocument(doc []byte) bool {
	for line := range bytes.Lines(doc) {
		t := bytes.TrimSpace(line)
		if len(t) == 0 || t[0] == '#' || bytes.Equal(t, []byte("---")) {
			continue
		}
		return false
	}
	return true
}
