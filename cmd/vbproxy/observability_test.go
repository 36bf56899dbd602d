package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"

	"github.com/vbproxy/vbproxy/sim"
)

// The dashboards and alerts in deploy/observability query vbproxy's metrics
// by name and label; these tests hold them to the real /metrics of a proxy
// in front of the simulated cluster, and run promtool over the rules and
// the exposition.

const observabilityDir = "../../deploy/observability"

// targetLabels are added by Prometheus (and the Prometheus Operator) to
// every scraped series; they are never in /metrics itself.
var targetLabels = map[string]bool{"job": true, "instance": true, "namespace": true, "pod": true, "service": true}

// exposedLabels maps every series name in /metrics (histograms as their
// _bucket, _sum and _count series) to its label names.
func exposedLabels(t *testing.T, text string) map[string]map[string]bool {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	out := map[string]map[string]bool{}
	add := func(name string, labels ...string) {
		if out[name] == nil {
			out[name] = map[string]bool{}
		}
		for _, l := range labels {
			out[name][l] = true
		}
	}
	for name, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, lp := range m.GetLabel() {
				labels = append(labels, lp.GetName())
			}
			if mf.GetType().String() == "HISTOGRAM" {
				add(name+"_bucket", append(labels, "le")...)
				add(name+"_sum", labels...)
				add(name+"_count", labels...)
				continue
			}
			add(name, labels...)
		}
	}
	return out
}

// promRef is one use of a metric in a PromQL expression: the metric and
// the label names its selector matches on.
type promRef struct {
	metric string
	labels []string
}

// promqlRefs lists the vbproxy_ selectors of expr and the label names of
// its by/without/on/ignoring/group_left/group_right clauses. It is a small
// scanner for the PromQL the dashboards use, not a full parser: strings are
// skipped, [ranges] are skipped, and Grafana's label_values(selector,
// label) counts its label as a grouping label.
func promqlRefs(expr string) (refs []promRef, grouping []string) {
	if m := regexp.MustCompile(`^\s*label_values\((.*),\s*([a-zA-Z_]\w*)\s*\)\s*$`).FindStringSubmatch(expr); m != nil {
		expr, grouping = m[1], []string{m[2]}
	}
	isIdent := func(c byte, first bool) bool {
		return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || !first && c >= '0' && c <= '9'
	}
	skipSpace := func(i int) int {
		for i < len(expr) && (expr[i] == ' ' || expr[i] == '\n' || expr[i] == '\t') {
			i++
		}
		return i
	}
	skipString := func(i int) int { // expr[i] is the opening quote
		q := expr[i]
		for i++; i < len(expr) && expr[i] != q; i++ {
			if expr[i] == '\\' {
				i++
			}
		}
		return i + 1
	}
	ident := func(i int) (string, int) {
		j := i
		for j < len(expr) && isIdent(expr[j], j == i) {
			j++
		}
		return expr[i:j], j
	}
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			i = skipString(i)
		case c == '[':
			for i < len(expr) && expr[i] != ']' {
				i++
			}
		case c == '$': // a Grafana variable such as $__rate_interval
			_, i = ident(i + 1)
		case isIdent(c, true) && (i == 0 || !isIdent(expr[i-1], false)):
			word, j := ident(i)
			k := skipSpace(j)
			switch {
			case strings.HasPrefix(word, "vbproxy_"):
				ref := promRef{metric: word}
				if k < len(expr) && expr[k] == '{' {
					for k++; k < len(expr) && expr[k] != '}'; {
						k = skipSpace(k)
						if expr[k] == ',' {
							k++
							continue
						}
						name, n := ident(k)
						ref.labels = append(ref.labels, name)
						for n < len(expr) && expr[n] != '"' && expr[n] != '\'' && expr[n] != '`' {
							n++
						}
						k = skipSpace(skipString(n))
					}
					j = k + 1
				}
				refs = append(refs, ref)
			case k < len(expr) && expr[k] == '(' && regexp.MustCompile(`^(by|without|on|ignoring|group_left|group_right)$`).MatchString(word):
				end := strings.IndexByte(expr[k:], ')')
				for l := range strings.SplitSeq(expr[k+1:k+end], ",") {
					if l = strings.TrimSpace(l); l != "" {
						grouping = append(grouping, l)
					}
				}
				j = k + end + 1
			}
			i = j
		default:
			i++
		}
	}
	return refs, grouping
}

// checkExpr reports every metric or label expr uses that /metrics lacks.
func checkExpr(t *testing.T, where, expr string, exposed map[string]map[string]bool) {
	t.Helper()
	refs, grouping := promqlRefs(expr)
	if len(refs) == 0 {
		t.Errorf("%s: no vbproxy metric in %q", where, expr)
	}
	for _, r := range refs {
		labels, ok := exposed[r.metric]
		if !ok {
			t.Errorf("%s: metric %s is not in vbproxy's /metrics (%q)", where, r.metric, expr)
			continue
		}
		for _, l := range r.labels {
			if !labels[l] && !targetLabels[l] {
				t.Errorf("%s: %s has no label %q (%q)", where, r.metric, l, expr)
			}
		}
	}
	for _, l := range grouping {
		found := targetLabels[l]
		for _, r := range refs {
			found = found || exposed[r.metric][l]
		}
		if !found {
			t.Errorf("%s: grouping label %q is on none of %v (%q)", where, l, refs, expr)
		}
	}
}

