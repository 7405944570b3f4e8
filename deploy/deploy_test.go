// Package deploy holds no code: its tests check the deployment artefacts
// beside them, so that a renamed metric, an alert without a runbook, a broken
// rule or a wrong probe fails `go test ./...` instead of a rollout or a page.
//
//   - prometheus/rules.yml, prometheus/alerts.yml: every fraudstream_* metric
//     they use is one the pipeline exports; every alert has for, severity,
//     summary and description; `promtool check rules` and `promtool test
//     rules prometheus/alerts_test.yml` pass (promtool is required when CI is
//     set: apt-get install -y prometheus).
//   - grafana/fraudstream.json: same metric check, and the dashboard's shape.
//   - kubernetes/*.yaml: probes, graceful stop, state volume, and the
//     ConfigMap's config.yaml loads and validates with the pipeline's loader.
package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/fraudstream/fraudstream/operators/validate"
	"github.com/fraudstream/fraudstream/pipeline"
)

// knownMetrics mirrors the metrics the pipeline exports (pipeline/metrics.go)
// or is adding, with their type. TODO(lead): build this from the live
// registry (pipeline.NewMetrics().Registry.Gather()) once every metric below
// is registered there.
var knownMetrics = map[string]string{
	// exported today
	"fraudstream_records_consumed_total":             "counter",   // topic
	"fraudstream_decisions_total":                    "counter",   // action
	"fraudstream_explored_total":                     "counter",   //
	"fraudstream_dlq_records_total":                  "counter",   // reason
	"fraudstream_late_events_total":                  "counter",   //
	"fraudstream_processing_latency_seconds":         "histogram", //
	"fraudstream_end_to_end_latency_seconds":         "histogram", //
	"fraudstream_score":                              "histogram", // model_version
	"fraudstream_batch_records":                      "histogram", //
	"fraudstream_kafka_transactions_committed_total": "counter",   //
	"fraudstream_kafka_transactions_aborted_total":   "counter",   //
	"fraudstream_state_cards_cached":                 "gauge",     //
	"fraudstream_state_card_loads_total":             "counter",   //
	"fraudstream_partitions_owned":                   "gauge",     //
	"fraudstream_rebalance_events_total":             "counter",   // kind
	"fraudstream_model_info":                         "gauge",     // model_version, feature_set
	// being added (monitoring, label join, lag, restore, reload)
	"fraudstream_feature_psi":                     "gauge",     // feature
	"fraudstream_feature_ks":                      "gauge",     // feature
	"fraudstream_feature_ks_pvalue":               "gauge",     // feature
	"fraudstream_feature_null_rate":               "gauge",     // feature
	"fraudstream_input_null_rate":                 "gauge",     // field
	"fraudstream_score_psi":                       "gauge",     // model_version
	"fraudstream_score_mean_shift_sigmas":         "gauge",     // model_version
	"fraudstream_score_variance_ratio":            "gauge",     // model_version
	"fraudstream_model_precision":                 "gauge",     // model_version, estimator
	"fraudstream_model_recall":                    "gauge",     // model_version, estimator
	"fraudstream_model_false_positive_rate":       "gauge",     // model_version, estimator
	"fraudstream_model_pr_auc":                    "gauge",     // model_version, estimator
	"fraudstream_model_roc_auc":                   "gauge",     // model_version, estimator
	"fraudstream_model_baseline_pr_auc":           "gauge",     // model_version
	"fraudstream_model_baseline_recall":           "gauge",     // model_version
	"fraudstream_model_decline_rate":              "gauge",     // model_version
	"fraudstream_label_delay_seconds":             "histogram", //
	"fraudstream_label_coverage_ratio":            "gauge",     // model_version
	"fraudstream_labels_total":                    "counter",   // result
	"fraudstream_outcomes_total":                  "counter",   //
	"fraudstream_decisions_expired_total":         "counter",   // presumed
	"fraudstream_consumer_lag_records":            "gauge",     // partition
	"fraudstream_state_restores_total":            "counter",   //
	"fraudstream_state_restore_records_total":     "counter",   //
	"fraudstream_state_restore_failures_total":    "counter",   //
	"fraudstream_state_restore_remaining_records": "gauge",     // partition
	"fraudstream_state_restoring_partitions":      "gauge",     //
	"fraudstream_model_reloads_total":             "counter",   // result
	"fraudstream_model_reload_failed":             "gauge",     //
	// registered in the working tree but not in the brief's list (not used
	// by rules or panels yet)
	"fraudstream_state_partitions_dropped_total": "counter",   //
	"fraudstream_state_restore_duration_seconds": "histogram", //
}

