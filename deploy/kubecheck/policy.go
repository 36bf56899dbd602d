package kubecheck

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// security: non-root, read-only root filesystem, no privilege escalation,
// every capability dropped, seccomp RuntimeDefault, no API token.
func (c *checker) security() {
	pod := &c.w.Deployment.Spec.Template.Spec
	ctr := c.w.Container
	psc := pod.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	csc := ctr.SecurityContext
	if csc == nil {
		c.failf("%s: missing", c.where("securityContext"))
		csc = &corev1.SecurityContext{}
	}
	nonRoot := csc.RunAsNonRoot
	if nonRoot == nil {
		nonRoot = psc.RunAsNonRoot
	}
	if nonRoot == nil || !*nonRoot {
		c.failf("%s: runAsNonRoot is not true (pod or container)", c.where("securityContext"))
	}
	uid := csc.RunAsUser
	if uid == nil {
		uid = psc.RunAsUser
	}
	if uid != nil && *uid == 0 {
		c.failf("%s: runAsUser is 0", c.where("securityContext"))
	}
	if csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem {
		c.failf("%s: readOnlyRootFilesystem is not true", c.where("securityContext"))
	}
	if csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation {
		c.failf("%s: allowPrivilegeEscalation is not false", c.where("securityContext"))
	}
	if csc.Privileged != nil && *csc.Privileged {
		c.failf("%s: privileged is true", c.where("securityContext"))
	}
	if csc.Capabilities == nil || !slices.Contains(csc.Capabilities.Drop, "ALL") {
		c.failf("%s: capabilities.drop does not contain ALL", c.where("securityContext"))
	} else if len(csc.Capabilities.Add) > 0 {
		c.failf("%s: capabilities.add %v, want none", c.where("securityContext"), csc.Capabilities.Add)
	}
	seccomp := csc.SeccompProfile
	if seccomp == nil {
		seccomp = psc.SeccompProfile
	}
	if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		c.failf("%s: seccompProfile.type is not RuntimeDefault (pod or container)", c.where("securityContext"))
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		c.failf("Deployment %s: automountServiceAccountToken is not false (vbproxy does not use the API)", c.w.Deployment.Name)
	}
	if sa := pod.ServiceAccountName; sa != "" && sa != "default" {
		if !slices.ContainsFunc(c.objs.ServiceAccounts(), func(a *corev1.ServiceAccount) bool { return a.Name == sa }) {
			c.failf("Deployment %s: serviceAccountName %q: no such ServiceAccount", c.w.Deployment.Name, sa)
		}
	}
	if pod.HostNetwork || pod.HostPID || pod.HostIPC {
		c.failf("Deployment %s: uses the host's network, PID or IPC namespace", c.w.Deployment.Name)
	}
	img := ctr.Image
	switch {
	case strings.Contains(img, "@"):
	case imageName(img) == img:
		c.failf("%s: %q has no tag or digest", c.where("image"), img)
	case strings.HasSuffix(img, ":latest"):
		c.failf("%s: %q: pin a version, not latest", c.where("image"), img)
	}
}

// resources: CPU and memory requests and limits, requests within limits, and
// GOMEMLIMIT (when set) under the memory limit.
func (c *checker) resources() {
	r := c.w.Container.Resources
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, hasReq := r.Requests[name]
		lim, hasLim := r.Limits[name]
		if !hasReq {
			c.failf("%s: no %s request", c.where("resources"), name)
		}
		if !hasLim {
			c.failf("%s: no %s limit", c.where("resources"), name)
		}
		if hasReq && hasLim && req.Cmp(lim) > 0 {
			c.failf("%s: %s request %s exceeds the limit %s", c.where("resources"), name, req.String(), lim.String())
		}
	}
	for _, e := range c.w.Container.Env {
		if e.Name != "GOMEMLIMIT" {
			continue
		}
		lim, ok := r.Limits[corev1.ResourceMemory]
		if !ok {
			continue
		}
		n, err := ParseGoMemLimit(e.Value)
		if err != nil {
			c.failf("%s: GOMEMLIMIT: %v", c.where("env"), err)
			continue
		}
		if n >= lim.Value() {
			c.failf("%s: GOMEMLIMIT %s (%d bytes) is not below the memory limit %s", c.where("env"), e.Value, n, lim.String())
		}
	}
}

