package monitor

import (
	"math/rand/v2"
	"testing"

	"github.com/fraudstream/fraudstream/operators/features"
	"github.com/fraudstream/fraudstream/schemas"
)

// BenchmarkDriftObserve: one event of the default bundle's 22 features and
// score into the default window (100,000 events in 10 sub-windows).
func BenchmarkDriftObserve(b *testing.B) {
	vecs, scores := goldenStream(b, 4096, 1)
	bundle := loadDefaultBundle(b)
	d, err := NewDrift(bundle.Meta.Baseline, features.Names(), DriftConfig{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		d.Observe(vecs[i&4095], scores[i&4095])
		i++
	}
}

func BenchmarkDriftSnapshot(b *testing.B) {
	vecs, scores := goldenStream(b, 4096, 1)
	bundle := loadDefaultBundle(b)
	d, _ := NewDrift(bundle.Meta.Baseline, features.Names(), DriftConfig{})
	for i := range 200_000 {
		d.Observe(vecs[i&4095], scores[i&4095])
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = d.Snapshot()
	}
}

func BenchmarkNullRatesObserve(b *testing.B) {
	r, _ := NewNullRates(InputFields(), CountWindow{})
	country := "FR"
	tx := schemas.Transaction{Country: &country}
	nulls := make([]bool, 0, 4)
	b.ReportAllocs()
	for b.Loop() {
		nulls = InputNulls(nulls, &tx)
		r.Observe(nulls)
	}
}

// BenchmarkPerformanceObserve: one labelled outcome (3 model versions, label
// times over the default 30-day window).
func BenchmarkPerformanceObserve(b *testing.B) {
	p, _ := NewPerformance(PerformanceConfig{})
	rng := rand.New(rand.NewPCG(1, 1))
	outs := make([]Outcome, 4096)
	for i := range outs {
		outs[i] = randomOutcome(rng, i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_ = p.Observe(&outs[i&4095])
		i++
	}
}

func BenchmarkPerformanceSnapshot(b *testing.B) {
	p, _ := NewPerformance(PerformanceConfig{})
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range 200_000 {
		o := randomOutcome(rng, i)
		_ = p.Observe(&o)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = p.Snapshot()
	}
}
