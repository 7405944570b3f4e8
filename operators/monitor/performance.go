package monitor

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/fraudstream/fraudstream/models"
	"github.com/fraudstream/fraudstream/schemas"
)

// Errors of [Performance.Observe] and [Performance.ObserveDecision]. The
// record is not counted (but the rejection is, see PerformanceSnapshot).
var (
	// ErrStaleRecord: the record's time is before the window (older than the
	// newest time seen minus the window length).
	ErrStaleRecord = errors.New("monitor: record older than the performance window")
	// ErrInvalidOutcome: propensity outside (0, 1], score outside [0, 1],
	// an unknown action, or action, flagged and explored that contradict one
	// another (declined ⇔ flagged and not explored).
	ErrInvalidOutcome = errors.New("monitor: invalid outcome")
	// ErrTooManyVersions: a new model version arrived while
	// PerformanceConfig.MaxModelVersions versions have records in the window.
	ErrTooManyVersions = errors.New("monitor: too many model versions in the performance window")
)

// Defaults of [PerformanceConfig].
const (
	DefaultPerformanceWindowMillis = 30 * 24 * 60 * 60 * 1000 // 30 days
	DefaultPerformanceSubWindows   = 30                       // one per day
	DefaultScoreBins               = 1000
	DefaultMaxAbsLogit             = 16.0
	DefaultMaxModelVersions        = 8
)

// PerformanceConfig configures a [Performance]. The zero value gives the
// defaults.
type PerformanceConfig struct {
	// WindowMillis is the label-time window in milliseconds (default 30
	// days), split into SubWindows sub-windows (default 30, one day each):
	// the window holds the records whose time falls in the newest
	// SubWindows sub-windows, the one of the newest record included, so it
	// spans between WindowMillis − WindowMillis/SubWindows and WindowMillis.
	// WindowMillis must be a multiple of SubWindows.
	WindowMillis int64
	SubWindows   int
	// ScoreBins is the number of score bins per class and estimator behind
	// ROC-AUC and PR-AUC (default 1000), equal-width on the logit scale over
	// [−MaxAbsLogit, MaxAbsLogit] (default 16, i.e. scores from 1.1e-7 to
	// 1 − 1.1e-7; beyond, the end bins). Logit rather than probability:
	// fraud scores crowd near 0 (the default model's median is ~5e-4), so
	// 1000 equal-width probability bins would tie most transactions in the
	// first bin; logit bins of width 0.032 are ~3% wide in odds everywhere.
	ScoreBins   int
	MaxAbsLogit float64
	// MaxModelVersions bounds the number of model versions with records in
	// the window (default 8): a new version beyond it is rejected with
	// ErrTooManyVersions unless a version without records in the window can
	// be dropped.
	MaxModelVersions int
}

func (c PerformanceConfig) withDefaults() (PerformanceConfig, error) {
	if c.WindowMillis == 0 {
		c.WindowMillis = DefaultPerformanceWindowMillis
	}
	if c.SubWindows == 0 {
		c.SubWindows = DefaultPerformanceSubWindows
	}
	if c.ScoreBins == 0 {
		c.ScoreBins = DefaultScoreBins
	}
	if c.MaxAbsLogit == 0 {
		c.MaxAbsLogit = DefaultMaxAbsLogit
	}
	if c.MaxModelVersions == 0 {
		c.MaxModelVersions = DefaultMaxModelVersions
	}
	switch {
	case c.SubWindows < 1 || c.SubWindows > MaxSubWindows:
		return c, fmt.Errorf("%w: SubWindows: %d outside [1, %d] (0 means %d)", ErrInvalidConfig, c.SubWindows, MaxSubWindows, DefaultPerformanceSubWindows)
	case c.WindowMillis < int64(c.SubWindows) || c.WindowMillis%int64(c.SubWindows) != 0 || c.WindowMillis > 1<<50:
		return c, fmt.Errorf("%w: WindowMillis: %d must be a positive multiple of SubWindows (%d), at most 2^50 (0 means %d, 30 days)",
			ErrInvalidConfig, c.WindowMillis, c.SubWindows, int64(DefaultPerformanceWindowMillis))
	case c.ScoreBins < 2 || c.ScoreBins > 1_000_000:
		return c, fmt.Errorf("%w: ScoreBins: %d outside [2, 1000000] (0 means %d)", ErrInvalidConfig, c.ScoreBins, DefaultScoreBins)
	case !(c.MaxAbsLogit >= 1 && c.MaxAbsLogit <= 700):
		return c, fmt.Errorf("%w: MaxAbsLogit: %v outside [1, 700] (0 means %v)", ErrInvalidConfig, c.MaxAbsLogit, DefaultMaxAbsLogit)
	case c.MaxModelVersions < 1 || c.MaxModelVersions > 1000:
		return c, fmt.Errorf("%w: MaxModelVersions: %d outside [1, 1000] (0 means %d)", ErrInvalidConfig, c.MaxModelVersions, DefaultMaxModelVersions)
	}
	return c, nil
}

