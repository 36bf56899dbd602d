package kubecheck

import (
	"path"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// passwords: every password_env is set from a Secret key of objs, every
// password_file is mounted from a Secret key of objs, and no variable that
// looks like a credential carries a literal value.
func (c *checker) passwords() {
	ctr := c.w.Container
	for _, ref := range c.w.Config.SecretRefs() {
		who := "cluster"
		if ref != c.w.Config.Cluster {
			who = "user " + ref.Name
		}
		if ref.PasswordEnv != "" {
			c.envFromSecret(who, ref.PasswordEnv)
		}
		if ref.PasswordFile != "" {
			c.fileFromSecret(who, ref.PasswordFile)
		}
	}
	for _, e := range ctr.Env {
		up := strings.ToUpper(e.Name)
		if e.Value != "" && (strings.Contains(up, "PASSWORD") || strings.Contains(up, "SECRET") || strings.Contains(up, "TOKEN")) {
			c.failf("%s: %s has a literal value: take it from a Secret", c.where("env"), e.Name)
		}
	}
}

func (c *checker) envFromSecret(who, name string) {
	for _, e := range c.w.Container.Env {
		if e.Name != name {
			continue
		}
		if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			c.failf("%s: %s (the %s password_env) is not taken from a Secret", c.where("env"), name, who)
			return
		}
		c.secretKey(c.where("env "+name), e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key)
		return
	}
	c.failf("%s: the config's %s password_env %s is not set", c.where("env"), who, name)
}

func (c *checker) fileFromSecret(who, file string) {
	for _, m := range c.w.Container.VolumeMounts {
		rel, ok := mountedFile(m, file)
		if !ok {
			continue
		}
		vol := podVolume(&c.w.Deployment.Spec.Template.Spec, m.Name)
		if vol == nil || vol.Secret == nil {
			c.failf("%s: %s (the %s password_file) is not mounted from a Secret", c.where("volumeMounts"), file, who)
			return
		}
		key := rel
		for _, it := range vol.Secret.Items {
			if it.Path == rel {
				key = it.Key
			}
		}
		c.secretKey(c.where("volumeMounts "+m.Name), vol.Secret.SecretName, key)
		return
	}
	c.failf("%s: the config's %s password_file %s is not mounted", c.where("volumeMounts"), who, file)
}

func (c *checker) secretKey(where, name, key string) {
	s := c.objs.Secret(name)
	if s == nil {
		c.failf("%s: no Secret %q", where, name)
		return
	}
	_, inData := s.Data[key]
	_, inString := s.StringData[key]
	if !inData && !inString {
		c.failf("%s: Secret %s has no key %q", where, name, key)
	}
}

// services: every Service selecting the pods targets declared ports; the
// client Service is a ClusterIP Service with one port per listener and no
// admin port.
func (c *checker) services() {
	podLabels := c.w.Deployment.Spec.Template.Labels
	admin := int32(c.w.Config.AdminPort())
	var client *corev1.Service
	for _, s := range c.objs.Services() {
		if s.Name == c.o.ClientService {
			client = s
		}
		if !selectsMap(s.Spec.Selector, podLabels) {
			if s.Name == c.o.ClientService {
				c.failf("Service %s: selector %v does not match the pod labels %v", s.Name, s.Spec.Selector, podLabels)
			}
			continue
		}
		for _, p := range s.Spec.Ports {
			if _, ok := containerPort(c.w.Container, p.TargetPort); !ok {
				c.failf("Service %s: port %s: targetPort %s is not a containerPort of %s", s.Name, p.Name, p.TargetPort.String(), c.w.Container.Name)
			}
		}
	}
	if client == nil {
		c.failf("no Service %q for the clients", c.o.ClientService)
		return
	}
	if client.Spec.Type != "" && client.Spec.Type != corev1.ServiceTypeClusterIP {
		c.failf("Service %s: type %s, want ClusterIP", client.Name, client.Spec.Type)
	}
	if client.Spec.ClusterIP == corev1.ClusterIPNone {
		c.failf("Service %s: headless; the clients' Service needs a virtual IP", client.Name)
	}
	for i, lp := range c.w.Config.ListenerPorts() {
		found := false
		for _, p := range client.Spec.Ports {
			tp, _ := containerPort(c.w.Container, p.TargetPort)
			if int(tp) == lp && int(p.Port) == lp {
				found = true
			}
		}
		if !found {
			c.failf("Service %s: no port %d targeting listeners[%d] (bucket %s)", client.Name, lp, i, c.w.Config.Listeners[i].Bucket)
		}
	}
	for _, p := range client.Spec.Ports {
		if tp, _ := containerPort(c.w.Container, p.TargetPort); tp == admin {
			c.failf("Service %s: port %s exposes the admin port %d to the clients", client.Name, p.Name, admin)
		}
	}
}

