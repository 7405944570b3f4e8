package monitor

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/fraudstream/fraudstream/models"
	"github.com/fraudstream/fraudstream/operators/features"
)

// fixtureBaseline: one feature "x" and the score.
//
//	x:     edges [0, 10, 20, 30, 40], fractions [0.4, 0.3, 0.2, 0.0], null 0.1, rows 1000
//	score: edges [0, 0.1, 0.5, 1],    fractions [0.5, 0.3, 0.2],      null 0,   rows 0 (unknown)
func fixtureBaseline() models.Baseline {
	return models.Baseline{
		Bins: 4,
		Features: []models.FeatureHistogram{{Name: "x", Histogram: models.Histogram{
			Rows: 1000, NullFraction: 0.1, Edges: []float64{0, 10, 20, 30, 40}, Fractions: []float64{0.4, 0.3, 0.2, 0.0},
		}}},
		Score: models.Histogram{Edges: []float64{0, 0.1, 0.5, 1}, Fractions: []float64{0.5, 0.3, 0.2}},
	}
}

// fixtureEvents: ten (x, score) pairs. x bins: 5→0, 15→1, 15→1, 25→2, 35→3,
// 35→3, NaN, NaN, 8→0, 12→1. Score bins: 0.05→0 (×2), 0.2→1 (×3), 0.6→2
// (×2), 0.9→2 (×3).
var fixtureEvents = []struct{ x, score float64 }{
	{5, 0.05}, {15, 0.05}, {15, 0.2}, {25, 0.2}, {35, 0.2},
	{35, 0.6}, {math.NaN(), 0.6}, {math.NaN(), 0.9}, {8, 0.9}, {12, 0.9},
}

func near(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if !(math.Abs(got-want) <= tol) {
		t.Errorf("%s = %.12g, want %.12g (±%g)", what, got, want, tol)
	}
}