// knownLabelValues are the bounded label values that rules and panels may
// select on.
var knownLabelValues = map[string][]string{
	"reason":    validate.AllReasons,
	"action":    {"approve", "decline", "review"},
	"estimator": {"naive", "ipw"},
	"kind":      {"assigned", "revoked", "lost"},
	"result":    {"joined", "duplicate", "contradicting", "waiting", "expired_unmatched", "malformed", "ok", "rejected"},
}

// checklist maps each row of the design's monitoring checklist to the
// alerts that implement it: none may disappear.
var checklist = map[string][]string{
	"input data quality: schema violation": {"FraudstreamSchemaViolations"},
	"input data quality: null rate":        {"FraudstreamInputNullRateHigh"},
	"feature drift: PSI > 0.2":             {"FraudstreamFeatureDriftPSI"},
	"feature drift: KS p < 0.001":          {"FraudstreamFeatureDriftKS"},
	"prediction drift: mean/variance":      {"FraudstreamPredictionMeanShift", "FraudstreamPredictionVarianceShift"},
	"model performance: drop > 5%":         {"FraudstreamModelPRAUCDrop", "FraudstreamModelRecallDrop"},
	"latency: P99 > SLA":                   {"FraudstreamProcessingLatencyP99High"},
	"throughput: drop > 20%":               {"FraudstreamThroughputDrop"},
}

var (
	metricToken    = regexp.MustCompile(`fraudstream_[a-z0-9_]+`)
	recordingToken = regexp.MustCompile(`fraudstream:[a-zA-Z0-9_:]+`)
	labelMatcher   = regexp.MustCompile(`\b([a-z_]+)\s*(=~|!~|!=|=)\s*"([^"$]*)"`)
)

// ---------------------------------------------------------------------------
// Prometheus rules

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	} `yaml:"groups"`
}

type rule struct {
	Record      string            `yaml:"record"`
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

func loadYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func loadRules(t *testing.T) (records, alerts []rule) {
	t.Helper()
	for _, f := range []string{"prometheus/rules.yml", "prometheus/alerts.yml"} {
		var rf ruleFile
		loadYAML(t, f, &rf)
		if len(rf.Groups) == 0 {
			t.Fatalf("%s: no rule groups", f)
		}
		for _, g := range rf.Groups {
			for _, r := range g.Rules {
				if r.Record != "" {
					records = append(records, r)
				} else {
					alerts = append(alerts, r)
				}
			}
		}
	}
	return records, alerts
}

// checkMetricNames reports every fraudstream_* token of text that is not a
// known metric (histogram series suffixes stripped), and every fraudstream:*
// recording-rule name that rules.yml does not record.
func checkMetricNames(t *testing.T, where, text string, recorded map[string]bool) {
	t.Helper()
	for _, tok := range metricToken.FindAllString(text, -1) {
		if _, ok := knownMetrics[tok]; ok {
			continue
		}
		base := tok
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(tok, suf); ok && knownMetrics[b] == "histogram" {
				base = b
			}
		}
		if _, ok := knownMetrics[base]; !ok {
			t.Errorf("%s: unknown metric %q (not exported by the pipeline; see knownMetrics)", where, tok)
		}
	}
	for _, tok := range recordingToken.FindAllString(text, -1) {
		if !recorded[tok] {
			t.Errorf("%s: recording rule %q is not defined in prometheus/rules.yml", where, tok)
		}
	}
}

// checkLabelValues reports selectors on bounded labels whose values the
// pipeline never exports (e.g. a misspelt DLQ reason).
func checkLabelValues(t *testing.T, where, expr string) {
	t.Helper()
	for _, m := range labelMatcher.FindAllStringSubmatch(expr, -1) {
		allowed, ok := knownLabelValues[m[1]]
		if !ok {
			continue
		}
		for _, v := range strings.Split(m[3], "|") {
			if !slices.Contains(allowed, v) {
				t.Errorf("%s: %s%s%q: %q is not a value of label %s (known: %v)", where, m[1], m[2], m[3], v, m[1], allowed)
			}
		}
	}
}

func recordedNames(records []rule) map[string]bool {
	m := map[string]bool{}
	for _, r := range records {
		m[r.Record] = true
	}
	return m
}