// Outcome is one labelled decision, as the label-join stage emits it: the
// decision's fields plus the label. Times are Unix milliseconds.
type Outcome struct {
	ModelVersion string
	// Score, Threshold, Action, Flagged, Explored and Propensity are the
	// decision's (schemas.Decision). Flagged is taken as logged (Threshold
	// is informational): the figures are those of the rule that decided.
	Score      float64
	Threshold  float64
	Action     string
	Flagged    bool
	Explored   bool
	Propensity float64
	// IsFraud is the label.
	IsFraud bool
	// LabelTimeMillis places the outcome in the window; EventTimeMillis is
	// the transaction's, for the label delay.
	LabelTimeMillis int64
	EventTimeMillis int64
}

// Performance estimates, per model version, how the deployed decision rule
// performs on labelled outcomes over a sliding label-time window, in two
// ways: naive (every outcome weighs 1) and inverse-propensity weighted. See
// the package documentation for which outcome enters which estimator and
// why. Memory is O(MaxModelVersions × SubWindows × ScoreBins); Observe and
// ObserveDecision do not allocate except when a model version is first seen.
//
// Time comes only from the records (and AdvanceTo): the window ends at the
// newest time seen, so a replay gives the same figures. Not safe for
// concurrent use (see [Drift]).
type Performance struct {
	cfg       PerformanceConfig
	subMillis int64
	k         int64
	started   bool
	cur       int64 // newest sub-window index seen (time / subMillis)
	binScale  float64
	versions  map[string]*versionPerf
	rejected  Rejections
}

// Rejections count records not taken into the window since creation, by
// reason.
type Rejections struct {
	Stale, Invalid, TooManyVersions uint64
}

type versionPerf struct {
	name  string
	ref   *KeyMetrics
	slots []perfSlot
}

// perfSlot holds one sub-window of one model version. It is valid for
// sub-window index bucket when live; a slot found holding an older index is
// expired and is cleared before reuse (lazy O(1) expiry).
type perfSlot struct {
	bucket int64
	live   bool
	c      perfCounts
	// scores[(estimator*2+class)*bins + bin]: summed weights; estimator 0
	// naive, 1 IPW; class 0 legit, 1 fraud.
	scores []float64
	delays []uint32 // label delay histogram, see delayBin
}

// perfCounts are one slot's scalar sums. Confusion cells are
// [estimator][tp, fp, fn, tn], with the sums of weights and of squared weights.
type perfCounts struct {
	outcomes, frauds, ipwOutcomes, exploredFlagged, declinedLabelled uint64
	negativeDelays                                                   uint64
	decisions, decisionsFlagged, decisionsDeclined                   uint64
	w, w2                                                            [2][4]float64
}

