package kubecheck

import (
	"path/filepath"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
)

var (
	baseOnce sync.Once
	baseYAML []byte
	baseErr  error
)

// freshBase returns a new decoded copy of the rendered base, for a test to
// mutate.
func freshBase(t *testing.T) Objects {
	t.Helper()
	baseOnce.Do(func() { _, baseYAML, baseErr = Build(filepath.Join(kubeDir, "base")) })
	if baseErr != nil {
		t.Fatal(baseErr)
	}
	objs, err := Decode(baseYAML, "base")
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func vbproxyDeployment(t *testing.T, objs Objects) (*appsv1.Deployment, *corev1.Container) {
	t.Helper()
	ds := objs.Deployments()
	if len(ds) != 1 {
		t.Fatalf("Deployments = %d, want 1", len(ds))
	}
	return ds[0], &ds[0].Spec.Template.Spec.Containers[0]
}

func setConfig(t *testing.T, objs Objects, edit func(string) string) {
	t.Helper()
	cms := objs.ConfigMaps()
	if len(cms) != 1 {
		t.Fatalf("ConfigMaps = %d, want 1", len(cms))
	}
	before := cms[0].Data["vbproxy.yaml"]
	after := edit(before)
	if after == before {
		t.Fatalf("config edit changed nothing")
	}
	cms[0].Data["vbproxy.yaml"] = after
}

func replace(old, new string) func(string) string {
	return func(s string) string { return strings.Replace(s, old, new, 1) }
}

// TestCheckWorkloadDetects breaks the base one way at a time and checks that
// CheckWorkload names the problem. Each case is a regression the checks
// exist to catch.
func TestCheckWorkloadDetects(t *testing.T) {
	f, tr := false, true
	zero := int64(0)
	tests := []struct {
		name   string
		mutate func(t *testing.T, objs Objects)
		want   string // substring of the error
	}{
		{"listener port not a containerPort", func(t *testing.T, objs Objects) {
			setConfig(t, objs, replace(`":11211"`, `":11311"`))
		}, "no TCP containerPort 11311"},
		{"admin port moved", func(t *testing.T, objs Objects) {
			setConfig(t, objs, replace(`":8080"`, `":9090"`))
		}, "want the admin port 9090"},
		{"loopback listener", func(t *testing.T, objs Objects) {
			setConfig(t, objs, replace(`":11211"`, `"127.0.0.1:11211"`))
		}, "loopback"},
		{"readiness on healthz", func(t *testing.T, objs Objects) {
			_, c := vbproxyDeployment(t, objs)
			c.ReadinessProbe.HTTPGet.Path = "/healthz"
		}, `readinessProbe: httpGet.path "/healthz", want "/readyz"`},
		{"liveness on wrong port", func(t *testing.T, objs Objects) {
			_, c := vbproxyDeployment(t, objs)
			c.LivenessProbe.HTTPGet.Port = intstr.FromString("memcached")
		}, "livenessProbe: httpGet.port memcached, want the admin port 8080"},
		{"no liveness probe", func(t *testing.T, objs Objects) {
			_, c := vbproxyDeployment(t, objs)
			c.LivenessProbe = nil
		}, "livenessProbe: want an httpGet probe"},
		{"writable root", func(t *testing.T, objs Objects) {
			_, c := vbproxyDeployment(t, objs)
			c.SecurityContext.ReadOnlyRootFilesystem = &f
		}, "readOnlyRootFilesystem is not true"},
		{"root user", func(t *testing.T, objs Objects) {
			d, _ := vbproxyDeployment(t, objs)
			d.Spec.Template.Spec.SecurityContext.RunAsUser = &zero
		}, "runAsUser is 0"},
		{"capabilities kept", func(t *testing.T, objs Objects) {
			_, c := vbproxyDeployment(t, objs)
			c.SecurityContext.Capabilities.Drop = []corev1.Capability{"NET_RAW"}
		}, "capabilities.drop does not contain ALL"},
		{"no seccomp", func(t *testing.T, objs Objects) {
			d, _ := vbproxyDeployment(t, objs)
			d.Spec.Template.Spec.SecurityContext.SeccompProfile = nil
		}, "seccompProfile.type is not RuntimeDefault"},
		{"privilege escalation", func(t *testing.T, objs Objects) {
			_, c := vbproxyDeployment(t, objs)
			c.SecurityContext.AllowPrivilegeEscalation = &tr
		}, "allowPrivilegeEscalation is not false"},
		{"latest image", func(t *testing.T, objs Objects) {
			_, c := vbproxyDeployment(t, objs)
			c.Image = "ghcr.io/vbproxy/vbproxy:latest"
		}, "not latest"},
		{"no memory limit", func(t *testing.T, objs Objects) {
			_, c := vbproxyDeployment(t, objs)
			delete(c.Resources.Limits, corev1.ResourceMemory)
		}, "no memory limit"},
		{"request above limit", func(t *testing.T, objs Objects) {
			_, c := vbproxyDeployment(t, objs)
			c.Resources.Requests[corev1.ResourceCPU] = resource.MustParse("4")
		}, "cpu request 4 exceeds the limit 2"},
		{"GOMEMLIMIT above the limit", func(t *testing.T, objs Objects) {
			_, c := vbproxyDeployment(t, objs)
			for i := range c.Env {
				if c.Env[i].Name == "GOMEMLIMIT" {
					c.Env[i].Value = "1GiB"
				}
			}
		}, "GOMEMLIMIT 1GiB"},
		{"grace period too short for the drain", func(t *testing.T, objs Objects) {
			setConfig(t, objs, replace("drain_timeout: 20s", "drain_timeout: 40s"))
		}, "terminationGracePeriodSeconds 35 must exceed preStop 5s + shutdown.drain_timeout 40s"},
		{"no preStop", func(t *testing.T, objs Objects) {
			_, c := vbproxyDeployment(t, objs)
			c.Lifecycle = nil
		}, "want a preStop sleep"},
		{"one replica", func(t *testing.T, objs Objects) {
			d, _ := vbproxyDeployment(t, objs)
			one := int32(1)
			d.Spec.Replicas = &one
		}, "replicas 1, want at least 2"},
		{"rollout removes ready pods", func(t *testing.T, objs Objects) {
			d, _ := vbproxyDeployment(t, objs)
			v := intstr.FromString("25%")
			d.Spec.Strategy.RollingUpdate.MaxUnavailable = &v
		}, "maxUnavailable must be 0"},
		{"no spread over nodes", func(t *testing.T, objs Objects) {
			d, _ := vbproxyDeployment(t, objs)
			d.Spec.Template.Spec.TopologySpreadConstraints = d.Spec.Template.Spec.TopologySpreadConstraints[1:]
		}, "no topologySpreadConstraint over kubernetes.io/hostname"},
		{"config mounted writable", func(t *testing.T, objs Objects) {
			_, c := vbproxyDeployment(t, objs)
			c.VolumeMounts[0].ReadOnly = false
		}, "is not readOnly"},
		{"config flag path differs", func(t *testing.T, objs Objects) {
			_, c := vbproxyDeployment(t, objs)
			c.Args = []string{"-config", "/etc/vbproxy/config.yaml"}
		}, `-config "/etc/vbproxy/config.yaml", want "/etc/vbproxy/vbproxy.yaml"`},
		{"password env not set", func(t *testing.T, objs Objects) {
			setConfig(t, objs, replace("password_env: VBPROXY_PASSWORD", "password_env: CB_PASSWORD"))
		}, "cluster password_env CB_PASSWORD is not set"},
		{"password literal", func(t *testing.T, objs Objects) {
			_, c := vbproxyDeployment(t, objs)
			c.Env[0].ValueFrom = nil
			c.Env[0].Value = "hunter2"
		}, "has a literal value"},
		{"secret key missing", func(t *testing.T, objs Objects) {
			_, c := vbproxyDeployment(t, objs)
			c.Env[0].ValueFrom.SecretKeyRef.Key = "pass"
		}, `has no key "pass"`},
		{"password file not mounted", func(t *testing.T, objs Objects) {
			setConfig(t, objs, replace("password_env: VBPROXY_PASSWORD", "password_file: /var/run/vbproxy/password"))
		}, "password_file /var/run/vbproxy/password is not mounted"},
		{"password file inside the config volume", func(t *testing.T, objs Objects) {
			setConfig(t, objs, replace("password_env: VBPROXY_PASSWORD", "password_file: /etc/vbproxy/password"))
		}, "/etc/vbproxy/password (the cluster password_file) is not mounted from a Secret"},
		{"service misses the listener", func(t *testing.T, objs Objects) {
			objs.Services()[0].Spec.Ports[0].Port = 11311
		}, "no port 11211 targeting listeners[0]"},
		{"service exposes admin", func(t *testing.T, objs Objects) {
			s := objs.Services()[0]
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "admin", Port: 8080, TargetPort: intstr.FromString("admin")})
		}, "exposes the admin port 8080"},
		{"service targets an undeclared port", func(t *testing.T, objs Objects) {
			objs.Services()[0].Spec.Ports[0].TargetPort = intstr.FromString("memcache")
		}, "targetPort memcache is not a containerPort"},
		{"service selector misses pods", func(t *testing.T, objs Objects) {
			objs.Services()[0].Spec.Selector = map[string]string{"app": "vbproxy"}
		}, "does not match the pod labels"},
		{"headless client service", func(t *testing.T, objs Objects) {
			objs.Services()[0].Spec.ClusterIP = corev1.ClusterIPNone
		}, "headless"},
		{"pdb blocks drains", func(t *testing.T, objs Objects) {
			v := intstr.FromInt32(0)
			objs.PodDisruptionBudgets()[0].Spec.MaxUnavailable = &v
		}, "maxUnavailable 0 blocks every node drain"},
		{"pdb selects nothing", func(t *testing.T, objs Objects) {
			objs.PodDisruptionBudgets()[0].Spec.Selector.MatchLabels = map[string]string{"app": "x"}
		}, "PodDisruptionBudget vbproxy: selector does not match"},
		{"hpa targets another deployment", func(t *testing.T, objs Objects) {
			objs.HorizontalPodAutoscalers()[0].Spec.ScaleTargetRef.Name = "proxy"
		}, "want apps/v1 Deployment vbproxy"},
		{"hpa without cpu", func(t *testing.T, objs Objects) {
			objs.HorizontalPodAutoscalers()[0].Spec.Metrics[0].Resource.Name = corev1.ResourceMemory
		}, "no CPU resource metric"},
		{"missing service account", func(t *testing.T, objs Objects) {
			d, _ := vbproxyDeployment(t, objs)
			d.Spec.Template.Spec.ServiceAccountName = "proxy"
		}, `serviceAccountName "proxy": no such ServiceAccount`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := freshBase(t)
			if _, err := CheckWorkload(objs, WorkloadOptions{}); err != nil {
				t.Fatalf("CheckWorkload(base) = %v, want nil", err)
			}
			tt.mutate(t, objs)
			_, err := CheckWorkload(objs, WorkloadOptions{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("CheckWorkload error = %v\nwant it to contain %q", err, tt.want)
			}
		})
	}
}

