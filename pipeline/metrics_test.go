package pipeline

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

// Every metric the pipeline registers passes promlint (naming, units,
// _total counters, help text).
func TestMetricsPassPromlint(t *testing.T) {
	m := NewMetrics()
	if _, err := NewMonitoring(m.Registry); err != nil {
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
