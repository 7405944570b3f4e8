package monitor

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	"github.com/fraudstream/fraudstream/schemas"
)

const day = int64(24 * 60 * 60 * 1000)

// fixtureOutcomes: threshold 0.5, exploration ε = 0.25 (weight 4), label
// delay one day. Two flagged explored, one declined (labelled anyway, as in a
// backtest), four not flagged (one sent to review).
func fixtureOutcomes() []Outcome {
	o := func(score float64, action string, flagged, explored bool, prop float64, fraud bool) Outcome {
		return Outcome{ModelVersion: "v1", Score: score, Threshold: 0.5, Action: action, Flagged: flagged, Explored: explored,
			Propensity: prop, IsFraud: fraud, EventTimeMillis: 10 * day, LabelTimeMillis: 11 * day}
	}
	A, D, R := schemas.ActionApprove, schemas.ActionDecline, schemas.ActionReview
	return []Outcome{
		o(0.9, A, true, true, 0.25, true),  // TP, IPW weight 4
		o(0.8, A, true, true, 0.25, false), // FP, IPW weight 4
		o(0.7, D, true, false, 0.75, true), // TP, naive only
		o(0.3, A, false, false, 1, true),   // FN
		o(0.2, A, false, false, 1, false),  // TN
		o(0.1, R, false, false, 1, false),  // TN
		o(0.05, A, false, false, 1, false), // TN
	}
}

