package monitor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/fraudstream/fraudstream/operators/features"
	"github.com/fraudstream/fraudstream/schemas"
)

// goldenStream returns n feature vectors and scores cycling through the
// default bundle's golden rows, each value perturbed (some set missing) by
// a seeded RNG, so that every bin sees traffic.
func goldenStream(tb testing.TB, n int, seed uint64) ([][]float64, []float64) {
	b := loadDefaultBundle(tb)
	rng := rand.New(rand.NewPCG(seed, 99))
	vecs, scores := make([][]float64, n), make([]float64, n)
	for i := range n {
		g := b.Meta.Golden[i%len(b.Meta.Golden)]
		v := make([]float64, len(g.Features))
		for j, x := range g.Features {
			switch {
			case rng.Float64() < 0.05:
				v[j] = math.NaN()
			case math.IsNaN(x):
				v[j] = x
			default:
				v[j] = x * (0.5 + rng.Float64())
			}
		}
		vecs[i], scores[i] = v, min(1, g.Score*(0.5+rng.Float64()))
	}
	return vecs, scores
}

func randomOutcome(rng *rand.Rand, i int) Outcome {
	score := sigmoid(-6 + 3*rng.NormFloat64())
	o := Outcome{ModelVersion: fmt.Sprintf("v%d", i%3), Score: score, Threshold: 0.3, Action: schemas.ActionApprove, Propensity: 1,
		IsFraud: rng.Float64() < score, EventTimeMillis: int64(i) * 60_000}
	o.LabelTimeMillis = o.EventTimeMillis + int64(rng.ExpFloat64()*float64(5*day))
	if score >= o.Threshold {
		o.Flagged = true
		if rng.Float64() < 0.1 {
			o.Explored, o.Propensity = true, 0.1
		} else {
			o.Action, o.Propensity = schemas.ActionDecline, 0.9
		}
	}
	return o
}

// The same inputs give the same snapshots, bit for bit (%#v prints each
// float64 in its shortest exact form; NaN payloads aside).
func TestDeterminism(t *testing.T) {
	vecs, scores := goldenStream(t, 30_000, 1)
	b := loadDefaultBundle(t)
	drift := func(skip int) string {
		d, err := NewDrift(b.Meta.Baseline, features.Names(), DriftConfig{Window: CountWindow{Events: 20_000, SubWindows: 10}})
		if err != nil {
			t.Fatal(err)
		}
		for i := skip; i < len(vecs); i++ {
			d.Observe(vecs[i], scores[i])
		}
		return fmt.Sprintf("%#v", d.Snapshot())
	}
	perf := func(n int) string {
		p, _ := NewPerformance(PerformanceConfig{})
		rng := rand.New(rand.NewPCG(5, 6))
		for i := range n {
			o := randomOutcome(rng, i)
			_ = p.Observe(&o)
			_ = p.ObserveDecision(o.ModelVersion, o.EventTimeMillis, o.Flagged, o.Action == schemas.ActionDecline)
		}
		return fmt.Sprintf("%#v", p.Snapshot())
	}
	if a, b := drift(0), drift(0); a != b {
		t.Errorf("two drift runs differ:\n%s\n%s", a, b)
	}
	if a, b := perf(50_000), perf(50_000); a != b {
		t.Errorf("two performance runs differ:\n%s\n%s", a, b)
	}
	// The comparison can fail: different inputs, different snapshots.
	if drift(0) == drift(1) || perf(50_000) == perf(49_999) {
		t.Error("snapshots of different inputs are equal: the comparison is blind")
	}
}

func TestObserveDoesNotAllocate(t *testing.T) {
	vecs, scores := goldenStream(t, 1000, 2)
	b := loadDefaultBundle(t)
	// A small window, so that sub-windows rotate during the measurement.
	d, err := NewDrift(b.Meta.Baseline, features.Names(), DriftConfig{Window: CountWindow{Events: 100, SubWindows: 10}})
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	if a := testing.AllocsPerRun(5000, func() {
		d.Observe(vecs[i%len(vecs)], scores[i%len(vecs)])
		i++
	}); a != 0 {
		t.Errorf("Drift.Observe: %v allocations per call, want 0", a)
	}

	r, _ := NewNullRates(InputFields(), CountWindow{Events: 100, SubWindows: 10})
	country := "FR"
	tx := schemas.Transaction{Country: &country}
	nulls := make([]bool, 0, 4)
	if a := testing.AllocsPerRun(5000, func() {
		nulls = InputNulls(nulls, &tx)
		r.Observe(nulls)
	}); a != 0 {
		t.Errorf("NullRates.Observe: %v allocations per call, want 0", a)
	}

	p, _ := NewPerformance(PerformanceConfig{WindowMillis: 3 * day, SubWindows: 3})
	rng := rand.New(rand.NewPCG(1, 1))
	outs := make([]Outcome, 10_000)
	for i := range outs {
		outs[i] = randomOutcome(rng, i) // 3 versions, label times over ~7 days: slots are reused
		outs[i].LabelTimeMillis = outs[i].EventTimeMillis
	}
	for i := range 3 { // the versions' first outcomes allocate their state
		_ = p.Observe(&outs[i])
	}
	j := 3
	if a := testing.AllocsPerRun(5000, func() {
		o := &outs[j%len(outs)]
		if err := p.Observe(o); err != nil {
			t.Fatal(err)
		}
		if err := p.ObserveDecision(o.ModelVersion, o.EventTimeMillis, o.Flagged, false); err != nil {
			t.Fatal(err)
		}
		j++
	}); a != 0 {
		t.Errorf("Performance.Observe + ObserveDecision: %v allocations per call, want 0", a)
	}
}
