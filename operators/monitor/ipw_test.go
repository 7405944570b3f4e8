package monitor

import (
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/fraudstream/fraudstream/operators/decide"
	"github.com/fraudstream/fraudstream/schemas"
)

// ipwWorld is a synthetic world in which the truth is known: every
// transaction's label, including those production never learns.
type ipwWorld struct {
	n         int
	threshold float64
	epsilon   float64
	seed      uint64
}

type worldTruth struct {
	tp, fp, fn, tn     float64
	precision, recall  float64
	fpr, flagRate      float64
	roc, ap            float64
	declined, labelled int
}

// run simulates w.n transactions, decides each with the real decision policy
// (hash exploration), and feeds prod what production sees: every decision,
// and the outcomes of the transactions that went through (declined ones are
// never completed, so their label is never known). If full is not nil it also
// gets every outcome, the declined ones included, as a backtest with perfect
// hindsight would.
func (w ipwWorld) run(t testing.TB, prod, full *Performance) worldTruth {
	rng := rand.New(rand.NewPCG(w.seed, 0x1b1))
	pol := decide.Policy{Threshold: w.threshold, Epsilon: w.epsilon, Seed: "ipw-sim"}
	if err := pol.Compile(); err != nil {
		t.Fatal(err)
	}
	const t0 = int64(1_767_225_600_000) // 2026-01-01T00:00:00Z
	var tr worldTruth
	scores, frauds := make([]float64, w.n), make([]bool, w.n)
	id := make([]byte, 0, 32)
	for i := range w.n {
		// Latent risk z; the true fraud probability and the model score both
		// rise with it, the score through a noisy view of z.
		z := rng.NormFloat64()
		fraud := rng.Float64() < sigmoid(-5+2.5*z)
		score := sigmoid(-4 + 2*(0.9*z+0.4359*rng.NormFloat64()))
		scores[i], frauds[i] = score, fraud
		id = strconv.AppendInt(append(id[:0], "tx-"...), int64(i), 10)
		dec := pol.Decide(string(id), score)
		event := t0 + int64(rng.Float64()*float64(10*day))
		label := event + int64(float64(day)*(0.1+rng.ExpFloat64()*3)) // label delay: 2.4 h + Exp(mean 3 days)
		switch {
		case dec.Flagged && fraud:
			tr.tp++
		case dec.Flagged:
			tr.fp++
		case fraud:
			tr.fn++
		default:
			tr.tn++
		}
		declined := dec.Action == schemas.ActionDecline
		if err := prod.ObserveDecision("m1", event, dec.Flagged, declined); err != nil {
			t.Fatal(err)
		}
		o := Outcome{ModelVersion: "m1", Score: score, Threshold: w.threshold, Action: dec.Action, Flagged: dec.Flagged,
			Explored: dec.Explored, Propensity: dec.Propensity, IsFraud: fraud, EventTimeMillis: event, LabelTimeMillis: label}
		if declined {
			tr.declined++
		} else {
			tr.labelled++
			if err := prod.Observe(&o); err != nil {
				t.Fatal(err)
			}
		}
		if full != nil {
			if err := full.Observe(&o); err != nil {
				t.Fatal(err)
			}
		}
	}
	tr.precision = tr.tp / (tr.tp + tr.fp)
	tr.recall = tr.tp / (tr.tp + tr.fn)
	tr.fpr = tr.fp / (tr.fp + tr.tn)
	tr.flagRate = (tr.tp + tr.fp) / float64(w.n)
	tr.roc, tr.ap = exactAUC(scores, frauds)
	return tr
}