func TestDriftFixture(t *testing.T) {
	d, err := NewDrift(fixtureBaseline(), []string{"x"}, DriftConfig{Window: CountWindow{Events: 10, SubWindows: 1}})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range fixtureEvents {
		d.Observe([]float64{e.x}, e.score)
	}
	s := d.Snapshot()
	if s.Events != 10 || s.Seen != 10 {
		t.Fatalf("Events, Seen = %d, %d; want 10, 10", s.Events, s.Seen)
	}
	x := s.Features[0]
	// Cells [null, b0, b1, b2, b3]: window counts [2, 2, 3, 1, 2] of 10, so
	// a = [0.2, 0.2, 0.3, 0.1, 0.2]; baseline e = [0.1, 0.4, 0.3, 0.2, 0 → 1e-4].
	// PSI = (0.2−0.1)·ln 2 + (0.2−0.4)·ln 0.5 + 0 + (0.1−0.2)·ln 0.5 + (0.2−0.0001)·ln 2000
	//     = 0.0693147 + 0.1386294 + 0.0693147 + 0.1999 × 7.6009025 = 1.7966793
	near(t, "x PSI", x.PSI, 1.7966792738864406, 1e-12)
	// KS on the finite values: baseline CDF at the inner edges = [0.4, 0.7,
	// 0.9]/0.9 = [0.4444, 0.7778, 1]; window (8 finite) = [2, 5, 6]/8 =
	// [0.25, 0.625, 0.75]; |differences| = [0.1944, 0.1528, 0.25] ⇒ D = 0.25.
	near(t, "x KS", x.KS, 0.25, 1e-15)
	// n_eff = 8·900/(8+900) = 7.929515 (900 = 1000 rows × 0.9 finite);
	// λ = (√7.929515 + 0.12 + 0.11/√7.929515)·0.25 = (2.8159395 + 0.12 +
	// 0.0390633)·0.25 = 0.7437507; Q_KS(λ) = 2Σ(−1)^{j−1}e^{−2j²λ²} = 0.6376952.
	near(t, "x KS p-value", x.KSPValue, 0.6376951747707791, 1e-12)
	near(t, "x null rate", x.NullRate, 0.2, 0)
	near(t, "x baseline null rate", x.BaselineNullRate, 0.1, 0)

	sc := s.Score
	// Score cells [null, b0, b1, b2]: a = [0, 0.2, 0.3, 0.5], e = [0, 0.5, 0.3, 0.2]
	// (the null cell is 1e-4 on both sides: 0). PSI = (0.2−0.5)·ln 0.4 +
	// (0.5−0.2)·ln 2.5 = 2 × 0.3 × 0.9162907 = 0.5497744.
	near(t, "score PSI", sc.PSI, 0.6*math.Log(2.5), 1e-12)
	// CDFs at 0.1 and 0.5: baseline [0.5, 0.8], window [0.2, 0.5] ⇒ D = 0.3.
	near(t, "score KS", sc.KS, 0.3, 1e-15)
	// Baseline rows unknown ⇒ n_eff = 10; λ = (3.1622777 + 0.12 + 0.0347851)·0.3.
	lambda := (math.Sqrt(10) + 0.12 + 0.11/math.Sqrt(10)) * 0.3
	near(t, "score KS p-value", sc.KSPValue, 2*(math.Exp(-2*lambda*lambda)-math.Exp(-8*lambda*lambda)+math.Exp(-18*lambda*lambda)-math.Exp(-32*lambda*lambda)), 1e-12)
	// Midpoints [0.05, 0.3, 0.75]: baseline mean = 0.5·0.05 + 0.3·0.3 + 0.2·0.75 = 0.265,
	// variance = 0.5·0.215² + 0.3·0.035² + 0.2·0.485² = 0.070525.
	if sc.BaselineSource != MomentsFromMidpoints {
		t.Errorf("BaselineSource = %q, want %q", sc.BaselineSource, MomentsFromMidpoints)
	}
	near(t, "baseline mean", sc.BaselineMean, 0.265, 1e-15)
	near(t, "baseline variance", sc.BaselineVariance, 0.070525, 1e-15)
	// Window binned: (2·0.05 + 3·0.3 + 5·0.75)/10 = 0.475; variance
	// (2·0.425² + 3·0.175² + 5·0.275²)/10 = 0.083125.
	near(t, "binned mean", sc.BinnedMean, 0.475, 1e-15)
	near(t, "binned variance", sc.BinnedVariance, 0.083125, 1e-15)
	// Exact: mean = 4.6/10 = 0.46; E[x²] = (2·0.0025 + 3·0.04 + 2·0.36 + 3·0.81)/10
	// = 0.3275; variance = 0.3275 − 0.46² = 0.1159.
	near(t, "mean", sc.Mean, 0.46, 1e-15)
	near(t, "variance", sc.Variance, 0.1159, 1e-15)
	// Shift (binned vs midpoint baseline) = 0.21/√0.070525 = 0.7907667;
	// variance ratio = 0.083125/0.070525 = 1.1786600.
	near(t, "mean shift", sc.MeanShiftSigmas, 0.21/math.Sqrt(0.070525), 1e-12)
	near(t, "variance ratio", sc.VarianceRatio, 0.083125/0.070525, 1e-12)

	// With exact baseline moments the exact window moments are compared:
	// |0.46 − 0.3|/0.2 = 0.8 and 0.1159/0.04 = 2.8975.
	d2, err := NewDrift(fixtureBaseline(), []string{"x"}, DriftConfig{
		Window: CountWindow{Events: 10, SubWindows: 1}, BaselineScoreMoments: &Moments{Mean: 0.3, Variance: 0.04},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range fixtureEvents {
		d2.Observe([]float64{e.x}, e.score)
	}
	sc2 := d2.Snapshot().Score
	if sc2.BaselineSource != MomentsFromConfig {
		t.Errorf("BaselineSource = %q, want %q", sc2.BaselineSource, MomentsFromConfig)
	}
	near(t, "mean shift (config)", sc2.MeanShiftSigmas, 0.8, 1e-12)
	near(t, "variance ratio (config)", sc2.VarianceRatio, 2.8975, 1e-12)
}

func TestKolmogorovQ(t *testing.T) {
	// Tabulated Kolmogorov distribution: the 5%, 1% and 0.1% critical values
	// 1.3581, 1.6276, 1.9495, and Q(0.5) = 0.9639452, Q(1) = 0.2699997. The
	// reference values are the alternating series summed to 200 terms in
	// Python; 1.17 and 1.19 sit either side of the switch between the forms.
	for _, c := range []struct{ lambda, q float64 }{
		{0, 1}, {0.3, 0.9999906941986655}, {0.5, 0.9639452436648751}, {1.0, 0.26999967167735456},
		{1.17, 0.12939004218561884}, {1.19, 0.11774229287977167}, {1.3581, 0.0499996304316674}, {1.6276, 0.010001537333060776},
		{1.9495, 0.0009998019790258981}, {2.5, 7.453306344157342e-06},
	} {
		near(t, fmt.Sprintf("Q(%v)", c.lambda), kolmogorovQ(c.lambda), c.q, 1e-12)
	}
	// Both forms agree where they meet.
	near(t, "Q continuity at 1.18", kolmogorovQ(math.Nextafter(1.18, 0)), kolmogorovQ(1.18), 1e-14)
}

// The monitor bins exactly like models.Histogram.Bin, for histograms whose
// inner edges fill the 4-edge groups of the hot path exactly, partly, or not
// at all (none).
func TestDriftBinsLikeHistogram(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	xs := []float64{math.NaN(), math.Inf(-1), math.Inf(1), -1, 0, 0.5, 0.5000001, 2, 9, 100, -100, math.Nextafter(0, 1), math.Nextafter(0.5, 1)}
	for range 10000 {
		xs = append(xs, rng.NormFloat64()*3)
	}
	for _, edges := range [][]float64{
		{-1, 9},                                // one bin, no inner edge
		{-1, 0, 0.5, 0.5000001, 2, 9},          // 4 inner edges
		{-1, 0, 0.5, 0.5, 2, 9},                // a repeated edge (an empty bin)
		{-5, -2, -1, 0, 0.5, 0.5000001, 2, 9},  // 6
		{-5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 9}, // 9, like the bundles' deciles
	} {
		h := models.Histogram{Rows: 10, Edges: edges, Fractions: make([]float64, len(edges)-1)}
		h.Fractions[0] = 1
		bl := models.Baseline{Features: []models.FeatureHistogram{{Name: "x", Histogram: fixtureBaseline().Features[0].Histogram}}, Score: h}
		d, err := NewDrift(bl, []string{"x"}, DriftConfig{Window: CountWindow{Events: 1, SubWindows: 1}})
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range xs {
			if got, want := scoreCell(d, x), h.Bin(x)+1; got != want {
				t.Fatalf("edges %v: score %v counted in cell %d, Histogram.Bin says %d", edges, x, got, want)
			}
		}
	}
}

// scoreCell observes one event with score x and returns the score cell
// (0 = null, 1 + bin) that Observe counted it in.
func scoreCell(d *Drift, x float64) int {
	d.Observe([]float64{1}, x)
	r := d.ref[len(d.ref)-1]
	c := d.ring.counts[d.ring.cur*d.ring.cells : (d.ring.cur+1)*d.ring.cells]
	found := -1
	for i := r.off; i < r.off+int32(d.vars[len(d.vars)-1].cells()); i++ {
		if c[i] != 0 {
			found = int(i - r.off)
		}
	}
	return found
}

// Old events leave the window whole sub-windows at a time.
func TestDriftWindowExpiry(t *testing.T) {
	d, err := NewDrift(fixtureBaseline(), []string{"x"}, DriftConfig{Window: CountWindow{Events: 4, SubWindows: 2}})
	if err != nil {
		t.Fatal(err)
	}
	nan := math.NaN()
	for range 4 {
		d.Observe([]float64{nan}, 1) // old: missing x, score 1
	}
	// Each step: one new event (x = 5, score 0), then the window.
	steps := []struct {
		events         int
		nullRate, mean float64
	}{
		{3, 2.0 / 3, 2.0 / 3}, // the first sub-window (2 old events) rotated out
		{4, 0.5, 0.5},
		{3, 0, 0}, // the second old sub-window left
		{4, 0, 0},
	}
	s := d.Snapshot()
	if s.Events != 4 || s.Features[0].NullRate != 1 || s.Score.Mean != 1 {
		t.Fatalf("before: events %d, null rate %v, mean %v; want 4, 1, 1", s.Events, s.Features[0].NullRate, s.Score.Mean)
	}
	for i, st := range steps {
		d.Observe([]float64{5}, 0)
		s := d.Snapshot()
		if s.Events != st.events || s.Features[0].NullRate != st.nullRate || math.Abs(s.Score.Mean-st.mean) > 1e-15 || s.Seen != uint64(5+i) {
			t.Errorf("step %d: events %d, null rate %v, score mean %v, seen %d; want %d, %v, %v, %d",
				i, s.Events, s.Features[0].NullRate, s.Score.Mean, s.Seen, st.events, st.nullRate, st.mean, 5+i)
		}
	}
	// All old values gone: every x of the window is in bin 0.
	last := d.Snapshot().Features[0]
	// a = [0, 1, 0, 0, 0] floored, e = [0.1, 0.4, 0.3, 0.2, 0]:
	want := (1e-4-0.1)*math.Log(1e-4/0.1) + (1-0.4)*math.Log(1/0.4) + (1e-4-0.3)*math.Log(1e-4/0.3) + (1e-4-0.2)*math.Log(1e-4/0.2)
	near(t, "final x PSI", last.PSI, want, 1e-12)
}

func TestDriftEmptyWindow(t *testing.T) {
	d, err := NewDrift(fixtureBaseline(), []string{"x"}, DriftConfig{})
	if err != nil {
		t.Fatal(err)
	}
	s := d.Snapshot()
	f := s.Features[0]
	if s.Events != 0 || !math.IsNaN(f.PSI) || !math.IsNaN(f.KS) || !math.IsNaN(f.KSPValue) || !math.IsNaN(f.NullRate) || !math.IsNaN(s.Score.Mean) {
		t.Errorf("empty window snapshot %+v: want 0 events and NaN figures", s)
	}
}

func TestNewDriftErrors(t *testing.T) {
	bl := fixtureBaseline()
	if _, err := NewDrift(bl, []string{"y"}, DriftConfig{}); !errors.Is(err, ErrBaselineMismatch) {
		t.Errorf("wrong name: err = %v, want ErrBaselineMismatch", err)
	}
	if _, err := NewDrift(bl, []string{"x", "y"}, DriftConfig{}); !errors.Is(err, ErrBaselineMismatch) {
		t.Errorf("wrong count: err = %v, want ErrBaselineMismatch", err)
	}
	bad := fixtureBaseline()
	bad.Features[0].Edges = bad.Features[0].Edges[:3]
	if _, err := NewDrift(bad, []string{"x"}, DriftConfig{}); !errors.Is(err, ErrBaselineMismatch) {
		t.Errorf("bad edges: err = %v, want ErrBaselineMismatch", err)
	}
	for _, cfg := range []DriftConfig{
		{Window: CountWindow{Events: 10, SubWindows: 3}},
		{Window: CountWindow{Events: -1}},
		{PSIEpsilon: 0.5},
		{BaselineScoreMoments: &Moments{Mean: 0, Variance: -1}},
	} {
		if _, err := NewDrift(bl, []string{"x"}, cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("config %+v: err = %v, want ErrInvalidConfig", cfg, err)
		}
	}
}

// A baseline histogram without finite values (every training value NaN) gets
// one catch-all bin whose expected share is 0, so finite values in the window
// show in PSI; KS has nothing to compare with.
func TestDriftAllNullBaseline(t *testing.T) {
	bl := fixtureBaseline()
	bl.Features[0].Histogram = models.Histogram{Rows: 5, NullFraction: 1}
	d, err := NewDrift(bl, []string{"x"}, DriftConfig{Window: CountWindow{Events: 2, SubWindows: 1}})
	if err != nil {
		t.Fatal(err)
	}
	d.Observe([]float64{math.NaN()}, 0.5)
	d.Observe([]float64{3}, 0.5)
	f := d.Snapshot().Features[0]
	// a = [0.5, 0.5], e = [1, 0 → 1e-4]: (0.5−1)·ln 0.5 + (0.5−1e-4)·ln 5000.
	near(t, "PSI", f.PSI, -0.5*math.Log(0.5)+(0.5-1e-4)*math.Log(5000), 1e-12)
	if !math.IsNaN(f.KS) || f.NullRate != 0.5 {
		t.Errorf("KS %v, null rate %v; want NaN, 0.5", f.KS, f.NullRate)
	}
}

// The shipped bundle's baseline fits the pipeline's features.
func TestDriftDefaultBundle(t *testing.T) {
	b := loadDefaultBundle(t)
	d, err := NewDrift(b.Meta.Baseline, features.Names(), DriftConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range b.Meta.Golden {
		d.Observe(g.Features, g.Score)
	}
	s := d.Snapshot()
	if s.Events != len(b.Meta.Golden) || len(s.Features) != features.Count {
		t.Fatalf("events %d, features %d", s.Events, len(s.Features))
	}
}

func loadDefaultBundle(tb testing.TB) *models.Bundle {
	tb.Helper()
	b, err := models.Load("../../models/default", features.Names())
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestNullRates(t *testing.T) {
	r, err := NewNullRates(InputFields(), CountWindow{Events: 4, SubWindows: 2})
	if err != nil {
		t.Fatal(err)
	}
	// country, device_id, ip, lat_lon
	for _, row := range [][]bool{
		{true, false, false, true},
		{true, false, false, false},
		{false, false, true, false},
		{false, false, false, false},
	} {
		r.Observe(row)
	}
	s := r.Snapshot()
	want := []float64{2.0 / 4, 0, 1.0 / 4, 1.0 / 4}
	for i, f := range s.Fields {
		if f.NullRate != want[i] {
			t.Errorf("%s null rate %v, want %v", f.Name, f.NullRate, want[i])
		}
	}
	// One more event rotates out the first two: {false,false,true,false},
	// {false,false,false,false}, {false,true,false,false}.
	r.Observe([]bool{false, true, false, false})
	s = r.Snapshot()
	want = []float64{0, 1.0 / 3, 1.0 / 3, 0}
	for i, f := range s.Fields {
		if s.Events != 3 || f.NullRate != want[i] {
			t.Errorf("after expiry: events %d, %s null rate %v, want 3, %v", s.Events, f.Name, f.NullRate, want[i])
		}
	}
}