func TestPerformanceFixture(t *testing.T) {
	p, err := NewPerformance(PerformanceConfig{})
	if err != nil {
		t.Fatal(err)
	}
	outs := fixtureOutcomes()
	for i := range outs {
		if err := p.Observe(&outs[i]); err != nil {
			t.Fatal(err)
		}
	}
	// 10 decisions: 3 flagged, 2 of them declined.
	for i := range 10 {
		if err := p.ObserveDecision("v1", 10*day, i < 3, i < 2); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.SetReference("v1", KeyMetrics{Precision: 0.6, Recall: 0.8, ROCAUC: 0.9, PRAUC: 0.9}); err != nil {
		t.Fatal(err)
	}
	s := p.Snapshot()
	if len(s.Versions) != 1 {
		t.Fatalf("%d versions, want 1", len(s.Versions))
	}
	v := s.Versions[0]
	if v.Outcomes != 7 || v.Frauds != 3 || v.IPWOutcomes != 6 || v.ExploredFlagged != 2 || v.DeclinedLabelled != 1 ||
		v.Decisions != 10 || v.DecisionsFlagged != 3 || v.DecisionsDeclined != 2 {
		t.Errorf("counts %+v", v)
	}
	near(t, "coverage", v.LabelCoverage, 0.7, 1e-15)
	near(t, "decision flag rate", v.DecisionFlagRate, 0.3, 1e-15)
	near(t, "decision decline rate", v.DecisionDeclineRate, 0.2, 1e-15)

	// Naive: TP 2 (0.9, 0.7), FP 1, FN 1, TN 3.
	n := v.Naive
	near(t, "naive weight", n.Weight, 7, 0)
	near(t, "naive precision", n.Precision, 2.0/3, 1e-15)
	near(t, "naive recall", n.Recall, 2.0/3, 1e-15)
	near(t, "naive FPR", n.FPR, 1.0/4, 1e-15)
	near(t, "naive decline rate", n.DeclineRate, 3.0/7, 1e-15)
	// Binomial SE √(P(1−P)/n) = √((2/3)(1/3)/3) = 0.2721655.
	near(t, "naive precision SE", n.PrecisionSE, math.Sqrt(2.0/9/3), 1e-15)
	// ROC-AUC: frauds {0.9, 0.7, 0.3}, legit {0.8, 0.2, 0.1, 0.05}; pairs
	// won: 0.9 → 4, 0.7 → 3, 0.3 → 3; 10/12.
	near(t, "naive ROC-AUC", n.ROCAUC, 10.0/12, 1e-15)
	// AP, descending: 0.9 F (P 1), 0.8 L, 0.7 F (P 2/3), 0.3 F (P 3/4):
	// (1 + 2/3 + 3/4)/3 = 0.8055556.
	near(t, "naive PR-AUC", n.PRAUC, (1+2.0/3+3.0/4)/3, 1e-15)

	// IPW: the declined outcome is left out; TP 4 (0.9), FP 4 (0.8), FN 1, TN 3.
	w := v.IPW
	near(t, "IPW weight", w.Weight, 12, 0)
	near(t, "IPW precision", w.Precision, 0.5, 1e-15)
	near(t, "IPW recall", w.Recall, 0.8, 1e-15)
	near(t, "IPW FPR", w.FPR, 4.0/7, 1e-15)
	near(t, "IPW decline rate", w.DeclineRate, 8.0/12, 1e-15)
	// SE = √(16·0.5² + 16·0.5²)/8 = √8/8.
	near(t, "IPW precision SE", w.PrecisionSE, math.Sqrt(8)/8, 1e-15)
	// ROC-AUC: fraud weights {0.9: 4, 0.3: 1}, legit {0.8: 4, 0.2: 1, 0.1: 1,
	// 0.05: 1}; pairs won 4·7 + 1·3 = 31 of 5·7 = 35.
	near(t, "IPW ROC-AUC", w.ROCAUC, 31.0/35, 1e-15)
	// AP: 0.9 F (ΔR 4/5, P 1), 0.8 L, 0.3 F (ΔR 1/5, P 5/9) = 0.8 + 1/9.
	near(t, "IPW PR-AUC", w.PRAUC, 0.8+1.0/9, 1e-15)

	near(t, "relative precision change", v.RelativeChange.Precision, (0.5-0.6)/0.6, 1e-15)
	near(t, "relative recall change", v.RelativeChange.Recall, 0, 1e-15)

	// Every delay is one day: the quantiles are within the bin (6%).
	if v.LabelDelay.Count != 7 {
		t.Errorf("delay count %d", v.LabelDelay.Count)
	}
	near(t, "delay p50", v.LabelDelay.P50, 86400, 86400*0.06)
	near(t, "delay p99", v.LabelDelay.P99, 86400, 86400*0.06)
}

func TestPerformanceRejects(t *testing.T) {
	p, _ := NewPerformance(PerformanceConfig{})
	base := fixtureOutcomes()[0]
	for _, mod := range []func(o *Outcome){
		func(o *Outcome) { o.Propensity = 0 },
		func(o *Outcome) { o.Propensity = 1.5 },
		func(o *Outcome) { o.Propensity = math.NaN() },
		func(o *Outcome) { o.Score = math.NaN() },
		func(o *Outcome) { o.Score = 1.2 },
		func(o *Outcome) { o.Action = "refund" },
		func(o *Outcome) { o.Action = schemas.ActionDecline },                    // declined but explored
		func(o *Outcome) { o.Flagged, o.Explored = false, true },                 // explored but not flagged
		func(o *Outcome) { o.Explored, o.Action = false, schemas.ActionApprove }, // flagged, not explored, approved
	} {
		o := base
		mod(&o)
		if err := p.Observe(&o); !errors.Is(err, ErrInvalidOutcome) {
			t.Errorf("%+v: err = %v, want ErrInvalidOutcome", o, err)
		}
	}
	if s := p.Snapshot(); s.Rejected.Invalid != 9 || len(s.Versions) != 0 {
		t.Errorf("rejected %+v, versions %d; want 9 invalid and none", s.Rejected, len(s.Versions))
	}
}

// Old outcomes and decisions leave the window a sub-window (here a day) at a
// time; records before the window are rejected.
func TestPerformanceWindowExpiry(t *testing.T) {
	p, err := NewPerformance(PerformanceConfig{WindowMillis: 3 * day, SubWindows: 3, MaxModelVersions: 1})
	if err != nil {
		t.Fatal(err)
	}
	add := func(version string, labelDay int64, fraud bool) error {
		o := Outcome{ModelVersion: version, Score: 0.1, Threshold: 0.5, Action: schemas.ActionApprove, Propensity: 1,
			IsFraud: fraud, EventTimeMillis: labelDay*day - 1000, LabelTimeMillis: labelDay*day + 1}
		return p.Observe(&o)
	}
	outcomes := func() uint64 {
		var n uint64
		for _, v := range p.Snapshot().Versions {
			n += v.Outcomes
		}
		return n
	}
	for d := range int64(3) {
		if err := add("v1", d, d == 0); err != nil {
			t.Fatal(err)
		}
	}
	if got := outcomes(); got != 3 {
		t.Fatalf("days 0–2: %d outcomes, want 3", got)
	}
	if err := add("v1", 3, false); err != nil { // day 0 leaves
		t.Fatal(err)
	}
	s := p.Snapshot()
	if v := s.Versions[0]; v.Outcomes != 3 || v.Frauds != 0 || s.WindowStartMillis != day || s.WindowEndMillis != 4*day {
		t.Errorf("after day 3: outcomes %d, frauds %d, window [%d, %d); want 3, 0, [%d, %d)", v.Outcomes, v.Frauds, s.WindowStartMillis, s.WindowEndMillis, day, 4*day)
	}
	if err := add("v1", 0, false); !errors.Is(err, ErrStaleRecord) {
		t.Errorf("day 0 after day 3: err = %v, want ErrStaleRecord", err)
	}
	if err := add("v2", 3, false); !errors.Is(err, ErrTooManyVersions) {
		t.Errorf("second version at MaxModelVersions 1: err = %v, want ErrTooManyVersions", err)
	}
	p.AdvanceTo(5 * day) // window [3, 6): the day-3 outcome stays
	if got := outcomes(); got != 1 {
		t.Errorf("advanced to day 5: %d outcomes, want 1", got)
	}
	p.AdvanceTo(6 * day)
	if got := outcomes(); got != 0 {
		t.Errorf("advanced to day 6: %d outcomes, want 0", got)
	}
	if err := add("v2", 6, true); err != nil { // v1 has nothing left: it is dropped for v2
		t.Errorf("v2 after v1 expired: %v", err)
	}
	s = p.Snapshot()
	if len(s.Versions) != 1 || s.Versions[0].ModelVersion != "v2" || s.Versions[0].Frauds != 1 {
		t.Errorf("versions %+v, want v2 with one fraud", s.Versions)
	}
	if s.Rejected.Stale != 1 || s.Rejected.TooManyVersions != 1 {
		t.Errorf("rejected %+v, want 1 stale, 1 too many versions", s.Rejected)
	}
	// A slot reused for a new day starts from zero: day 9 lands in day 6's slot.
	if err := add("v2", 9, false); err != nil {
		t.Fatal(err)
	}
	if v := p.Snapshot().Versions[0]; v.Outcomes != 1 || v.Frauds != 0 {
		t.Errorf("day 9: outcomes %d, frauds %d; want 1, 0", v.Outcomes, v.Frauds)
	}
}

// exactAUC returns the ROC-AUC (Mann–Whitney, ties halved) and the average
// precision (sklearn's, ties grouped) of raw scores.
func exactAUC(scores []float64, fraud []bool) (roc, ap float64) {
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return scores[idx[a]] < scores[idx[b]] })
	var nF, nL float64
	for _, f := range fraud {
		if f {
			nF++
		} else {
			nL++
		}
	}
	var below, area float64
	for i := 0; i < len(idx); {
		j := i
		var f, l float64
		for ; j < len(idx) && scores[idx[j]] == scores[idx[i]]; j++ {
			if fraud[idx[j]] {
				f++
			} else {
				l++
			}
		}
		area += f * (below + l/2)
		below += l
		i = j
	}
	var tpc, fpc float64
	for i := len(idx) - 1; i >= 0; {
		j := i
		var f, l float64
		for ; j >= 0 && scores[idx[j]] == scores[idx[i]]; j-- {
			if fraud[idx[j]] {
				f++
			} else {
				l++
			}
		}
		tpc += f
		fpc += l
		ap += f / nF * tpc / (tpc + fpc)
		i = j
	}
	return area / (nF * nL), ap
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// skewedScores draws n scores shaped like the default model's (median
// ~5e-4, a long tail to 1) with a fraud rate of about 2%.
func skewedScores(rng *rand.Rand, n int) ([]float64, []bool) {
	scores, fraud := make([]float64, n), make([]bool, n)
	for i := range n {
		fraud[i] = rng.Float64() < 0.02
		if fraud[i] {
			scores[i] = sigmoid(-3 + 2.5*rng.NormFloat64())
		} else {
			scores[i] = sigmoid(-7.5 + 1.8*rng.NormFloat64())
		}
	}
	return scores, fraud
}