func (a *perfCounts) add(b *perfCounts) {
	a.outcomes += b.outcomes
	a.frauds += b.frauds
	a.ipwOutcomes += b.ipwOutcomes
	a.exploredFlagged += b.exploredFlagged
	a.declinedLabelled += b.declinedLabelled
	a.negativeDelays += b.negativeDelays
	a.decisions += b.decisions
	a.decisionsFlagged += b.decisionsFlagged
	a.decisionsDeclined += b.decisionsDeclined
	for e := range a.w {
		for i := range a.w[e] {
			a.w[e][i] += b.w[e][i]
			a.w2[e][i] += b.w2[e][i]
		}
	}
}

const (
	naive = 0
	ipw   = 1
	tp    = 0
	fp    = 1
	fn    = 2
	tn    = 3
)

// NewPerformance returns an empty performance monitor. Errors wrap
// [ErrInvalidConfig].
func NewPerformance(cfg PerformanceConfig) (*Performance, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Performance{
		cfg:       cfg,
		subMillis: cfg.WindowMillis / int64(cfg.SubWindows),
		k:         int64(cfg.SubWindows),
		binScale:  float64(cfg.ScoreBins) / (2 * cfg.MaxAbsLogit),
		versions:  make(map[string]*versionPerf),
	}, nil
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// place returns the sub-window index of t and the window's newest index once
// t is taken in, or ErrStaleRecord.
func (p *Performance) place(t int64) (bucket, cur int64, err error) {
	b := floorDiv(t, p.subMillis)
	cur = p.cur
	if !p.started || b > cur {
		cur = b
	}
	if b <= cur-p.k {
		return 0, 0, ErrStaleRecord
	}
	return b, cur, nil
}

// version returns the state of model version name, creating it (and, at
// MaxModelVersions, dropping the first by name of the versions without any
// record in the window ending at sub-window cur).
func (p *Performance) version(name string, cur int64) (*versionPerf, error) {
	if v, ok := p.versions[name]; ok {
		return v, nil
	}
	if len(p.versions) >= p.cfg.MaxModelVersions {
		var drop string
		found := false
		for n, v := range p.versions {
			if !v.hasData(cur, p.k) && (!found || n < drop) {
				drop, found = n, true
			}
		}
		if !found {
			return nil, ErrTooManyVersions
		}
		delete(p.versions, drop)
	}
	v := &versionPerf{name: name, slots: make([]perfSlot, p.k)}
	for i := range v.slots {
		v.slots[i].scores = make([]float64, 4*p.cfg.ScoreBins)
		v.slots[i].delays = make([]uint32, delayCells)
	}
	p.versions[name] = v
	return v, nil
}

func (v *versionPerf) hasData(cur, k int64) bool {
	for i := range v.slots {
		s := &v.slots[i]
		if s.live && s.bucket > cur-k {
			return true
		}
	}
	return false
}

// slot returns the cleared-if-expired slot of sub-window b.
func (v *versionPerf) slot(b, k int64) *perfSlot {
	s := &v.slots[((b%k)+k)%k]
	if !s.live || s.bucket != b {
		// s.bucket ≡ b (mod k) and s.bucket ≤ cur < b + k: it is b − jk
		// for some j ≥ 1, outside the window.
		s.bucket, s.live, s.c = b, true, perfCounts{}
		clear(s.scores)
		clear(s.delays)
	}
	return s
}

func validOutcome(o *Outcome) bool {
	if !(o.Propensity > 0 && o.Propensity <= 1) || !(o.Score >= 0 && o.Score <= 1) {
		return false
	}
	switch o.Action {
	case schemas.ActionApprove, schemas.ActionReview:
		if o.Flagged && !o.Explored {
			return false
		}
	case schemas.ActionDecline:
		if !o.Flagged || o.Explored {
			return false
		}
	default:
		return false
	}
	return !o.Explored || o.Flagged
}

// Observe adds one labelled outcome to its model version's window at its
// label time. Rejected outcomes (see the errors) are counted, not added.
func (p *Performance) Observe(o *Outcome) error {
	if !validOutcome(o) {
		p.rejected.Invalid++
		return ErrInvalidOutcome
	}
	b, cur, err := p.place(o.LabelTimeMillis)
	if err != nil {
		p.rejected.Stale++
		return err
	}
	v, err := p.version(o.ModelVersion, cur)
	if err != nil {
		p.rejected.TooManyVersions++
		return err
	}
	p.started, p.cur = true, cur
	s := v.slot(b, p.k)

	cell := tn
	switch {
	case o.Flagged && o.IsFraud:
		cell = tp
	case o.Flagged:
		cell = fp
	case o.IsFraud:
		cell = fn
	}
	class := 0
	if o.IsFraud {
		class = 1
		s.c.frauds++
	}
	bins := p.cfg.ScoreBins
	bin := p.scoreBin(o.Score)
	s.c.outcomes++
	s.c.w[naive][cell]++
	s.c.w2[naive][cell]++
	s.scores[class*bins+bin]++
	if o.Action != schemas.ActionDecline {
		// Observed because approved, which happens with probability
		// Propensity: Horvitz–Thompson weight 1/Propensity.
		w := 1 / o.Propensity
		s.c.ipwOutcomes++
		if o.Flagged {
			s.c.exploredFlagged++
		}
		s.c.w[ipw][cell] += w
		s.c.w2[ipw][cell] += w * w
		s.scores[(2+class)*bins+bin] += w
	} else {
		s.c.declinedLabelled++
	}
	d := o.LabelTimeMillis - o.EventTimeMillis
	if d < 0 {
		s.c.negativeDelays++
	}
	s.delays[delayBin(d)]++
	return nil
}

// ObserveDecision counts one decision of a model version at its time (the
// decision's event time): flagged as logged, declined if its action was
// decline. The counts give label coverage and the exact flag and decline
// rates. Decisions share the window (and its clock) with outcomes.
func (p *Performance) ObserveDecision(modelVersion string, timeMillis int64, flagged, declined bool) error {
	b, cur, err := p.place(timeMillis)
	if err != nil {
		p.rejected.Stale++
		return err
	}
	v, err := p.version(modelVersion, cur)
	if err != nil {
		p.rejected.TooManyVersions++
		return err
	}
	p.started, p.cur = true, cur
	s := v.slot(b, p.k)
	s.c.decisions++
	if flagged {
		s.c.decisionsFlagged++
	}
	if declined {
		s.c.decisionsDeclined++
	}
	return nil
}

// AdvanceTo moves the window's end to timeMillis if that is later than every
// record seen, so that a quiet stream still expires old records (pass a time
// taken from the log, e.g. the labels topic's record timestamp).
func (p *Performance) AdvanceTo(timeMillis int64) {
	b := floorDiv(timeMillis, p.subMillis)
	if !p.started || b > p.cur {
		p.started, p.cur = true, b
	}
}

// scoreBin maps a score in [0, 1] to its logit-scale bin.
func (p *Performance) scoreBin(s float64) int {
	last := p.cfg.ScoreBins - 1
	if s <= 0 {
		return 0
	}
	if s >= 1 {
		return last
	}
	x := (math.Log(s/(1-s)) + p.cfg.MaxAbsLogit) * p.binScale
	if !(x > 0) {
		return 0
	}
	if x >= float64(last) {
		return last
	}
	return int(x)
}

// KeyMetrics are the figures a model version is judged by: the precision and
// recall of its deployed threshold, ROC-AUC and PR-AUC (average precision).
// NaN = unknown.
type KeyMetrics struct {
	Precision, Recall, ROCAUC, PRAUC float64
}

// ReferenceFromMetrics takes a bundle's test-period figures of its model
// (models.ModelMetrics, model "lightgbm" in Bundle.Meta.Metrics.Test) as the
// reference for [Performance.SetReference]; missing figures become NaN.
func ReferenceFromMetrics(m models.ModelMetrics) KeyMetrics {
	f := func(p *float64) float64 {
		if p == nil {
			return math.NaN()
		}
		return *p
	}
	return KeyMetrics{Precision: f(m.PrecisionAtThreshold), Recall: f(m.RecallAtThreshold), ROCAUC: f(m.ROCAUC), PRAUC: f(m.PRAUC)}
}

// SetReference sets the figures a model version's IPW estimates are compared
// with (VersionPerformance.RelativeChange), typically from the bundle's test
// period when the version is loaded. It counts as a model version towards
// MaxModelVersions.
func (p *Performance) SetReference(modelVersion string, ref KeyMetrics) error {
	v, err := p.version(modelVersion, p.cur)
	if err != nil {
		return err
	}
	v.ref = &ref
	return nil
}

// PerformanceSnapshot is the state of a [Performance] window.
type PerformanceSnapshot struct {
	// WindowStartMillis and WindowEndMillis bound the label (and decision)
	// times in the window: [start, end). Both 0 before the first record.
	WindowStartMillis, WindowEndMillis int64
	// Rejected counts records not taken, since creation.
	Rejected Rejections
	// Versions has the model versions with records in the window, sorted by
	// name.
	Versions []VersionPerformance
}

// VersionPerformance are one model version's figures over the window.
// Ratios with a zero denominator are NaN.
type VersionPerformance struct {
	ModelVersion string
	// Outcomes is the number of labelled outcomes, Frauds those labelled
	// fraud.
	Outcomes, Frauds uint64
	// IPWOutcomes are the outcomes that enter the IPW estimator (the
	// non-declined ones); ExploredFlagged those among them that were flagged
	// (explored): the sample behind every IPW figure about flagged
	// transactions. DeclinedLabelled are outcomes of declined transactions,
	// which only the naive estimator takes (see the package documentation).
	IPWOutcomes, ExploredFlagged, DeclinedLabelled uint64
	// Decisions counted by ObserveDecision, and those flagged and declined.
	Decisions, DecisionsFlagged, DecisionsDeclined uint64
	// LabelCoverage is Outcomes / Decisions: labels by label time over
	// decisions by decision time in the same window, which is the share of
	// decisions that get a label when traffic and label delay are steady
	// and the delay is short against the window.
	LabelCoverage float64
	// DecisionFlagRate and DecisionDeclineRate are exact, from the decision
	// counts: the IPW DeclineRate should agree with DecisionFlagRate.
	DecisionFlagRate, DecisionDeclineRate float64
	// Naive and IPW are the two estimates of the deployed rule's figures.
	Naive, IPW Estimates
	// LabelDelay is the distribution of label time − event time.
	LabelDelay LabelDelay
	// Reference, if set with SetReference, and RelativeChange =
	// (IPW − Reference)/Reference for each figure; the seed's checklist
	// alerts when a figure drops by more than 5% ([PerformanceDropAlert]),
	// i.e. RelativeChange < −0.05. NaN without a reference.
	Reference, RelativeChange KeyMetrics
}

// Estimates are the figures of the deployed decision rule (flagged = score ≥
// threshold, as logged) under one estimator.
type Estimates struct {
	// Weight is the sum of the outcomes' weights: for IPW, the estimated
	// number of transactions the outcomes stand for.
	Weight float64
	// Precision = TP/(TP+FP), Recall = TP/(TP+FN), FPR = FP/(FP+TN), and
	// DeclineRate = (TP+FP)/all, the share flagged (what would be declined
	// without exploration; models.ModelMetrics.DeclineRate), with weighted
	// confusion counts.
	Precision, Recall, FPR, DeclineRate float64
	// PrecisionSE, RecallSE and FPRSE are approximate standard errors
	// (linearised ratio estimators, √(Σ w_i²(y_i − R x_i)²)/Σ w_i x_i, which
	// is the binomial standard error for weights 1 and conservative for IPW).
	PrecisionSE, RecallSE, FPRSE float64
	// ROCAUC and PRAUC (average precision, as sklearn's
	// average_precision_score) from the weighted score histograms; scores
	// in one bin count as ties.
	ROCAUC, PRAUC float64
}

// LabelDelay summarises label time − event time from a bounded log-scale
// histogram (40 bins per decade from 1 s to 10^8 s): quantiles are
// interpolated within a bin and are within its width, 6%, of the exact ones.
type LabelDelay struct {
	Count uint64
	// P50, P90 and P99 in seconds.
	P50, P90, P99 float64
	// Negative counts labels timed before their transaction (a data error;
	// counted as delays under 1 s).
	Negative uint64
}

// Snapshot computes the figures of the current window. It costs
// O(versions × SubWindows × ScoreBins) and allocates the result.
func (p *Performance) Snapshot() PerformanceSnapshot {
	s := PerformanceSnapshot{Rejected: p.rejected}
	if p.started {
		s.WindowStartMillis = (p.cur - p.k + 1) * p.subMillis
		s.WindowEndMillis = (p.cur + 1) * p.subMillis
	}
	names := make([]string, 0, len(p.versions))
	for n, v := range p.versions {
		if v.hasData(p.cur, p.k) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	bins := p.cfg.ScoreBins
	scores := make([]float64, 4*bins)
	delays := make([]uint64, delayCells)
	for _, name := range names {
		v := p.versions[name]
		var c perfCounts
		clear(scores)
		clear(delays)
		for b := p.cur - p.k + 1; b <= p.cur; b++ { // oldest first: a fixed summation order
			sl := &v.slots[((b%p.k)+p.k)%p.k]
			if !sl.live || sl.bucket != b {
				continue
			}
			c.add(&sl.c)
			for i, x := range sl.scores {
				scores[i] += x
			}
			for i, x := range sl.delays {
				delays[i] += uint64(x)
			}
		}
		vp := VersionPerformance{
			ModelVersion: name, Outcomes: c.outcomes, Frauds: c.frauds,
			IPWOutcomes: c.ipwOutcomes, ExploredFlagged: c.exploredFlagged, DeclinedLabelled: c.declinedLabelled,
			Decisions: c.decisions, DecisionsFlagged: c.decisionsFlagged, DecisionsDeclined: c.decisionsDeclined,
			LabelCoverage:       ratio(float64(c.outcomes), float64(c.decisions)),
			DecisionFlagRate:    ratio(float64(c.decisionsFlagged), float64(c.decisions)),
			DecisionDeclineRate: ratio(float64(c.decisionsDeclined), float64(c.decisions)),
			Naive:               estimates(&c.w[naive], &c.w2[naive], scores[0:2*bins], bins),
			IPW:                 estimates(&c.w[ipw], &c.w2[ipw], scores[2*bins:4*bins], bins),
			LabelDelay:          delayQuantiles(delays, c.negativeDelays),
		}
		nan := math.NaN()
		vp.Reference = KeyMetrics{nan, nan, nan, nan}
		vp.RelativeChange = vp.Reference
		if v.ref != nil {
			r := *v.ref
			vp.Reference = r
			vp.RelativeChange = KeyMetrics{
				Precision: (vp.IPW.Precision - r.Precision) / r.Precision,
				Recall:    (vp.IPW.Recall - r.Recall) / r.Recall,
				ROCAUC:    (vp.IPW.ROCAUC - r.ROCAUC) / r.ROCAUC,
				PRAUC:     (vp.IPW.PRAUC - r.PRAUC) / r.PRAUC,
			}
		}
		s.Versions = append(s.Versions, vp)
	}
	return s
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}

// estimates computes one estimator's figures from its confusion sums w (of
// weights) and w2 (of squared weights) and its score histograms (legit bins,
// then fraud bins).
func estimates(w, w2 *[4]float64, scores []float64, bins int) Estimates {
	tot := w[tp] + w[fp] + w[fn] + w[tn]
	e := Estimates{
		Weight:      tot,
		Precision:   ratio(w[tp], w[tp]+w[fp]),
		Recall:      ratio(w[tp], w[tp]+w[fn]),
		FPR:         ratio(w[fp], w[fp]+w[tn]),
		DeclineRate: ratio(w[tp]+w[fp], tot),
	}
	// Ratio R = Σ w y / Σ w x over the units with x = 1; its linearised
	// variance is Σ w² (y − R)² / (Σ w)² over those units, i.e. with the
	// units split by y: (w2[y=1]·(1−R)² + w2[y=0]·R²) / (Σ w)².
	se := func(r, w2Yes, w2No, den float64) float64 {
		return math.Sqrt(w2Yes*(1-r)*(1-r)+w2No*r*r) / den
	}
	e.PrecisionSE = se(e.Precision, w2[tp], w2[fp], w[tp]+w[fp])
	e.RecallSE = se(e.Recall, w2[tp], w2[fn], w[tp]+w[fn])
	e.FPRSE = se(e.FPR, w2[fp], w2[tn], w[fp]+w[tn])
	e.ROCAUC, e.PRAUC = histogramAUC(scores[:bins], scores[bins:])
	return e
}

// histogramAUC returns ROC-AUC and average precision from per-bin weights of
// legit and fraud outcomes, bins in ascending score order. ROC-AUC is
// P(fraud bin > legit bin) + ½·P(same bin) (the Mann–Whitney form, ties
// halved); average precision is Σ over bins from the top of
// (ΔRecall)·Precision at that bin's threshold, each bin one threshold (ties
// as in sklearn). Both NaN without frauds; ROC-AUC NaN without legit ones.
func histogramAUC(legit, fraud []float64) (roc, ap float64) {
	var totL, totF float64
	for i := range legit {
		totL += legit[i]
		totF += fraud[i]
	}
	if !(totF > 0) {
		return math.NaN(), math.NaN()
	}
	var below, area float64
	for i := range legit {
		area += fraud[i] * (below + legit[i]/2)
		below += legit[i]
	}
	roc = math.NaN()
	if totL > 0 {
		roc = area / (totF * totL)
	}
	var cf, cl float64
	for i := len(legit) - 1; i >= 0; i-- {
		if fraud[i] == 0 {
			cl += legit[i]
			continue
		}
		cf += fraud[i]
		cl += legit[i]
		ap += fraud[i] / totF * (cf / (cf + cl))
	}
	return roc, ap
}

// Label delay histogram: cell 0 holds delays under 1 s (and negative ones),
// cells 1..delayDecades·delayPerDecade hold [10^((j−1)/40), 10^(j/40)) s, and
// the last cell delays of 10^8 s (3.2 years) or more.
const (
	delayPerDecade = 40
	delayDecades   = 8
	delayCells     = delayPerDecade*delayDecades + 2
)

func delayBin(ms int64) int {
	sec := float64(ms) / 1000
	if !(sec >= 1) {
		return 0
	}
	j := int(math.Log10(sec) * delayPerDecade)
	if j >= delayPerDecade*delayDecades {
		return delayCells - 1
	}
	return 1 + j
}

func delayQuantiles(cells []uint64, negative uint64) LabelDelay {
	var n uint64
	for _, c := range cells {
		n += c
	}
	d := LabelDelay{Count: n, Negative: negative}
	d.P50, d.P90, d.P99 = delayQuantile(cells, n, 0.5), delayQuantile(cells, n, 0.9), delayQuantile(cells, n, 0.99)
	return d
}

// delayQuantile interpolates the q-quantile (seconds) within the cell holding
// it: linearly in [0, 1) s, geometrically in the log-scale cells.
func delayQuantile(cells []uint64, n uint64, q float64) float64 {
	if n == 0 {
		return math.NaN()
	}
	target := q * float64(n)
	var cum float64
	for j, c := range cells {
		if c == 0 {
			continue
		}
		if cum+float64(c) < target && j < len(cells)-1 {
			cum += float64(c)
			continue
		}
		f := min(1, max(0, (target-cum)/float64(c)))
		switch {
		case j == 0:
			return f
		case j == len(cells)-1:
			return math.Pow(10, delayDecades)
		default:
			return math.Pow(10, (float64(j-1)+f)/delayPerDecade)
		}
	}
	return math.NaN() // unreachable: the loop returns at the last non-empty cell
}