func TestRulesUseKnownMetrics(t *testing.T) {
	records, alerts := loadRules(t)
	recorded := recordedNames(records)
	for _, r := range append(records, alerts...) {
		name := r.Record + r.Alert
		// up{job=~".*fraudstream.*"} is Prometheus' own health of the pods.
		if !metricToken.MatchString(r.Expr) && !recordingToken.MatchString(r.Expr) && !strings.Contains(r.Expr, `up{job=~".*fraudstream.*"}`) {
			t.Errorf("%s: expr uses no fraudstream metric: %s", name, r.Expr)
		}
		checkMetricNames(t, name, r.Expr, recorded)
		checkLabelValues(t, name, r.Expr)
		for k, v := range r.Annotations {
			checkMetricNames(t, name+" annotation "+k, v, recorded)
		}
	}
}

func TestAlertsAreActionable(t *testing.T) {
	_, alerts := loadRules(t)
	seen := map[string]bool{}
	for _, a := range alerts {
		if a.Alert == "" {
			t.Errorf("rule without alert or record name: %q", a.Expr)
			continue
		}
		if seen[a.Alert] {
			t.Errorf("%s: defined twice", a.Alert)
		}
		seen[a.Alert] = true
		if a.For == "" {
			t.Errorf("%s: no for: (a single bad scrape would page)", a.Alert)
		}
		if s := a.Labels["severity"]; s != "critical" && s != "warning" && s != "info" {
			t.Errorf("%s: severity label %q, want critical, warning or info", a.Alert, s)
		}
		if len(strings.TrimSpace(a.Annotations["summary"])) < 20 {
			t.Errorf("%s: missing or too short annotations.summary", a.Alert)
		}
		if len(strings.TrimSpace(a.Annotations["description"])) < 80 {
			t.Errorf("%s: missing or too short annotations.description (say what it means and what to check first)", a.Alert)
		}
	}
	for row, names := range checklist {
		for _, n := range names {
			if !seen[n] {
				t.Errorf("monitoring checklist row %q: alert %s is missing", row, n)
			}
		}
	}
	// The schema-violation alert counts exactly the schema reasons.
	for _, a := range alerts {
		if a.Alert != "FraudstreamSchemaViolations" {
			continue
		}
		want := validate.ReasonDecode + "|" + validate.ReasonUnknownSchema + "|" + validate.ReasonMissingField
		if !strings.Contains(a.Expr, `reason=~"`+want+`"`) {
			t.Errorf("FraudstreamSchemaViolations must select reason=~%q: %s", want, a.Expr)
		}
	}
}

