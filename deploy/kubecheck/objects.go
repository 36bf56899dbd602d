package kubecheck

import (
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Objects is a set of decoded manifests with typed look-ups.
type Objects []Object

func deploymentOf(o Object) (*appsv1.Deployment, bool) {
	d, ok := o.Value.(*appsv1.Deployment)
	return d, ok
}

// Deployments returns the Deployments, in order.
func (s Objects) Deployments() []*appsv1.Deployment { return collect[*appsv1.Deployment](s) }

// Services returns the Services, in order.
func (s Objects) Services() []*corev1.Service { return collect[*corev1.Service](s) }

// ConfigMaps returns the ConfigMaps, in order.
func (s Objects) ConfigMaps() []*corev1.ConfigMap { return collect[*corev1.ConfigMap](s) }

// Secrets returns the Secrets, in order.
func (s Objects) Secrets() []*corev1.Secret { return collect[*corev1.Secret](s) }

// ServiceAccounts returns the ServiceAccounts, in order.
func (s Objects) ServiceAccounts() []*corev1.ServiceAccount {
	return collect[*corev1.ServiceAccount](s)
}

// PodDisruptionBudgets returns the PodDisruptionBudgets, in order.
func (s Objects) PodDisruptionBudgets() []*policyv1.PodDisruptionBudget {
	return collect[*policyv1.PodDisruptionBudget](s)
}

// HorizontalPodAutoscalers returns the HorizontalPodAutoscalers, in order.
func (s Objects) HorizontalPodAutoscalers() []*autoscalingv2.HorizontalPodAutoscaler {
	return collect[*autoscalingv2.HorizontalPodAutoscaler](s)
}

// ServiceMonitors returns the ServiceMonitors, in order.
func (s Objects) ServiceMonitors() []*ServiceMonitor { return collect[*ServiceMonitor](s) }

func collect[T any](s Objects) []T {
	var out []T
	for _, o := range s {
		if v, ok := o.Value.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// ConfigMap returns the ConfigMap called name, or nil.
func (s Objects) ConfigMap(name string) *corev1.ConfigMap {
	for _, c := range s.ConfigMaps() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Secret returns the Secret called name, or nil.
func (s Objects) Secret(name string) *corev1.Secret {
	for _, c := range s.Secrets() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// selects reports whether a label selector (nil or empty selects nothing,
// as for a PodDisruptionBudget or Service we want to reach pods) matches set.
func selects(sel *metav1.LabelSelector, set map[string]string) bool {
	if sel == nil || (len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0) {
		return false
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return false
	}
	return s.Matches(labels.Set(set))
}

// selectsMap reports whether a Service-style selector (all pairs must match;
// empty selects nothing here) matches set.
func selectsMap(sel, set map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	return labels.SelectorFromSet(sel).Matches(labels.Set(set))
}

type autoscalingMetric = autoscalingv2.MetricSpec