// TestCheckWorkloadServiceMonitor breaks the monitoring example's
// ServiceMonitor one way at a time.
func TestCheckWorkloadServiceMonitor(t *testing.T) {
	_, out, err := Build(filepath.Join(kubeDir, "examples", "monitoring"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		mutate func(sm *ServiceMonitor)
		want   string
	}{
		{"wrong path", func(sm *ServiceMonitor) { sm.Spec.Endpoints[0].Path = "/stats" }, `path "/stats", want /metrics`},
		{"unknown port", func(sm *ServiceMonitor) { sm.Spec.Endpoints[0].Port = "metrics" }, `has no port named "metrics"`},
		{"selects no service", func(sm *ServiceMonitor) {
			sm.Spec.Selector.MatchLabels = map[string]string{"app": "none"}
		}, "selector matches no Service"},
		{"timeout above interval", func(sm *ServiceMonitor) { sm.Spec.Endpoints[0].ScrapeTimeout = "1m" }, "exceeds interval"},
		{"bad interval", func(sm *ServiceMonitor) { sm.Spec.Endpoints[0].Interval = "30 seconds" }, "interval"},
		{"points at the memcached port", func(sm *ServiceMonitor) {
			sm.Spec.Selector.MatchLabels = map[string]string{"app.kubernetes.io/component": "proxy"}
			sm.Spec.Endpoints[0].Port = "memcached"
		}, "does not reach the admin port 8080"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := Decode(out, "monitoring")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := CheckWorkload(objs, WorkloadOptions{}); err != nil {
				t.Fatalf("CheckWorkload(monitoring) = %v, want nil", err)
			}
			tt.mutate(Objects(objs).ServiceMonitors()[0])
			_, err = CheckWorkload(objs, WorkloadOptions{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("CheckWorkload error = %v\nwant it to contain %q", err, tt.want)
			}
		})
	}
}

// TestCheckWorkloadPasswordFile accepts the other way to pass the password: a
// Secret volume holding the file that cluster.password_file names.
func TestCheckWorkloadPasswordFile(t *testing.T) {
	objs := freshBase(t)
	setConfig(t, objs, replace("password_env: VBPROXY_PASSWORD", "password_file: /var/run/vbproxy/password"))
	d, c := vbproxyDeployment(t, objs)
	c.Env = c.Env[1:] // GOMEMLIMIT stays
	c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "couchbase", MountPath: "/var/run/vbproxy", ReadOnly: true})
	d.Spec.Template.Spec.Volumes = append(d.Spec.Template.Spec.Volumes, corev1.Volume{
		Name: "couchbase",
		VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: "vbproxy-couchbase",
		}},
	})
	if _, err := CheckWorkload(objs, WorkloadOptions{}); err != nil {
		t.Errorf("CheckWorkload = %v, want nil", err)
	}
	d.Spec.Template.Spec.Volumes[len(d.Spec.Template.Spec.Volumes)-1].Secret.Items = []corev1.KeyToPath{{Key: "pw", Path: "password"}}
	_, err := CheckWorkload(objs, WorkloadOptions{})
	if err == nil || !strings.Contains(err.Error(), `Secret vbproxy-couchbase has no key "pw"`) {
		t.Errorf("CheckWorkload with item key pw = %v, want a missing-key error", err)
	}
}
