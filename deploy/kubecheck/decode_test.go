package kubecheck

import (
	"errors"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
)

const goodService = `apiVersion: v1
kind: Service
metadata:
  name: s
spec:
  ports:
    - port: 11211
`

func TestDecode(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		kinds   []string // decoded kinds, in order
		wantErr error    // errors.Is target; nil = success
		errText string   // substring of the error
	}{
		{"one service", goodService, []string{"Service"}, nil, ""},
		{"two documents and a comment-only one",
			goodService + "---\n# nothing here\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: a}\n",
			[]string{"Service", "ServiceAccount"}, nil, ""},
		{"empty input", "", nil, nil, ""},
		{"unknown field", strings.Replace(goodService, "ports:", "portz:", 1), nil, ErrStrict, `unknown field "spec.portz"`},
		{"field with the wrong case", strings.Replace(goodService, "ports:", "Ports:", 1), nil, ErrStrict, "spec.Ports"},
		{"duplicate key", goodService + "  type: ClusterIP\n  type: NodePort\n", nil, ErrStrict, "type"},
		{"unknown kind", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n", nil, ErrUnknownKind, `kind "Pod"`},
		{"old apiVersion", "apiVersion: autoscaling/v1\nkind: HorizontalPodAutoscaler\nmetadata: {name: h}\n", nil, ErrUnknownKind, "autoscaling/v1"},
		{"missing name", "apiVersion: v1\nkind: Service\nmetadata: {}\n", nil, ErrMissingName, "Service"},
		{"wrong type", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {replicas: two}\n", nil, nil, "replicas"},
		{"not an object", "- a\n- b\n", nil, nil, "not an object"},
		{"servicemonitor", "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: m}\nspec:\n  selector: {matchLabels: {a: b}}\n  endpoints: [{port: admin, path: /metrics}]\n",
			[]string{"ServiceMonitor"}, nil, ""},
		{"servicemonitor unknown field", "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: m}\nspec:\n  selector: {}\n  endpoints: [{port: admin, relabel: []}]\n",
			nil, ErrStrict, "relabel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := Decode([]byte(tt.in), "test.yaml")
			if tt.errText == "" {
				if err != nil {
					t.Fatalf("Decode: %v, want nil", err)
				}
				var kinds []string
				for _, o := range objs {
					kinds = append(kinds, o.Kind)
				}
				if strings.Join(kinds, ",") != strings.Join(tt.kinds, ",") {
					t.Errorf("kinds = %v, want %v", kinds, tt.kinds)
				}
				return
			}
			if err == nil {
				t.Fatalf("Decode = %d objects, want an error containing %q", len(objs), tt.errText)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("Decode error %v, want errors.Is %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.errText) || !strings.Contains(err.Error(), "test.yaml#") {
				t.Errorf("Decode error %q, want it to contain %q and the source", err, tt.errText)
			}
		})
	}
}

func TestDecodeTypedValue(t *testing.T) {
	objs, err := Decode([]byte("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, namespace: ns}\nspec: {replicas: 3}\n"), "d.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d, ok := objs[0].Value.(*appsv1.Deployment)
	if !ok {
		t.Fatalf("Value is %T, want *appsv1.Deployment", objs[0].Value)
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 3 {
		t.Errorf("replicas = %v, want 3", d.Spec.Replicas)
	}
	if got, want := objs[0].String(), "Deployment d"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if objs[0].Namespace != "ns" || objs[0].Source != "d.yaml#1" {
		t.Errorf("namespace %q source %q, want ns and d.yaml#1", objs[0].Namespace, objs[0].Source)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(goodService))
	f.Add([]byte(goodService + "---\n" + goodService))
	f.Add([]byte("apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: m}\nspec: {selector: {}, endpoints: []}\n"))
	f.Add([]byte("apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: c}\n" +
		"spec: {secretName: s, issuerRef: {name: i}, dnsNames: [a], privateKey: {rotationPolicy: Always}}\n"))
	f.Add([]byte("a: [\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, err := Decode(data, "fuzz")
		if err != nil {
			return
		}
		for _, o := range objs {
			if o.Name == "" || o.Kind == "" || o.Value == nil {
				t.Fatalf("decoded object %+v lacks a name, kind or value", o)
			}
		}
	})
}

func TestKnownKinds(t *testing.T) {
	got := KnownKinds()
	want := []string{
		"apps/v1 Deployment",
		"autoscaling/v2 HorizontalPodAutoscaler",
		"cert-manager.io/v1 Certificate",
		"monitoring.coreos.com/v1 ServiceMonitor",
		"policy/v1 PodDisruptionBudget",
		"v1 ConfigMap",
		"v1 Secret",
		"v1 Service",
		"v1 ServiceAccount",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("KnownKinds = %q, want %q", got, want)
	}
}