// TestAlertsAreUnitTested checks that alerts_test.yml makes every alert fire
// in one case and stay silent in another.
func TestAlertsAreUnitTested(t *testing.T) {
	_, alerts := loadRules(t)
	var tf struct {
		RuleFiles      []string `yaml:"rule_files"`
		GroupEvalOrder []string `yaml:"group_eval_order"`
		Tests          []struct {
			Name          string `yaml:"name"`
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []struct {
					ExpLabels      map[string]string `yaml:"exp_labels"`
					ExpAnnotations map[string]string `yaml:"exp_annotations"`
				} `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	loadYAML(t, "prometheus/alerts_test.yml", &tf)
	for _, f := range []string{"rules.yml", "alerts.yml"} {
		if !slices.Contains(tf.RuleFiles, f) {
			t.Errorf("alerts_test.yml: rule_files must include %s", f)
		}
	}
	if len(tf.GroupEvalOrder) == 0 || tf.GroupEvalOrder[0] != "fraudstream-recording" {
		t.Errorf("alerts_test.yml: group_eval_order must start with fraudstream-recording (else the test is flaky)")
	}
	fires, silent := map[string]bool{}, map[string]bool{}
	for _, tc := range tf.Tests {
		for _, at := range tc.AlertRuleTest {
			if len(at.ExpAlerts) == 0 {
				silent[at.Alertname] = true
			} else {
				fires[at.Alertname] = true
			}
		}
	}
	for _, a := range alerts {
		if !fires[a.Alert] {
			t.Errorf("alerts_test.yml: no case in which %s fires", a.Alert)
		}
		if !silent[a.Alert] {
			t.Errorf("alerts_test.yml: no case in which %s stays silent", a.Alert)
		}
	}
}

// promtool returns the path of promtool, skipping the test without it —
// except in CI, where a missing promtool is a failure, never a silent skip.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("promtool is not on PATH but CI is set: install it (Debian: apt-get install -y prometheus) so that the alert rules are checked and unit-tested")
		}
		t.Skip("promtool not on PATH: skipping promtool check/test rules (Debian: apt-get install -y prometheus)")
	}
	return p
}

func TestPromtool(t *testing.T) {
	bin := promtool(t)
	for _, args := range [][]string{
		{"check", "rules", "prometheus/rules.yml", "prometheus/alerts.yml"},
		{"test", "rules", "prometheus/alerts_test.yml"},
	} {
		t.Run(strings.Join(args[:2], "_"), func(t *testing.T) {
			t.Parallel()
			out, err := exec.Command(bin, args...).CombinedOutput()
			if err != nil {
				t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			t.Logf("promtool %s:\n%s", strings.Join(args, " "), bytes.TrimSpace(out))
		})
	}
}

// ---------------------------------------------------------------------------
// Grafana

type panel struct {
	ID         int            `json:"id"`
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Datasource map[string]any `json:"datasource"`
	Targets    []struct {
		Expr       string         `json:"expr"`
		Datasource map[string]any `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // collapsed rows
}

func TestGrafanaDashboard(t *testing.T) {
	b, err := os.ReadFile("grafana/fraudstream.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID           string  `json:"uid"`
		Title         string  `json:"title"`
		SchemaVersion int     `json:"schemaVersion"`
		Panels        []panel `json:"panels"`
		Templating    struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("grafana/fraudstream.json: %v", err)
	}
	if d.SchemaVersion < 36 {
		t.Errorf("schemaVersion %d, want >= 36", d.SchemaVersion)
	}
	if d.UID == "" || d.Title == "" {
		t.Errorf("dashboard needs uid and title")
	}
	hasDS := false
	for _, v := range d.Templating.List {
		if v.Type == "datasource" && v.Query == "prometheus" && v.Name == "datasource" {
			hasDS = true
		}
	}
	if !hasDS {
		t.Errorf("templating needs a Prometheus data source variable named datasource")
	}

	// Every string of the dashboard (queries, variables, descriptions) may
	// name only known metrics and recording rules.
	records, _ := loadRules(t)
	recorded := recordedNames(records)
	var all any
	_ = json.Unmarshal(b, &all)
	walkStrings(all, func(s string) { checkMetricNames(t, "grafana", s, recorded) })

	wantRows := []string{"Throughput & latency", "Decisions & exploration", "Data quality", "Drift", "Model performance", "State & Kafka"}
	var rows []string
	ids := map[int]bool{}
	var check func(ps []panel)
	check = func(ps []panel) {
		for _, p := range ps {
			if ids[p.ID] {
				t.Errorf("panel id %d used twice", p.ID)
			}
			ids[p.ID] = true
			if p.Type == "row" {
				rows = append(rows, p.Title)
				check(p.Panels)
				continue
			}
			if uid, _ := p.Datasource["uid"].(string); uid != "${datasource}" {
				t.Errorf("panel %q: datasource uid %q, want ${datasource}", p.Title, uid)
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q: no queries", p.Title)
			}
			used := false
			for _, tg := range p.Targets {
				if metricToken.MatchString(tg.Expr) || recordingToken.MatchString(tg.Expr) {
					used = true
				}
				checkLabelValues(t, "grafana panel "+p.Title, tg.Expr)
			}
			if !used {
				t.Errorf("panel %q queries no fraudstream metric", p.Title)
			}
		}
	}
	check(d.Panels)
	for _, r := range wantRows {
		if !slices.Contains(rows, r) {
			t.Errorf("dashboard has no row %q (rows: %v)", r, rows)
		}
	}
}

func walkStrings(v any, f func(string)) {
	switch v := v.(type) {
	case string:
		f(v)
	case []any:
		for _, e := range v {
			walkStrings(e, f)
		}
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			walkStrings(v[k], f)
		}
	}
}

// ---------------------------------------------------------------------------
// Kubernetes

type manifest struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name      string            `yaml:"name"`
		Namespace string            `yaml:"namespace"`
		Labels    map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Data map[string]string `yaml:"data"` // ConfigMap
	Spec yaml.Node         `yaml:"spec"`
}

