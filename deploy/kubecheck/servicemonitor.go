package kubecheck

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// ServiceMonitor is the subset of the Prometheus Operator's ServiceMonitor
// (monitoring.coreos.com/v1) that vbproxy's manifests use. Decoding is strict,
// so a field outside this subset is an error: extend the struct (with the
// field's real name and type from the CRD) before using a new one.
type ServiceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              ServiceMonitorSpec `json:"spec"`
}

// ServiceMonitorSpec selects Services and says how to scrape their endpoints.
type ServiceMonitorSpec struct {
	JobLabel          string               `json:"jobLabel,omitempty"`
	TargetLabels      []string             `json:"targetLabels,omitempty"`
	PodTargetLabels   []string             `json:"podTargetLabels,omitempty"`
	Selector          metav1.LabelSelector `json:"selector"`
	NamespaceSelector *NamespaceSelector   `json:"namespaceSelector,omitempty"`
	Endpoints         []MonitorEndpoint    `json:"endpoints"`
}

// NamespaceSelector picks the namespaces whose Services are selected; empty
// means the ServiceMonitor's own namespace.
type NamespaceSelector struct {
	Any        bool     `json:"any,omitempty"`
	MatchNames []string `json:"matchNames,omitempty"`
}

// MonitorEndpoint is one scrape target on the selected Services.
type MonitorEndpoint struct {
	Port          string              `json:"port,omitempty"`       // a named Service port
	TargetPort    *intstr.IntOrString `json:"targetPort,omitempty"` // or the pod's port
	Path          string              `json:"path,omitempty"`       // default /metrics
	Scheme        string              `json:"scheme,omitempty"`     // http or https
	Interval      string              `json:"interval,omitempty"`   // Prometheus duration, e.g. 30s
	ScrapeTimeout string              `json:"scrapeTimeout,omitempty"`
	HonorLabels   bool                `json:"honorLabels,omitempty"`
	Params        map[string][]string `json:"params,omitempty"`
}

// ParsePrometheusDuration parses a Prometheus duration such as "30s", "1m30s"
// or "1d": units y, w, d, h, m, s, ms, each at most once and in that order,
// or "0".
func ParsePrometheusDuration(s string) (time.Duration, error) {
	if s == "0" {
		return 0, nil
	}
	if s == "" {
		return 0, errors.New("empty duration")
	}
	units := []struct {
		name string
		d    time.Duration
	}{
		{"y", 365 * 24 * time.Hour}, {"w", 7 * 24 * time.Hour}, {"d", 24 * time.Hour},
		{"h", time.Hour}, {"ms", time.Millisecond}, {"m", time.Minute}, {"s", time.Second},
	}
	order := map[string]int{"y": 0, "w": 1, "d": 2, "h": 3, "m": 4, "s": 5, "ms": 6}
	var total time.Duration
	last := -1
	for rest := s; rest != ""; {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 || i > 12 {
			return 0, fmt.Errorf("%q is not a Prometheus duration", s)
		}
		n, err := strconv.ParseInt(rest[:i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not a Prometheus duration", s)
		}
		rest = rest[i:]
		matched := false
		for _, u := range units {
			if !strings.HasPrefix(rest, u.name) {
				continue
			}
			if order[u.name] <= last {
				return 0, fmt.Errorf("%q: unit %s out of order or repeated", s, u.name)
			}
			last = order[u.name]
			if n > int64(math.MaxInt64/u.d) || total > math.MaxInt64-time.Duration(n)*u.d {
				return 0, fmt.Errorf("%q is too long", s)
			}
			total += time.Duration(n) * u.d
			rest = rest[len(u.name):]
			matched = true
			break
		}
		if !matched {
			return 0, fmt.Errorf("%q: missing or unknown unit (y, w, d, h, m, s, ms)", s)
		}
	}
	return total, nil
}

// checkScrapeTiming checks a ServiceMonitor endpoint's interval and timeout:
// both valid when set, and the timeout not longer than the interval.
func checkScrapeTiming(interval, timeout string) error {
	var iv, to time.Duration
	var err error
	if interval != "" {
		if iv, err = ParsePrometheusDuration(interval); err != nil {
			return fmt.Errorf("interval: %w", err)
		}
	}
	if timeout != "" {
		if to, err = ParsePrometheusDuration(timeout); err != nil {
			return fmt.Errorf("scrapeTimeout: %w", err)
		}
	}
	if iv > 0 && to > iv {
		return fmt.Errorf("scrapeTimeout %s exceeds interval %s", timeout, interval)
	}
	return nil
}