// disruption: every PodDisruptionBudget selects the pods and lets at least
// one be evicted.
func (c *checker) disruption() {
	podLabels := c.w.Deployment.Spec.Template.Labels
	pdbs := c.objs.PodDisruptionBudgets()
	if len(pdbs) == 0 {
		c.failf("no PodDisruptionBudget for Deployment %s", c.w.Deployment.Name)
	}
	for _, p := range pdbs {
		if !selects(p.Spec.Selector, podLabels) {
			c.failf("PodDisruptionBudget %s: selector does not match the pod labels %v", p.Name, podLabels)
		}
		switch {
		case p.Spec.MaxUnavailable != nil:
			if p.Spec.MaxUnavailable.String() == "0" || p.Spec.MaxUnavailable.String() == "0%" {
				c.failf("PodDisruptionBudget %s: maxUnavailable 0 blocks every node drain", p.Name)
			}
		case p.Spec.MinAvailable != nil:
			if p.Spec.MinAvailable.String() == "100%" {
				c.failf("PodDisruptionBudget %s: minAvailable 100%% blocks every node drain", p.Name)
			}
		default:
			c.failf("PodDisruptionBudget %s: neither maxUnavailable nor minAvailable", p.Name)
		}
	}
}

// autoscaling: the HorizontalPodAutoscaler targets the Deployment, keeps at
// least MinReplicas, and scales on CPU, which the container requests.
func (c *checker) autoscaling() {
	d := c.w.Deployment
	hpas := c.objs.HorizontalPodAutoscalers()
	if len(hpas) == 0 {
		c.failf("no HorizontalPodAutoscaler for Deployment %s", d.Name)
	}
	for _, h := range hpas {
		ref := h.Spec.ScaleTargetRef
		if ref.Kind != "Deployment" || ref.Name != d.Name || ref.APIVersion != "apps/v1" {
			c.failf("HorizontalPodAutoscaler %s: scaleTargetRef %s %s %s, want apps/v1 Deployment %s", h.Name, ref.APIVersion, ref.Kind, ref.Name, d.Name)
		}
		if h.Spec.MinReplicas == nil || int(*h.Spec.MinReplicas) < c.o.MinReplicas {
			c.failf("HorizontalPodAutoscaler %s: minReplicas must be at least %d", h.Name, c.o.MinReplicas)
		} else if h.Spec.MaxReplicas < *h.Spec.MinReplicas {
			c.failf("HorizontalPodAutoscaler %s: maxReplicas %d below minReplicas %d", h.Name, h.Spec.MaxReplicas, *h.Spec.MinReplicas)
		}
		cpu := slices.ContainsFunc(h.Spec.Metrics, func(m autoscalingMetric) bool {
			return m.Resource != nil && m.Resource.Name == corev1.ResourceCPU
		})
		if !cpu {
			c.failf("HorizontalPodAutoscaler %s: no CPU resource metric", h.Name)
		}
	}
}

// monitoring: each ServiceMonitor selects a Service of objs, scrapes a named
// port of it that reaches the admin port, on /metrics.
func (c *checker) monitoring() {
	admin := int32(c.w.Config.AdminPort())
	for _, sm := range c.objs.ServiceMonitors() {
		var svcs []*corev1.Service
		for _, s := range c.objs.Services() {
			if selects(&sm.Spec.Selector, s.Labels) {
				svcs = append(svcs, s)
			}
		}
		if len(svcs) == 0 {
			c.failf("ServiceMonitor %s: selector matches no Service", sm.Name)
			continue
		}
		if len(sm.Spec.Endpoints) == 0 {
			c.failf("ServiceMonitor %s: no endpoints", sm.Name)
		}
		for i, ep := range sm.Spec.Endpoints {
			p := ep.Path
			if p == "" {
				p = MetricsPath
			}
			if path.Clean(p) != MetricsPath {
				c.failf("ServiceMonitor %s: endpoints[%d].path %q, want %s", sm.Name, i, ep.Path, MetricsPath)
			}
			switch {
			case c.w.Config.AdminTLS && ep.Scheme != "https":
				c.failf("ServiceMonitor %s: endpoints[%d].scheme %q, want https (admin.tls serves the admin port over TLS)", sm.Name, i, ep.Scheme)
			case !c.w.Config.AdminTLS && ep.Scheme != "" && ep.Scheme != "http":
				c.failf("ServiceMonitor %s: endpoints[%d].scheme %q, want http (the admin port serves plain HTTP)", sm.Name, i, ep.Scheme)
			}
			for _, s := range svcs {
				c.monitoredPort(sm.Name, i, ep.Port, s, admin)
			}
			if err := checkScrapeTiming(ep.Interval, ep.ScrapeTimeout); err != nil {
				c.failf("ServiceMonitor %s: endpoints[%d]: %v", sm.Name, i, err)
			}
		}
	}
}

func (c *checker) monitoredPort(sm string, i int, name string, s *corev1.Service, admin int32) {
	if name == "" {
		c.failf("ServiceMonitor %s: endpoints[%d]: port is empty; name the Service port", sm, i)
		return
	}
	for _, p := range s.Spec.Ports {
		if p.Name != name {
			continue
		}
		if tp, ok := containerPort(c.w.Container, p.TargetPort); !ok || tp != admin {
			c.failf("ServiceMonitor %s: endpoints[%d]: Service %s port %s does not reach the admin port %d", sm, i, s.Name, name, admin)
		}
		return
	}
	c.failf("ServiceMonitor %s: endpoints[%d]: Service %s has no port named %q", sm, i, s.Name, name)
}