type probe struct {
	HTTPGet *struct {
		Path string    `yaml:"path"`
		Port yaml.Node `yaml:"port"`
	} `yaml:"httpGet"`
	PeriodSeconds    int `yaml:"periodSeconds"`
	FailureThreshold int `yaml:"failureThreshold"`
}

type statefulSetSpec struct {
	Replicas    int    `yaml:"replicas"`
	ServiceName string `yaml:"serviceName"`
	Selector    struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	} `yaml:"selector"`
	Template struct {
		Metadata struct {
			Labels map[string]string `yaml:"labels"`
		} `yaml:"metadata"`
		Spec struct {
			TerminationGracePeriodSeconds *int `yaml:"terminationGracePeriodSeconds"`
			SecurityContext               struct {
				RunAsNonRoot *bool `yaml:"runAsNonRoot"`
				RunAsUser    *int  `yaml:"runAsUser"`
			} `yaml:"securityContext"`
			Containers []struct {
				Name  string   `yaml:"name"`
				Image string   `yaml:"image"`
				Args  []string `yaml:"args"`
				Env   []struct {
					Name      string `yaml:"name"`
					ValueFrom *struct {
						FieldRef *struct {
							FieldPath string `yaml:"fieldPath"`
						} `yaml:"fieldRef"`
						ConfigMapKeyRef *struct {
							Name string `yaml:"name"`
							Key  string `yaml:"key"`
						} `yaml:"configMapKeyRef"`
					} `yaml:"valueFrom"`
				} `yaml:"env"`
				Ports []struct {
					Name          string `yaml:"name"`
					ContainerPort int    `yaml:"containerPort"`
				} `yaml:"ports"`
				ReadinessProbe *probe `yaml:"readinessProbe"`
				LivenessProbe  *probe `yaml:"livenessProbe"`
				StartupProbe   *probe `yaml:"startupProbe"`
				Lifecycle      struct {
					PreStop map[string]any `yaml:"preStop"`
				} `yaml:"lifecycle"`
				Resources struct {
					Requests map[string]string `yaml:"requests"`
					Limits   map[string]string `yaml:"limits"`
				} `yaml:"resources"`
				SecurityContext struct {
					AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
				} `yaml:"securityContext"`
				VolumeMounts []struct {
					Name      string `yaml:"name"`
					MountPath string `yaml:"mountPath"`
				} `yaml:"volumeMounts"`
			} `yaml:"containers"`
			Volumes []struct {
				Name      string `yaml:"name"`
				ConfigMap *struct {
					Name string `yaml:"name"`
				} `yaml:"configMap"`
			} `yaml:"volumes"`
		} `yaml:"spec"`
	} `yaml:"template"`
	VolumeClaimTemplates []struct {
		Metadata struct {
			Name string `yaml:"name"`
		} `yaml:"metadata"`
	} `yaml:"volumeClaimTemplates"`
}

func loadManifests(t *testing.T) map[string]manifest {
	t.Helper()
	files, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in kubernetes/: %v", err)
	}
	byKind := map[string]manifest{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var m manifest
			if err := dec.Decode(&m); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if m.Kind == "" {
				t.Errorf("%s: document without kind", f)
				continue
			}
			if m.Metadata.Namespace != "" {
				t.Errorf("%s: %s %s sets metadata.namespace; manifests must be namespace-agnostic", f, m.Kind, m.Metadata.Name)
			}
			if _, dup := byKind[m.Kind]; dup {
				t.Errorf("%s: a second %s", f, m.Kind)
			}
			byKind[m.Kind] = m
		}
	}
	for _, k := range []string{"StatefulSet", "ConfigMap", "Service", "PodDisruptionBudget", "PodMonitor", "Kustomization"} {
		if _, ok := byKind[k]; !ok {
			t.Errorf("kubernetes/: no %s manifest", k)
		}
	}
	return byKind
}

