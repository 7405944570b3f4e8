package pipeline

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

// Every metric the pipeline registers passes promlint (naming, units,
// _total counters, help text).
func TestMetricsPassPromlint(t *testing.T) {
	m := NewMetrics()
	if _, err := NewMonitoring(m); err != nil {
		t.Fatal(err)
	}
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

func TestMetricNames(t *testing.T) {
	names := MetricNames()
	have := map[string]bool{}
	for _, n := range names {
		have[n] = true
	}
	for _, want := range []string{"fraudstream_decisions_total", "fraudstream_feature_psi", "fraudstream_model_precision",
		"fraudstream_consumer_lag_records", "fraudstream_processing_latency_seconds"} {
		if !have[want] {
			t.Errorf("MetricNames lacks %s (got %d names)", want, len(names))
		}
	}
}
