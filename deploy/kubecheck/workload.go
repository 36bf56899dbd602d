package kubecheck

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The admin endpoints the probes and Prometheus use (docs/design.md, "Admin HTTP").
const (
	HealthzPath = "/healthz"
	ReadyzPath  = "/readyz"
	MetricsPath = "/metrics"
)

// WorkloadOptions names what CheckWorkload looks for. The zero value matches
// deploy/kubernetes.
type WorkloadOptions struct {
	Deployment    string // the Deployment's name; default "vbproxy"
	Container     string // the proxy container's name; default "vbproxy"
	ClientService string // the ClusterIP Service clients use; default "vbproxy"
	ConfigPath    string // where the config is mounted; default "/etc/vbproxy/vbproxy.yaml"
	MinReplicas   int    // fewest replicas (Deployment and HPA); default 2
}

func (o WorkloadOptions) withDefaults() WorkloadOptions {
	if o.Deployment == "" {
		o.Deployment = "vbproxy"
	}
	if o.Container == "" {
		o.Container = "vbproxy"
	}
	if o.ClientService == "" {
		o.ClientService = "vbproxy"
	}
	if o.ConfigPath == "" {
		o.ConfigPath = "/etc/vbproxy/vbproxy.yaml"
	}
	if o.MinReplicas == 0 {
		o.MinReplicas = 2
	}
	return o
}

// Workload is what CheckWorkload found.
type Workload struct {
	Deployment *appsv1.Deployment
	Container  *corev1.Container
	ConfigMap  *corev1.ConfigMap
	ConfigKey  string // the ConfigMap key mounted at ConfigPath
	ConfigData []byte
	Config     *ProxyConfig
}

// CheckWorkload checks one rendered deployment of vbproxy (the output of
// Build): the Deployment runs `vbproxy -config ConfigPath` with that file
// mounted read-only from a ConfigMap of objs; the config's listener and admin
// ports are containerPorts; probes hit /readyz and /healthz on the admin port;
// Services, the PodDisruptionBudget, the HorizontalPodAutoscaler and the
// ServiceMonitor select the pods and name existing ports; passwords come from
// Secrets of objs; the pod is locked down, sized, spread and drains in time.
// It returns what it found (nil when the Deployment or config is missing) and
// every problem, joined.
func CheckWorkload(objs Objects, o WorkloadOptions) (*Workload, error) {
	o = o.withDefaults()
	w := &Workload{}
	for _, d := range objs.Deployments() {
		if d.Name == o.Deployment {
			w.Deployment = d
		}
	}
	if w.Deployment == nil {
		return nil, fmt.Errorf("kubecheck: no Deployment %q", o.Deployment)
	}
	spec := &w.Deployment.Spec.Template.Spec
	for i := range spec.Containers {
		if spec.Containers[i].Name == o.Container {
			w.Container = &spec.Containers[i]
		}
	}
	if w.Container == nil {
		return nil, fmt.Errorf("kubecheck: Deployment %s: no container %q", o.Deployment, o.Container)
	}
	if err := w.findConfig(objs, o); err != nil {
		return nil, err
	}
	cfg, err := ParseProxyConfig(w.ConfigData)
	if err != nil {
		return nil, fmt.Errorf("ConfigMap %s key %s: %w", w.ConfigMap.Name, w.ConfigKey, err)
	}
	w.Config = cfg

	c := &checker{w: w, objs: objs, o: o}
	c.ports()
	c.probes()
	c.security()
	c.resources()
	c.drain()
	c.scheduling()
	c.passwords()
	c.mounts()
	c.files()
	c.certificates()
	c.clusterTLS()
	c.services()
	c.disruption()
	c.autoscaling()
	c.monitoring()
	return w, errors.Join(c.errs...)
}

// checker collects the problems found in one workload.
type checker struct {
	w    *Workload
	objs Objects
	o    WorkloadOptions
	errs []error
}

func (c *checker) failf(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf(format, args...))
}

// where prefixes a container field path.
func (c *checker) where(field string) string {
	return fmt.Sprintf("Deployment %s: container %s: %s", c.w.Deployment.Name, c.w.Container.Name, field)
}

// findConfig follows `-config PATH` to the read-only ConfigMap volume mounted
// there and reads the file's content from the ConfigMap in objs.
func (w *Workload) findConfig(objs Objects, o WorkloadOptions) error {
	where := fmt.Sprintf("Deployment %s: container %s", w.Deployment.Name, w.Container.Name)
	args := append(append([]string{}, w.Container.Command...), w.Container.Args...)
	got, ok := flagValue(args, "config")
	if !ok {
		return fmt.Errorf("kubecheck: %s: args %q do not pass -config", where, args)
	}
	if got != o.ConfigPath {
		return fmt.Errorf("kubecheck: %s: -config %q, want %q", where, got, o.ConfigPath)
	}
	for _, m := range w.Container.VolumeMounts {
		rel, ok := mountedFile(m, o.ConfigPath)
		if !ok {
			continue
		}
		if !m.ReadOnly {
			return fmt.Errorf("kubecheck: %s: volumeMount %s at %s is not readOnly", where, m.Name, m.MountPath)
		}
		vol := podVolume(&w.Deployment.Spec.Template.Spec, m.Name)
		if vol == nil || vol.ConfigMap == nil {
			return fmt.Errorf("kubecheck: %s: volume %s mounted at %s is not a ConfigMap volume", where, m.Name, m.MountPath)
		}
		key := rel
		if len(vol.ConfigMap.Items) > 0 {
			key = ""
			for _, it := range vol.ConfigMap.Items {
				if it.Path == rel {
					key = it.Key
				}
			}
			if key == "" {
				return fmt.Errorf("kubecheck: %s: volume %s has no item with path %q", where, m.Name, rel)
			}
		}
		cm := objs.ConfigMap(vol.ConfigMap.Name)
		if cm == nil {
			return fmt.Errorf("kubecheck: %s: volume %s: no ConfigMap %q", where, m.Name, vol.ConfigMap.Name)
		}
		data, ok := cm.Data[key]
		if !ok {
			return fmt.Errorf("kubecheck: ConfigMap %s: no key %q (mounted at %s)", cm.Name, key, o.ConfigPath)
		}
		w.ConfigMap, w.ConfigKey, w.ConfigData = cm, key, []byte(data)
		return nil
	}
	return fmt.Errorf("kubecheck: %s: nothing is mounted at %s", where, o.ConfigPath)
}