func TestKubernetesStatefulSet(t *testing.T) {
	ms := loadManifests(t)
	m, ok := ms["StatefulSet"]
	if !ok {
		t.Fatal("no StatefulSet")
	}
	var sts statefulSetSpec
	if err := m.Spec.Decode(&sts); err != nil {
		t.Fatal(err)
	}
	pod := sts.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("want 1 container, got %d", len(pod.Containers))
	}
	c := pod.Containers[0]

	metricsPort := 0
	for _, p := range c.Ports {
		if p.Name == "metrics" {
			metricsPort = p.ContainerPort
		}
	}
	if metricsPort == 0 {
		t.Fatalf("container has no port named metrics")
	}
	checkProbe := func(name string, p *probe, path string) {
		t.Helper()
		if p == nil || p.HTTPGet == nil {
			t.Errorf("%s: want an httpGet probe on %s", name, path)
			return
		}
		if p.HTTPGet.Path != path {
			t.Errorf("%s: path %q, want %q", name, p.HTTPGet.Path, path)
		}
		if port := p.HTTPGet.Port.Value; port != "metrics" && port != strconv.Itoa(metricsPort) {
			t.Errorf("%s: port %q, want the metrics port (metrics or %d)", name, port, metricsPort)
		}
	}
	checkProbe("readinessProbe", c.ReadinessProbe, "/readyz")
	checkProbe("livenessProbe", c.LivenessProbe, "/healthz")
	if c.StartupProbe != nil {
		checkProbe("startupProbe", c.StartupProbe, "/healthz")
	}
	if c.LivenessProbe != nil && c.LivenessProbe.PeriodSeconds*max(c.LivenessProbe.FailureThreshold, 1) < 60 {
		t.Errorf("livenessProbe restarts a pod after %ds of failures: too eager for changelog restores (want >= 60s)",
			c.LivenessProbe.PeriodSeconds*c.LivenessProbe.FailureThreshold)
	}

	if g := pod.TerminationGracePeriodSeconds; g == nil || *g < 60 {
		got := "unset (30)"
		if g != nil {
			got = strconv.Itoa(*g)
		}
		t.Errorf("terminationGracePeriodSeconds %s, want >= 60 (the bounded graceful stop plus preStop)", got)
	}
	if len(c.Lifecycle.PreStop) == 0 {
		t.Errorf("no preStop hook")
	}
	if rn := pod.SecurityContext.RunAsNonRoot; rn == nil || !*rn {
		t.Errorf("pod securityContext.runAsNonRoot must be true")
	}
	if u := pod.SecurityContext.RunAsUser; u != nil && *u == 0 {
		t.Errorf("pod securityContext.runAsUser is 0 (root)")
	}
	if ape := c.SecurityContext.AllowPrivilegeEscalation; ape == nil || *ape {
		t.Errorf("container securityContext.allowPrivilegeEscalation must be false")
	}
	if c.Resources.Requests["cpu"] == "" || c.Resources.Requests["memory"] == "" || c.Resources.Limits["memory"] == "" {
		t.Errorf("resources: want cpu and memory requests and a memory limit, got %+v", c.Resources)
	}

	// run --config <file> --instance-id $(POD_NAME), POD_NAME from the downward API.
	args := strings.Join(c.Args, " ")
	if !strings.HasPrefix(args, "run ") || !strings.Contains(args, "--instance-id $(POD_NAME)") {
		t.Errorf("args %q: want run ... --instance-id $(POD_NAME)", args)
	}
	configPath := ""
	for i, a := range c.Args {
		if a == "--config" && i+1 < len(c.Args) {
			configPath = c.Args[i+1]
		}
	}
	podName := false
	cmKeys := map[string]string{} // env name -> configmap key
	for _, e := range c.Env {
		if e.Name == "POD_NAME" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name" {
			podName = true
		}
		if e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil {
			cmKeys[e.Name] = e.ValueFrom.ConfigMapKeyRef.Key
		}
	}
	if !podName {
		t.Errorf("env POD_NAME must come from fieldRef metadata.name")
	}

	// The state volume comes from volumeClaimTemplates and is mounted.
	mounts := map[string]string{}
	for _, vm := range c.VolumeMounts {
		mounts[vm.Name] = vm.MountPath
	}
	if len(sts.VolumeClaimTemplates) == 0 {
		t.Fatalf("no volumeClaimTemplates (Pebble state)")
	}
	stateMount := mounts[sts.VolumeClaimTemplates[0].Metadata.Name]
	if stateMount == "" {
		t.Errorf("volumeClaimTemplate %q is not mounted", sts.VolumeClaimTemplates[0].Metadata.Name)
	}

	// Labels, Service and PDB agree.
	for k, v := range sts.Selector.MatchLabels {
		if sts.Template.Metadata.Labels[k] != v {
			t.Errorf("selector %s=%s does not match the pod template labels", k, v)
		}
	}
	svc := ms["Service"]
	var svcSpec struct {
		ClusterIP string            `yaml:"clusterIP"`
		Selector  map[string]string `yaml:"selector"`
		Ports     []struct {
			Name       string    `yaml:"name"`
			Port       int       `yaml:"port"`
			TargetPort yaml.Node `yaml:"targetPort"`
		} `yaml:"ports"`
	}
	if err := svc.Spec.Decode(&svcSpec); err != nil {
		t.Fatal(err)
	}
	if svc.Metadata.Name != sts.ServiceName || svcSpec.ClusterIP != "None" {
		t.Errorf("Service %q (clusterIP %q) must be the StatefulSet's headless serviceName %q", svc.Metadata.Name, svcSpec.ClusterIP, sts.ServiceName)
	}
	svcMetrics := false
	for _, p := range svcSpec.Ports {
		if p.Name == "metrics" && (p.TargetPort.Value == "metrics" || p.TargetPort.Value == strconv.Itoa(metricsPort)) {
			svcMetrics = true
		}
	}
	if !svcMetrics {
		t.Errorf("Service has no metrics port targeting the container's metrics port")
	}
	for k, v := range svcSpec.Selector {
		if sts.Template.Metadata.Labels[k] != v {
			t.Errorf("Service selector %s=%s does not select the pods", k, v)
		}
	}
	var pdbSpec struct {
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
	}
	pdb := ms["PodDisruptionBudget"]
	if err := pdb.Spec.Decode(&pdbSpec); err != nil {
		t.Fatal(err)
	}
	if len(pdbSpec.Selector.MatchLabels) == 0 {
		t.Errorf("PodDisruptionBudget has no selector")
	}
	for k, v := range pdbSpec.Selector.MatchLabels {
		if sts.Template.Metadata.Labels[k] != v {
			t.Errorf("PodDisruptionBudget selector %s=%s does not select the pods", k, v)
		}
	}

	// The ConfigMap is the one mounted at the --config path, and its
	// config.yaml is valid for the pipeline, with the metrics endpoint on
	// the probed port and the state on the volume.
	cm := ms["ConfigMap"]
	cmMounted := false
	for _, v := range pod.Volumes {
		if v.ConfigMap != nil && v.ConfigMap.Name == cm.Metadata.Name && filepath.Join(mounts[v.Name], "config.yaml") == configPath {
			cmMounted = true
		}
	}
	if !cmMounted {
		t.Errorf("ConfigMap %q is not mounted so that --config %s is its config.yaml", cm.Metadata.Name, configPath)
	}
	env := map[string]string{}
	for name, key := range cmKeys {
		v, ok := cm.Data[key]
		if !ok {
			t.Errorf("env %s refers to ConfigMap key %q, which does not exist", name, key)
		}
		env[name] = v
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(cm.Data["config.yaml"]), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := pipeline.LoadConfig(path)
	if err != nil {
		t.Fatalf("ConfigMap config.yaml: %v", err)
	}
	cfg.ApplyEnv(func(k string) string { return env[k] })
	cfg.InstanceID = "fraudstream-0"
	if err := cfg.Validate(); err != nil {
		t.Errorf("ConfigMap config.yaml (with the pod's env) does not validate:\n%v", err)
	}
	host, port, err := net.SplitHostPort(cfg.Metrics.Addr)
	if err != nil || host != "0.0.0.0" || port != strconv.Itoa(metricsPort) {
		t.Errorf("metrics.addr %q: want 0.0.0.0:%d (probes and Prometheus reach it from outside the pod)", cfg.Metrics.Addr, metricsPort)
	}
	if stateMount != "" && !strings.HasPrefix(filepath.Clean(cfg.State.Dir)+"/", filepath.Clean(stateMount)+"/") {
		t.Errorf("state.dir %q is not on the state volume mounted at %s", cfg.State.Dir, stateMount)
	}
}

// knownMetrics must mirror what the pipeline really registers: every name
// in it is registered by pipeline.MetricNames(), and every registered name
// is in it (so rules and panels are checked against the live registry).
func TestKnownMetricsAreTheRegistry(t *testing.T) {
	live := map[string]bool{}
	for _, n := range pipeline.MetricNames() {
		live[n] = true
		if _, ok := knownMetrics[n]; !ok {
			t.Errorf("the pipeline registers %s, missing from knownMetrics", n)
		}
	}
	for n := range knownMetrics {
		if !live[n] {
			t.Errorf("knownMetrics lists %s, which the pipeline does not register", n)
		}
	}
}