// ROC-AUC and PR-AUC from the bounded histograms are within 0.005 of the
// exact figures on the raw scores.
func TestHistogramAUCMatchesExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	scores, fraud := skewedScores(rng, 50_000)
	p, _ := NewPerformance(PerformanceConfig{})
	for i, s := range scores {
		o := Outcome{ModelVersion: "v", Score: s, Threshold: 0.5, Action: schemas.ActionApprove, Propensity: 1, IsFraud: fraud[i]}
		if err := p.Observe(&o); err != nil {
			t.Fatal(err)
		}
	}
	roc, ap := exactAUC(scores, fraud)
	got := p.Snapshot().Versions[0]
	near(t, "histogram ROC-AUC", got.Naive.ROCAUC, roc, 0.005)
	near(t, "histogram PR-AUC", got.Naive.PRAUC, ap, 0.005)
	// With every propensity 1, IPW and naive agree exactly.
	if got.IPW.ROCAUC != got.Naive.ROCAUC || got.IPW.PRAUC != got.Naive.PRAUC {
		t.Errorf("IPW AUCs %v, %v differ from naive %v, %v with propensity 1", got.IPW.ROCAUC, got.IPW.PRAUC, got.Naive.ROCAUC, got.Naive.PRAUC)
	}
	t.Logf("exact ROC-AUC %.6f PR-AUC %.6f; from 1000 logit bins %.6f %.6f", roc, ap, got.Naive.ROCAUC, got.Naive.PRAUC)

	// Why logit bins: 1000 equal-width probability bins put most of these
	// scores in [0, 0.001) as ties.
	legit, fr := make([]float64, 1000), make([]float64, 1000)
	for i, s := range scores {
		b := min(int(s*1000), 999)
		if fraud[i] {
			fr[b]++
		} else {
			legit[b]++
		}
	}
	lroc, lap := histogramAUC(legit, fr)
	t.Logf("from 1000 equal-width probability bins: ROC-AUC %.6f (error %.4f), PR-AUC %.6f (error %.4f)", lroc, lroc-roc, lap, lap-ap)
}

func TestDelayQuantiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	p, _ := NewPerformance(PerformanceConfig{WindowMillis: 400 * day, SubWindows: 400})
	var delays []float64
	for range 20_000 {
		// Log-normal around 5 days.
		d := int64(5 * float64(day) * math.Exp(0.8*rng.NormFloat64()))
		delays = append(delays, float64(d)/1000)
		o := Outcome{ModelVersion: "v", Score: 0.1, Action: schemas.ActionApprove, Propensity: 1, EventTimeMillis: 100 * day, LabelTimeMillis: 100*day + d}
		if err := p.Observe(&o); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(delays)
	ld := p.Snapshot().Versions[0].LabelDelay
	for _, c := range []struct {
		q   float64
		got float64
	}{{0.5, ld.P50}, {0.9, ld.P90}, {0.99, ld.P99}} {
		want := delays[int(math.Ceil(c.q*float64(len(delays))))-1]
		near(t, "delay quantile", c.got, want, want*0.06) // one bin: 10^(1/40) − 1 = 5.9%
	}
}