// mountedFile returns the path inside the volume that a mount puts at file.
func mountedFile(m corev1.VolumeMount, file string) (string, bool) {
	if m.SubPath != "" {
		return m.SubPath, m.MountPath == file
	}
	dir := strings.TrimSuffix(m.MountPath, "/") + "/"
	if !strings.HasPrefix(file, dir) {
		return "", false
	}
	return path.Clean(strings.TrimPrefix(file, dir)), true
}

func podVolume(spec *corev1.PodSpec, name string) *corev1.Volume {
	for i := range spec.Volumes {
		if spec.Volumes[i].Name == name {
			return &spec.Volumes[i]
		}
	}
	return nil
}

// flagValue finds "-name value", "-name=value", "--name value" or
// "--name=value" in args.
func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		n := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		if n == a {
			continue
		}
		if k, v, ok := strings.Cut(n, "="); ok && k == name {
			return v, true
		}
		if n == name && i+1 < len(args) {
			return args[i+1], true
		}
	}
	return "", false
}

// containerPort resolves a Service target or probe port (a number or a port
// name) to one of the container's declared ports.
func containerPort(ctr *corev1.Container, p intstr.IntOrString) (int32, bool) {
	for _, cp := range ctr.Ports {
		if p.Type == intstr.String && cp.Name == p.StrVal || p.Type == intstr.Int && cp.ContainerPort == p.IntVal {
			return cp.ContainerPort, true
		}
	}
	return 0, false
}

// ports: every listener and the admin address have a TCP containerPort.
func (c *checker) ports() {
	want := append(c.w.Config.ListenerPorts(), c.w.Config.AdminPort())
	for _, p := range want {
		found := false
		for _, cp := range c.w.Container.Ports {
			if int(cp.ContainerPort) == p && (cp.Protocol == "" || cp.Protocol == corev1.ProtocolTCP) {
				found = true
			}
		}
		if !found {
			c.failf("%s: no TCP containerPort %d (vbproxy config %s listens there)", c.where("ports"), p, c.w.ConfigKey)
		}
	}
	for _, cp := range c.w.Container.Ports {
		if !slices.Contains(want, int(cp.ContainerPort)) {
			c.failf("%s: containerPort %d (%s) is not a port the vbproxy config listens on %v", c.where("ports"), cp.ContainerPort, cp.Name, want)
		}
	}
}

// probes: readiness on /readyz and liveness on /healthz, both on the admin port.
func (c *checker) probes() {
	admin := int32(c.w.Config.AdminPort())
	for _, p := range []struct {
		field string
		probe *corev1.Probe
		path  string
	}{
		{"readinessProbe", c.w.Container.ReadinessProbe, ReadyzPath},
		{"livenessProbe", c.w.Container.LivenessProbe, HealthzPath},
	} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			c.failf("%s: want an httpGet probe on %s", c.where(p.field), p.path)
			continue
		}
		g := p.probe.HTTPGet
		if g.Path != p.path {
			c.failf("%s: httpGet.path %q, want %q", c.where(p.field), g.Path, p.path)
		}
		if port, ok := containerPort(c.w.Container, g.Port); !ok || port != admin {
			c.failf("%s: httpGet.port %s, want the admin port %d", c.where(p.field), g.Port.String(), admin)
		}
		switch {
		case c.w.Config.AdminTLS && g.Scheme != corev1.URISchemeHTTPS:
			c.failf("%s: httpGet.scheme %q, want HTTPS: admin.tls serves the admin port over TLS", c.where(p.field), g.Scheme)
		case !c.w.Config.AdminTLS && g.Scheme != "" && g.Scheme != corev1.URISchemeHTTP:
			c.failf("%s: httpGet.scheme %s, want HTTP", c.where(p.field), g.Scheme)
		}
	}
	if c.w.Container.StartupProbe != nil && c.w.Container.StartupProbe.HTTPGet != nil {
		g := c.w.Container.StartupProbe.HTTPGet
		if g.Path != HealthzPath && g.Path != ReadyzPath {
			c.failf("%s: httpGet.path %q, want %s or %s", c.where("startupProbe"), g.Path, HealthzPath, ReadyzPath)
		}
	}
}