// dashboardExprs walks the Grafana dashboard for every PromQL expression:
// panel targets (rows included), template variable queries, annotations.
func dashboardExprs(t *testing.T) map[string]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(observabilityDir, "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels      []json.RawMessage `json:"panels"`
		Annotations struct {
			List []struct {
				Name string `json:"name"`
				Expr string `json:"expr"`
			} `json:"list"`
		} `json:"annotations"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	out := map[string]string{}
	type panel struct {
		Title   string            `json:"title"`
		Type    string            `json:"type"`
		Panels  []json.RawMessage `json:"panels"`
		Targets []struct {
			RefID string `json:"refId"`
			Expr  string `json:"expr"`
		} `json:"targets"`
	}
	var walk func([]json.RawMessage)
	walk = func(raws []json.RawMessage) {
		for _, raw := range raws {
			var p panel
			if err := json.Unmarshal(raw, &p); err != nil {
				t.Fatalf("panel: %v", err)
			}
			if p.Type != "row" && len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, tg := range p.Targets {
				out["panel "+p.Title+" "+tg.RefID] = tg.Expr
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, a := range d.Annotations.List {
		out["annotation "+a.Name] = a.Expr
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(map[string]any)
		s, _ := q["query"].(string)
		out["variable "+v.Name] = s
	}
	return out
}

// ruleGroups returns the spec of the PrometheusRule: a Prometheus rule file.
func ruleGroups(t *testing.T) (spec []byte, exprs map[string]string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(observabilityDir, "prometheusrule.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var pr struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Spec       struct {
			Groups []struct {
				Name  string `yaml:"name"`
				Rules []struct {
					Alert string `yaml:"alert"`
					Expr  string `yaml:"expr"`
				} `yaml:"rules"`
			} `yaml:"groups"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(data, &pr); err != nil {
		t.Fatalf("prometheusrule.yaml: %v", err)
	}
	if pr.APIVersion != "monitoring.coreos.com/v1" || pr.Kind != "PrometheusRule" {
		t.Errorf("prometheusrule.yaml: %s %s, want monitoring.coreos.com/v1 PrometheusRule", pr.APIVersion, pr.Kind)
	}
	var raw struct {
		Spec yaml.Node `yaml:"spec"`
	}
	if err := yaml.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	spec, err = yaml.Marshal(&raw.Spec)
	if err != nil {
		t.Fatal(err)
	}
	exprs = map[string]string{}
	for _, g := range pr.Spec.Groups {
		for _, r := range g.Rules {
			exprs["alert "+r.Alert] = r.Expr
		}
	}
	return spec, exprs
}

// TestObservabilityMatchesMetrics starts vbproxy over the simulated cluster,
// sends traffic, and checks every metric and label the dashboard and the
// alerts use against its /metrics; then promtool lints that exposition.
func TestObservabilityMatchesMetrics(t *testing.T) {
	c := startSim(t, sim.Options{Nodes: 3})
	cfg, sec := testConfig(t, c)
	r := startApp(t, cfg, sec)
	waitFor(t, "readyz 200", func() bool { code, _, _ := httpDo(t, "GET", r.admin+"/readyz"); return code == 200 })
	setGet(t, r.proxy, 20)
	_, _, text := httpDo(t, "GET", r.admin+"/metrics")
	exposed := exposedLabels(t, text)

	all := dashboardExprs(t)
	if len(all) < 20 {
		t.Errorf("dashboard: %d queries, want the panels of the README (at least 20)", len(all))
	}
	_, rules := ruleGroups(t)
	for _, a := range []string{"VbproxyNoMap", "VbproxyNodeDown", "VbproxyErrorRatio", "VbproxyNMVBStorm"} {
		if _, ok := rules["alert "+a]; !ok {
			t.Errorf("prometheusrule.yaml: no alert %s", a)
		}
	}
	for k, v := range rules {
		all[k] = v
	}
	keys := make([]string, 0, len(all))
	for k := range all {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		checkExpr(t, k, all[k], exposed)
	}

	promtool := lookPromtool(t)
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// TestPromqlRefs pins the scanner on the shapes the dashboards use.
func TestPromqlRefs(t *testing.T) {
	refs, grouping := promqlRefs(`sum by (node, kind) (rate(vbproxy_upstream_errors_total{job=~"$job",bucket=~"a,b}"}[$__rate_interval])) / ignoring (status) group_left sum(vbproxy_requests_total)`)
	got, _ := json.Marshal(map[string]any{"refs": len(refs), "m0": refs[0].metric, "l0": refs[0].labels, "m1": refs[1].metric, "g": grouping})
	want := `{"g":["node","kind","status"],"l0":["job","bucket"],"m0":"vbproxy_upstream_errors_total","m1":"vbproxy_requests_total","refs":2}`
	if string(got) != want {
		t.Errorf("promqlRefs:\n got %s\nwant %s", got, want)
	}
	refs, grouping = promqlRefs(`label_values(vbproxy_build_info{job=~"$job"}, instance)`)
	if len(refs) != 1 || refs[0].metric != "vbproxy_build_info" || len(grouping) != 1 || grouping[0] != "instance" {
		t.Errorf("label_values: refs %v grouping %v", refs, grouping)
	}
}

// TestPrometheusRules runs promtool check rules and promtool test rules
// (deploy/observability/rules_test.yaml) on the PrometheusRule's groups.
func TestPrometheusRules(t *testing.T) {
	promtool := lookPromtool(t)
	spec, _ := ruleGroups(t)
	dir := t.TempDir()
	rules := filepath.Join(dir, "vbproxy-rules.yaml")
	if err := os.WriteFile(rules, spec, 0o644); err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile(filepath.Join(observabilityDir, "rules_test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules_test.yaml"), tests, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"check", "rules", rules}, {"test", "rules", filepath.Join(dir, "rules_test.yaml")}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// lookPromtool finds promtool (Debian package prometheus, installed by
// .ci/run).
func lookPromtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool not found (apt-get install prometheus; .ci/run installs it): %v", err)
	}
	return p
}
