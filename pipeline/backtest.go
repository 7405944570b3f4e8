package pipeline

import (
	"math"
	"sort"

	"github.com/fraudstream/fraudstream/operators/validate"
	"github.com/fraudstream/fraudstream/operators/windows"
	"github.com/fraudstream/fraudstream/schemas"
)

// Backtest replays transactions through the serving path of a candidate
// model (the same Evaluator as the stream) and scores its decisions against
// labels known in hindsight: unlike live monitoring, every transaction's
// outcome is known here (unlabelled = legitimate), so the figures are exact,
// not estimates.
type Backtest struct {
	serving *Serving
	rules   validate.Rules
	eval    *Evaluator
	labels  map[string]LabelInfo
	cards   map[string]*windows.CardState
	from    int64
	ev      Evaluation

	scores []float64
	frauds []bool
	// Counts of the policy's decisions.
	Result BacktestResult
}

// BacktestResult are a backtest's figures.
type BacktestResult struct {
	ModelVersion                string
	Transactions, Frauds        int64
	Skipped                     map[string]int64
	Flagged, Declined, Explored int64
	Review                      int64
	TruePositives               int64 // flagged frauds
	Precision, Recall, FPR      float64
	DeclineRate                 float64
	ROCAUC, PRAUC               float64
	RecallAt1PctFPR             float64
	FraudsCaughtShare           float64 // declined frauds / frauds (exploration lets ε through)
	Threshold, Epsilon          float64
}

// NewBacktest prepares a backtest of s; rows with event_time < fromMillis
// only warm the windows up.
func NewBacktest(s *Serving, w windows.Config, rules validate.Rules, labels map[string]LabelInfo, fromMillis int64) (*Backtest, error) {
	if err := rules.Compile(); err != nil {
		return nil, err
	}
	return &Backtest{serving: s, rules: rules, eval: NewEvaluator(w), labels: labels, cards: map[string]*windows.CardState{},
		from: fromMillis, Result: BacktestResult{ModelVersion: s.version, Skipped: map[string]int64{},
			Threshold: s.policy.Threshold, Epsilon: s.policy.Epsilon}}, nil
}

// Add replays one transaction (recordMillis as in FeatureExporter.Add).
func (b *Backtest) Add(tx *schemas.Transaction, recordMillis int64) error {
	if v := b.rules.Check(tx, []byte(tx.CardID), recordMillis); v != nil {
		b.Result.Skipped[v.Reason]++
		return nil
	}
	st, ok := b.cards[tx.CardID]
	if !ok {
		st = &windows.CardState{}
		b.cards[tx.CardID] = st
	}
	if err := b.eval.Observe(st, tx, &b.ev); err != nil {
		if reason := errReason(err); reason != "" {
			b.Result.Skipped[reason]++
			return nil
		}
		return err
	}
	if tx.EventTime < b.from {
		return nil
	}
	b.eval.Decide(b.serving, tx, &b.ev)
	fraud := b.labels[tx.TransactionID].IsFraud
	r := &b.Result
	r.Transactions++
	o := b.ev.Outcome
	if fraud {
		r.Frauds++
	}
	if o.Flagged {
		r.Flagged++
		if fraud {
			r.TruePositives++
		}
	}
	switch {
	case o.Explored:
		r.Explored++
	case o.Action == schemas.ActionDecline:
		r.Declined++
		if fraud {
			r.FraudsCaughtShare++
		}
	case o.Action == schemas.ActionReview:
		r.Review++
	}
	b.scores = append(b.scores, b.ev.Score)
	b.frauds = append(b.frauds, fraud)
	return nil
}

// Finish computes the figures.
func (b *Backtest) Finish() BacktestResult {
	r := b.Result
	div := func(a, c float64) float64 {
		if c == 0 {
			return math.NaN()
		}
		return a / c
	}
	legit := float64(r.Transactions - r.Frauds)
	r.Precision = div(float64(r.TruePositives), float64(r.Flagged))
	r.Recall = div(float64(r.TruePositives), float64(r.Frauds))
	r.FPR = div(float64(r.Flagged-r.TruePositives), legit)
	r.DeclineRate = div(float64(r.Declined), float64(r.Transactions))
	r.FraudsCaughtShare = div(r.FraudsCaughtShare, float64(r.Frauds))
	r.ROCAUC, r.PRAUC, r.RecallAt1PctFPR = rankMetrics(b.scores, b.frauds)
	return r
}

// rankMetrics computes ROC-AUC (ties count half), average precision (as
// sklearn's average_precision_score) and the best recall at FPR ≤ 1%.
func rankMetrics(scores []float64, frauds []bool) (roc, ap, recallAt1 float64) {
	n := len(scores)
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return scores[idx[a]] > scores[idx[b]] })
	var pos, neg float64
	for _, f := range frauds {
		if f {
			pos++
		} else {
			neg++
		}
	}
	if pos == 0 || neg == 0 {
		return math.NaN(), math.NaN(), math.NaN()
	}
	var tp, fp, prevRecall, area float64
	recallAt1 = 0
	for i := 0; i < n; {
		j := i
		var dtp, dfp float64
		for j < n && scores[idx[j]] == scores[idx[i]] {
			if frauds[idx[j]] {
				dtp++
			} else {
				dfp++
			}
			j++
		}
		// ROC: negatives ranked above this group's positives, ties half.
		area += dtp * (fp + dfp/2)
		tp, fp = tp+dtp, fp+dfp
		recall := tp / pos
		ap += (recall - prevRecall) * (tp / (tp + fp))
		prevRecall = recall
		if fp/neg <= 0.01 {
			recallAt1 = recall
		}
		i = j
	}
	roc = 1 - area/(pos*neg)
	return roc, ap, recallAt1
}
