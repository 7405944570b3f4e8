package pipeline

import (
	"errors"
	"github.com/fraudstream/fraudstream/operators/decide"
	"github.com/fraudstream/fraudstream/operators/features"
	"github.com/fraudstream/fraudstream/operators/windows"
	"github.com/fraudstream/fraudstream/schemas"
)

// Evaluation is what the per-event operators computed for one valid
// transaction.
type Evaluation struct {
	Features []float64 // in features.Names() order; reused by the next call
	Score    float64
	Outcome  decide.Outcome
	Late     bool
}

// Evaluator runs windows → features → score → decide for one transaction
// against its card's state. It is the single implementation behind the
// streaming partition task, offline replay (features export, backtests) and
// the parity tests: what is trained on is what is served. Not safe for
// concurrent use (it reuses buffers).
type Evaluator struct {
	windows windows.Config
	res     windows.Result
	feats   []float64
}

// NewEvaluator returns an evaluator for the given windows config (use
// Config.WindowsConfig).
func NewEvaluator(w windows.Config) *Evaluator {
	return &Evaluator{windows: w, feats: make([]float64, features.Count)}
}

// Observe adds tx to the card state and computes its features. It returns
// windows.ErrTooLate (state unchanged) for events too old to be exact.
func (e *Evaluator) Observe(state *windows.CardState, tx *schemas.Transaction, out *Evaluation) error {
	ev := features.Event(tx)
	if err := state.Observe(&e.windows, ev, &e.res); err != nil {
		return err
	}
	e.feats = features.Compute(e.feats, tx, &ev, &e.res)
	out.Features = e.feats
	out.Late = e.res.Late
	return nil
}

// Decide scores the features Observe computed and applies the policy.
func (e *Evaluator) Decide(s *Serving, tx *schemas.Transaction, out *Evaluation) {
	out.Score = s.model.Score(out.Features)
	out.Outcome = s.policy.Decide(tx.TransactionID, out.Score)
}

// FillDecision writes the decision record of an evaluation (all fields but
// DecidedAt and the source coordinates). d.Reasons is reused.
func FillDecision(d *schemas.Decision, s *Serving, tx *schemas.Transaction, ev *Evaluation, emitFeatures bool) {
	o := ev.Outcome
	*d = schemas.Decision{
		TransactionID: tx.TransactionID, CardID: tx.CardID, EventTime: tx.EventTime,
		Action: o.Action, Score: ev.Score, Threshold: s.policy.Threshold,
		Flagged: o.Flagged, Explored: o.Explored, Propensity: o.Propensity,
		ModelVersion: s.version, FeatureSet: features.SetVersion,
		Reasons: d.Reasons[:0],
	}
	if emitFeatures {
		d.Features = ev.Features
	}
	if o.Flagged || o.Action == schemas.ActionReview {
		d.Reasons = features.Reasons(d.Reasons, ev.Features)
	}
}

func isErr(err, target error) bool { return errors.Is(err, target) }