// ParseGoMemLimit parses a GOMEMLIMIT value as the Go runtime does: a
// non-negative integer of bytes with an optional B, KiB, MiB, GiB or TiB
// suffix. "off" is not accepted here: a limit is what the manifest wants.
func ParseGoMemLimit(s string) (int64, error) {
	mult := int64(1)
	num := s
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			num, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > (1<<63-1)/mult {
		return 0, fmt.Errorf("%q is not a byte count with an optional B/KiB/MiB/GiB/TiB suffix", s)
	}
	return n * mult, nil
}

// drain: preStop sleep + shutdown.drain_timeout < terminationGracePeriodSeconds,
// and a rollout that never goes below the wanted number of ready proxies.
func (c *checker) drain() {
	d := c.w.Deployment
	grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
	if g := d.Spec.Template.Spec.TerminationGracePeriodSeconds; g != nil {
		grace = *g
	}
	preStop, ok := preStopSleep(c.w.Container.Lifecycle)
	if !ok {
		c.failf("%s: want a preStop sleep so that endpoint removal reaches kube-proxy before SIGTERM", c.where("lifecycle.preStop"))
	}
	drain := c.w.Config.DrainTimeout
	if drain == 0 {
		c.failf("ConfigMap %s: shutdown.drain_timeout is not set: the pod's grace period cannot be checked against it", c.w.ConfigMap.Name)
	}
	need := preStop + drain
	if time.Duration(grace)*time.Second <= need {
		c.failf("Deployment %s: terminationGracePeriodSeconds %d must exceed preStop %s + shutdown.drain_timeout %s = %s",
			d.Name, grace, preStop, drain, need)
	}
	if d.Spec.Replicas != nil && int(*d.Spec.Replicas) < c.o.MinReplicas {
		c.failf("Deployment %s: replicas %d, want at least %d", d.Name, *d.Spec.Replicas, c.o.MinReplicas)
	}
	if s := d.Spec.Strategy; s.Type != "" && s.Type != "RollingUpdate" {
		c.failf("Deployment %s: strategy %s, want RollingUpdate", d.Name, s.Type)
	} else if ru := s.RollingUpdate; ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.String() != "0" {
		c.failf("Deployment %s: strategy.rollingUpdate.maxUnavailable must be 0: a rollout must not remove ready proxies before new ones are ready", d.Name)
	}
}

// preStopSleep returns the preStop delay: a sleep action, or an exec of sleep.
func preStopSleep(l *corev1.Lifecycle) (time.Duration, bool) {
	if l == nil || l.PreStop == nil {
		return 0, false
	}
	if s := l.PreStop.Sleep; s != nil && s.Seconds > 0 {
		return time.Duration(s.Seconds) * time.Second, true
	}
	if e := l.PreStop.Exec; e != nil && len(e.Command) == 2 && (e.Command[0] == "sleep" || strings.HasSuffix(e.Command[0], "/sleep")) {
		n, err := strconv.Atoi(e.Command[1])
		if err == nil && n > 0 {
			return time.Duration(n) * time.Second, true
		}
	}
	return 0, false
}

// scheduling: spread over nodes (topologyKey kubernetes.io/hostname) with a
// selector that matches the pods.
func (c *checker) scheduling() {
	pod := c.w.Deployment.Spec.Template
	for _, t := range pod.Spec.TopologySpreadConstraints {
		if t.TopologyKey == corev1.LabelHostname && selects(t.LabelSelector, pod.Labels) {
			return
		}
	}
	c.failf("Deployment %s: no topologySpreadConstraint over %s selecting the pods", c.w.Deployment.Name, corev1.LabelHostname)
}