// TestIPWSimulation is the acceptance test of the counterfactual evaluation:
// in a world where the truth is known, the IPW estimates of the deployed
// threshold's precision and recall, from what production sees, are within
// ±0.03 of the truth, while the naive ones are far off.
//
// The world: 1,000,000 transactions over 10 days; latent risk z ~ N(0, 1);
// P(fraud) = sigmoid(−5 + 2.5z) (fraud rate ≈ 5.2%); score = sigmoid(−4 +
// 2(0.9z + 0.436·noise)); threshold 0.2 flags ≈ 9.6%; truth: precision ≈
// 0.318, recall ≈ 0.583. ε = 0.05 by the real policy's hash, so ≈ 4,800
// flagged transactions are explored and labelled.
//
// Tolerance: the IPW precision is the fraud share of those ≈ 4,800 explored
// transactions, SE ≈ √(0.32·0.68/4800) ≈ 0.0067; the recall's SE, dominated
// by the ≈ 1,500 explored frauds standing for ≈ 30,000, is ≈ 0.0063 (the
// monitor reports both). ±0.03 is ≥ 4.4 SE: over seeds 1–8 the largest
// errors were 0.016 (precision) and 0.009 (recall). The naive recall counts
// each explored fraud once instead of 20 times: ≈ 0.067, off by ≈ 0.5.
func TestIPWSimulation(t *testing.T) {
	w := ipwWorld{n: 1_000_000, threshold: 0.2, epsilon: 0.05, seed: 1}
	cfg := PerformanceConfig{WindowMillis: 90 * day, SubWindows: 90} // every label (≤ 52 days after the first event) stays in
	prod, err := NewPerformance(cfg)
	if err != nil {
		t.Fatal(err)
	}
	full, _ := NewPerformance(cfg)
	tr := w.run(t, prod, full)
	s := prod.Snapshot()
	if len(s.Versions) != 1 || s.Rejected != (Rejections{}) {
		t.Fatalf("versions %d, rejected %+v", len(s.Versions), s.Rejected)
	}
	v := s.Versions[0]
	t.Logf("truth:  precision %.4f recall %.4f FPR %.4f flag rate %.4f ROC-AUC %.4f PR-AUC %.4f", tr.precision, tr.recall, tr.fpr, tr.flagRate, tr.roc, tr.ap)
	for _, e := range []struct {
		name string
		e    Estimates
	}{{"IPW", v.IPW}, {"naive", v.Naive}} {
		t.Logf("%-6s  precision %.4f±%.4f recall %.4f±%.4f FPR %.4f flag rate %.4f ROC-AUC %.4f PR-AUC %.4f",
			e.name, e.e.Precision, e.e.PrecisionSE, e.e.Recall, e.e.RecallSE, e.e.FPR, e.e.DeclineRate, e.e.ROCAUC, e.e.PRAUC)
	}
	t.Logf("explored flagged outcomes %d, labelled %d of %d, coverage %.4f", v.ExploredFlagged, v.Outcomes, w.n, v.LabelCoverage)

	// What production fed: every non-declined outcome, every decision.
	if v.Outcomes != uint64(tr.labelled) || v.IPWOutcomes != uint64(tr.labelled) || v.DeclinedLabelled != 0 || v.Decisions != uint64(w.n) {
		t.Fatalf("outcomes %d, IPW outcomes %d, declined %d, decisions %d; want %d, %d, 0, %d",
			v.Outcomes, v.IPWOutcomes, v.DeclinedLabelled, v.Decisions, tr.labelled, tr.labelled, w.n)
	}
	near(t, "label coverage", v.LabelCoverage, float64(tr.labelled)/float64(w.n), 1e-12)
	near(t, "decision flag rate", v.DecisionFlagRate, tr.flagRate, 1e-12)

	// The acceptance criterion, with the tolerance justified above.
	const tol = 0.03
	near(t, "IPW precision", v.IPW.Precision, tr.precision, tol)
	near(t, "IPW recall", v.IPW.Recall, tr.recall, tol)
	if 3*v.IPW.PrecisionSE > tol || 3*v.IPW.RecallSE > tol {
		t.Errorf("IPW SEs %.4f, %.4f: the sample is too small for ±%v", v.IPW.PrecisionSE, v.IPW.RecallSE, tol)
	}
	// The flagged share and FPR: SE ≈ 0.0014 and 0.001 (7 SE and 10 SE).
	near(t, "IPW flag rate", v.IPW.DeclineRate, tr.flagRate, 0.01)
	near(t, "IPW FPR", v.IPW.FPR, tr.fpr, 0.01)
	// ROC-AUC: binning error < 0.001 (TestHistogramAUCMatchesExact) plus the
	// exploration's sampling error of the flagged tail; seeds 1–8 within 0.003.
	near(t, "IPW ROC-AUC", v.IPW.ROCAUC, tr.roc, 0.01)

	// The naive estimates are visibly biased: declined transactions vanish
	// from the flagged side, so recall, FPR and the flag rate collapse
	// (≈ 0.067, 0.004, 0.005), and ROC-AUC drops (≈ 0.84 vs 0.89).
	if !(v.Naive.Recall < tr.recall-0.1) {
		t.Errorf("naive recall %.4f is not biased by more than 0.1 below the truth %.4f", v.Naive.Recall, tr.recall)
	}
	if !(v.Naive.FPR < tr.fpr/2) || !(v.Naive.DeclineRate < tr.flagRate/2) {
		t.Errorf("naive FPR %.4f, flag rate %.4f not biased (truth %.4f, %.4f)", v.Naive.FPR, v.Naive.DeclineRate, tr.fpr, tr.flagRate)
	}
	if !(v.Naive.ROCAUC < tr.roc-0.03) {
		t.Errorf("naive ROC-AUC %.4f is not biased by more than 0.03 below the truth %.4f", v.Naive.ROCAUC, tr.roc)
	}
	// Naive precision is not biased here: exploration is uniform among
	// flagged transactions, so the explored ones are a simple random sample
	// of them and every flagged outcome has the same weight 1/ε.
	near(t, "naive precision vs IPW", v.Naive.Precision, v.IPW.Precision, 1e-12)

	// With hindsight (every label, declined ones included) the naive
	// estimator is the truth, and IPW still ignores the declined outcomes.
	f := full.Snapshot().Versions[0]
	near(t, "full-label precision", f.Naive.Precision, tr.precision, 1e-12)
	near(t, "full-label recall", f.Naive.Recall, tr.recall, 1e-12)
	near(t, "full-label FPR", f.Naive.FPR, tr.fpr, 1e-12)
	near(t, "full-label flag rate", f.Naive.DeclineRate, tr.flagRate, 1e-12)
	near(t, "full-label ROC-AUC", f.Naive.ROCAUC, tr.roc, 0.005)
	if f.IPW != v.IPW || f.DeclinedLabelled != uint64(tr.declined) {
		t.Errorf("full-label IPW %+v (declined %d) differs from production's %+v", f.IPW, f.DeclinedLabelled, v.IPW)
	}
}
