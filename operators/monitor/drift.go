package monitor

import (
	"fmt"
	"math"

	"github.com/fraudstream/fraudstream/models"
)

// DriftConfig configures a [Drift]. The zero value gives the defaults.
type DriftConfig struct {
	// Window is the sliding window of recent events compared with the
	// baseline (default: the last 100,000 events in 10 sub-windows).
	Window CountWindow
	// PSIEpsilon floors every bin share, expected and actual, before PSI
	// takes logarithms (default 1e-4, see [DriftSnapshot]). In (0, 0.01].
	PSIEpsilon float64
	// BaselineScoreMoments, when set, are the exact mean and variance of the
	// baseline scores (e.g. from the bundle, once train.py records them). The
	// window's exact score mean and variance are then compared with them.
	// When nil (bundle format fraudstream.model-bundle/1 has no such fields),
	// both sides are computed from the baseline score histogram's bin
	// midpoints, see [ScoreDrift].
	BaselineScoreMoments *Moments
}

// Moments are a distribution's mean and population variance.
type Moments struct {
	Mean, Variance float64
}

// Sources of ScoreDrift.BaselineMean and BaselineVariance.
const (
	MomentsFromConfig    = "config"
	MomentsFromMidpoints = "histogram_midpoints"
)

// Drift compares the distribution of every feature and of the score over a
// sliding window of recent events with the model bundle's baseline
// histograms. Memory is O(SubWindows × Σ bins), whatever the number of events
// or cards. Observe does not allocate.
//
// A Drift is not safe for concurrent use: the partition task that calls
// Observe also calls Snapshot (e.g. on a timer tick in its loop) and hands the
// snapshot, a plain value, to whatever exports it.
type Drift struct {
	names []string
	// Hot path: per variable (the features in order, then the score) its
	// cell offset and its inner edges edges[lo:hi], padded with +Inf to a
	// multiple of 4 (+Inf < x is false for every x, so padding never counts).
	ref   []binRef
	edges []float64
	vars  []binned // per variable, for Snapshot
	cells int
	ring  eventRing
	// scores holds per slot the exact moments of the slot's finite scores.
	scores  []moments
	cfg     DriftConfig
	baseMom Moments
	momSrc  string
	scratch []uint64
}

// binRef locates one variable's cells and edges. int32 keeps the hot slice
// small; NewDrift bounds the totals.
type binRef struct{ off, lo, hi int32 }

// maxCells bounds Σ (bins+1) over the variables.
const maxCells = 1 << 24

// b2i is 1 for true, 0 for false; it compiles to SETcc, without a branch.
func b2i(b bool) int32 {
	if b {
		return 1
	}
	return 0
}

// binned is one baseline histogram as Snapshot needs it. Its cells in a
// ring slot are [off] = null (NaN), [off+1+i] = bin i.
type binned struct {
	off      int
	inner    []float64 // inner edges, ascending
	expected []float64 // len 1+bins: null fraction, then the bin fractions
	mid      []float64 // bin midpoints (edges[i]+edges[i+1])/2
	rows     int       // baseline rows; 0 = unknown
	noFinite bool      // the baseline had no finite value: one catch-all bin, expected 0
}

func newBinned(h *models.Histogram, off int) (binned, error) {
	b := binned{off: off, rows: h.Rows}
	if h.Rows < 0 {
		return b, fmt.Errorf("rows %d < 0", h.Rows)
	}
	if !(h.NullFraction >= 0 && h.NullFraction <= 1) {
		return b, fmt.Errorf("null_fraction %v outside [0, 1]", h.NullFraction)
	}
	if len(h.Fractions) == 0 {
		if len(h.Edges) != 0 {
			return b, fmt.Errorf("%d edges but no bins", len(h.Edges))
		}
		b.noFinite = true
		b.expected = []float64{h.NullFraction, 0}
		b.mid = []float64{math.NaN()}
		return b, nil
	}
	if len(h.Edges) != len(h.Fractions)+1 {
		return b, fmt.Errorf("%d edges for %d bins (want bins+1)", len(h.Edges), len(h.Fractions))
	}
	for i := 1; i < len(h.Edges); i++ {
		if !(h.Edges[i-1] <= h.Edges[i]) {
			return b, fmt.Errorf("edges not ascending at index %d (%v then %v)", i, h.Edges[i-1], h.Edges[i])
		}
	}
	for i, f := range h.Fractions {
		if !(f >= 0 && f <= 1) {
			return b, fmt.Errorf("fractions[%d] = %v outside [0, 1]", i, f)
		}
	}
	b.inner = append([]float64(nil), h.Edges[1:len(h.Edges)-1]...)
	b.expected = append([]float64{h.NullFraction}, h.Fractions...)
	b.mid = make([]float64, len(h.Fractions))
	for i := range b.mid {
		b.mid[i] = h.Edges[i]/2 + h.Edges[i+1]/2
	}
	return b, nil
}

func (b *binned) cells() int { return len(b.expected) }

// NewDrift returns a drift monitor for vectors laid out as featureNames,
// against baseline (models.Bundle.Meta.Baseline). The baseline must have one
// histogram per feature with the same names in the same order, and a score
// histogram; it is copied. Errors wrap [ErrBaselineMismatch] or
// [ErrInvalidConfig].
func NewDrift(baseline models.Baseline, featureNames []string, cfg DriftConfig) (*Drift, error) {
	var err error
	if cfg.Window, err = cfg.Window.withDefaults("Window."); err != nil {
		return nil, err
	}
	if cfg.PSIEpsilon == 0 {
		cfg.PSIEpsilon = DefaultPSIEpsilon
	}
	if !(cfg.PSIEpsilon > 0 && cfg.PSIEpsilon <= 0.01) {
		return nil, fmt.Errorf("%w: PSIEpsilon: %v outside (0, 0.01] (0 means %v)", ErrInvalidConfig, cfg.PSIEpsilon, DefaultPSIEpsilon)
	}
	if m := cfg.BaselineScoreMoments; m != nil {
		if math.IsNaN(m.Mean) || math.IsInf(m.Mean, 0) || !(m.Variance >= 0) || math.IsInf(m.Variance, 0) {
			return nil, fmt.Errorf("%w: BaselineScoreMoments: mean %v must be finite and variance %v finite and ≥ 0", ErrInvalidConfig, m.Mean, m.Variance)
		}
		mm := *m
		cfg.BaselineScoreMoments = &mm
	}
	if len(baseline.Features) != len(featureNames) {
		return nil, fmt.Errorf("%w: %d baseline histograms for %d features; drift needs one per feature, in feature order (retrain the bundle with models/train.py)",
			ErrBaselineMismatch, len(baseline.Features), len(featureNames))
	}
	d := &Drift{names: append([]string(nil), featureNames...), cfg: cfg}
	off := 0
	add := func(h *models.Histogram, what string) error {
		b, err := newBinned(h, off)
		if err != nil {
			return fmt.Errorf("%w: baseline histogram of %s: %v", ErrBaselineMismatch, what, err)
		}
		off += b.cells()
		if off > maxCells {
			return fmt.Errorf("%w: baseline histograms have more than %d bins in all", ErrBaselineMismatch, maxCells)
		}
		lo := len(d.edges)
		d.edges = append(d.edges, b.inner...)
		for (len(d.edges)-lo)%4 != 0 {
			d.edges = append(d.edges, math.Inf(1))
		}
		d.ref = append(d.ref, binRef{off: int32(b.off), lo: int32(lo), hi: int32(len(d.edges))})
		d.vars = append(d.vars, b)
		return nil
	}
	for i := range baseline.Features {
		h := &baseline.Features[i]
		if h.Name != featureNames[i] {
			return nil, fmt.Errorf("%w: baseline histogram %d is for %q but feature %d is %q", ErrBaselineMismatch, i, h.Name, i, featureNames[i])
		}
		if err := add(&h.Histogram, fmt.Sprintf("%q", h.Name)); err != nil {
			return nil, err
		}
	}
	if err := add(&baseline.Score, "the score"); err != nil {
		return nil, err
	}
	sb := &d.vars[len(d.vars)-1]
	d.cells = off
	d.ring = newEventRing(d.cells, cfg.Window)
	d.scores = make([]moments, cfg.Window.SubWindows)
	d.scratch = make([]uint64, d.cells)
	if m := cfg.BaselineScoreMoments; m != nil {
		d.baseMom, d.momSrc = *m, MomentsFromConfig
	} else {
		d.baseMom, d.momSrc = sb.midpointMoments(sb.expected[1:]), MomentsFromMidpoints
	}
	return d, nil
}

// midpointMoments are the mean and population variance of a binned
// distribution with weights w over the bins, each bin's mass at its
// midpoint. NaN without finite mass.
func (b *binned) midpointMoments(w []float64) Moments {
	var tot, mean float64
	for i, x := range w {
		tot += x
		mean += x * b.mid[i]
	}
	if !(tot > 0) || b.noFinite {
		return Moments{math.NaN(), math.NaN()}
	}
	mean /= tot
	v := 0.0
	for i, x := range w {
		dm := b.mid[i] - mean
		v += x * dm * dm
	}
	return Moments{Mean: mean, Variance: v / tot}
}

// Observe adds one scored event: features in the order of the names given to
// NewDrift (NaN = missing) and its score. It does not allocate and does not
// keep features. It panics if len(features) differs from the number of
// feature names (a wiring bug, not a data problem).
func (d *Drift) Observe(features []float64, score float64) {
	nf := len(d.ref) - 1
	if len(features) != nf {
		panic(fmt.Sprintf("monitor: Drift.Observe got %d features, want %d", len(features), nf))
	}
	slot, c, fresh := d.ring.next()
	// Binning: a NaN goes to the variable's cell off, any other x to
	// off + 1 + its bin under models.Histogram.Bin's rule (bin i > 0 holds
	// edges[i] < x ≤ edges[i+1]; values beyond the range and ±Inf go to the
	// end bins). A baseline without finite values has one bin that takes
	// every non-NaN value (where Histogram.Bin would say -1).
	//
	// The inner edges ascend, so the bin is the number of edges below x,
	// counted over all of them four at a time with no early exit:
	// independent compares and adds, measured 2× faster than a scan that
	// stops at the first edge ≥ x (a mispredicted branch per variable) and
	// than a branchless binary search.
	edges := d.edges
	for i, r := range d.ref {
		x := score
		if i < nf {
			x = features[i]
		}
		k := r.off
		if x == x { // not NaN
			k++
			e := edges[r.lo:r.hi]
			for len(e) >= 4 {
				k += b2i(e[0] < x) + b2i(e[1] < x) + b2i(e[2] < x) + b2i(e[3] < x)
				e = e[4:]
			}
		}
		c[k]++
	}
	m := &d.scores[slot]
	if fresh {
		*m = moments{}
	}
	if !math.IsNaN(score) && !math.IsInf(score, 0) {
		m.add(score)
	}
}

// DriftSnapshot is the state of a [Drift] window. Figures that need at least
// one value are NaN while the window has none.
type DriftSnapshot struct {
	// Events is the number of events in the window, Seen the number observed
	// since the monitor was created.
	Events int
	Seen   uint64
	// Features has one entry per feature, in feature order.
	Features []FeatureDrift
	Score    ScoreDrift
}

// DistributionDrift compares one variable's window with its baseline.
type DistributionDrift struct {
	// PSI is Σ (a_i − e_i)·ln(a_i/e_i) over the baseline bins plus a null
	// bin (NaN values), a_i the window's share and e_i the baseline's, each
	// floored at DriftConfig.PSIEpsilon (default 1e-4) so that an empty bin
	// gives a large but finite term. Rule of thumb (the seed's checklist):
	// > 0.2 is a significant shift, see [PSIAlert].
	PSI float64
	// KS is the two-sample Kolmogorov–Smirnov statistic of the finite values
	// (nulls excluded on both sides), computed on binned data: the largest
	// difference between the baseline's and the window's cumulative shares at
	// the baseline's inner bin edges. It is therefore a lower bound of the KS
	// statistic of the raw values, and blind to shifts inside a bin.
	KS float64
	// KSPValue is the asymptotic Kolmogorov p-value of KS with effective
	// n = n_window·n_baseline/(n_window+n_baseline) over finite values
	// (n_baseline = baseline rows × (1 − null fraction); infinite when the
	// baseline does not record its rows). It assumes independent values,
	// which a window of transactions (several per card) only approximates,
	// and with n in the tens of thousands it falls below 0.001 for shifts of
	// about 1% of the CDF: read it together with PSI.
	KSPValue float64
	// NullRate is the window's share of NaN values, BaselineNullRate the
	// baseline's.
	NullRate, BaselineNullRate float64
}

// FeatureDrift is the drift of one named feature.
type FeatureDrift struct {
	Name string
	DistributionDrift
}

// ScoreDrift is the drift of the model score (prediction drift).
//
// The mean shift and variance ratio compare like with like. With
// DriftConfig.BaselineScoreMoments set, the window's exact moments (Mean,
// Variance) are compared with them. Without (the current bundle format), the
// baseline's moments come from its score histogram, each bin's mass at its
// midpoint, and so do the window's (BinnedMean, BinnedVariance: the window's
// scores counted in the same bins): comparing an exact window mean with a
// midpoint baseline mean would report a shift where there is none, since
// quantile bins of a skewed score are wide at the top (the default model's
// top decile spans [0.016, 0.998], all of it at 0.507). The binned moments
// see only shifts between bins, which PSI and KS see too; Mean and Variance
// are reported for dashboards either way.
type ScoreDrift struct {
	DistributionDrift
	// Mean and Variance are the exact mean and population variance of the
	// window's finite scores.
	Mean, Variance float64
	// BinnedMean and BinnedVariance are those of the window's finite scores
	// placed at their baseline bin's midpoint.
	BinnedMean, BinnedVariance float64
	// BaselineMean and BaselineVariance are the baseline's; BaselineSource
	// says where they come from: MomentsFromConfig or MomentsFromMidpoints.
	BaselineMean, BaselineVariance float64
	BaselineSource                 string
	// MeanShiftSigmas is |mean_window − BaselineMean| / √BaselineVariance,
	// mean_window being Mean or BinnedMean as above. The seed's checklist
	// alerts beyond 2 ([MeanShiftSigmasAlert]).
	MeanShiftSigmas float64
	// VarianceRatio is variance_window / BaselineVariance (1 = unchanged).
	VarianceRatio float64
}

// Alert thresholds of the seed's monitoring checklist, for the alert rules
// and dashboards that read these figures.
const (
	// PSIAlert: PSI above it is a significant distribution shift.
	PSIAlert = 0.2
	// KSPValueAlert: a KS p-value below it rejects "same distribution".
	KSPValueAlert = 0.001
	// MeanShiftSigmasAlert: a score mean shift beyond this many baseline
	// standard deviations (and by symmetry a variance ratio outside
	// [1/4, 4], i.e. the standard deviation off by 2×) is prediction drift.
	MeanShiftSigmasAlert = 2
	// PerformanceDropAlert: a relative drop of a performance figure from
	// its reference beyond this share (see [VersionPerformance]).
	PerformanceDropAlert = 0.05
)

// Snapshot computes the drift figures of the current window. It costs
// O(SubWindows × Σ bins) and allocates the result.
func (d *Drift) Snapshot() DriftSnapshot {
	tot := d.scratch
	n := d.ring.sum(tot)
	s := DriftSnapshot{Events: n, Seen: d.ring.seen, Features: make([]FeatureDrift, len(d.names))}
	for i, name := range d.names {
		h := &d.vars[i]
		s.Features[i] = FeatureDrift{Name: name, DistributionDrift: h.compare(tot[h.off:h.off+h.cells()], n, d.cfg.PSIEpsilon)}
	}
	h := &d.vars[len(d.names)]
	c := tot[h.off : h.off+h.cells()]
	sd := ScoreDrift{DistributionDrift: h.compare(c, n, d.cfg.PSIEpsilon)}
	var m moments
	d.ring.oldestFirst(func(slot int) { m.merge(d.scores[slot]) })
	sd.Mean, sd.Variance = math.NaN(), m.variance()
	if m.n > 0 {
		sd.Mean = m.mean
	}
	w := make([]float64, len(c)-1)
	for i, x := range c[1:] {
		w[i] = float64(x)
	}
	bm := h.midpointMoments(w)
	sd.BinnedMean, sd.BinnedVariance = bm.Mean, bm.Variance
	sd.BaselineMean, sd.BaselineVariance, sd.BaselineSource = d.baseMom.Mean, d.baseMom.Variance, d.momSrc
	wm, wv := sd.BinnedMean, sd.BinnedVariance
	if d.momSrc == MomentsFromConfig {
		wm, wv = sd.Mean, sd.Variance
	}
	sd.MeanShiftSigmas = math.Abs(wm-sd.BaselineMean) / math.Sqrt(sd.BaselineVariance)
	sd.VarianceRatio = wv / sd.BaselineVariance
	s.Score = sd
	return s
}

// compare computes PSI, KS and null rates of one variable's window counts c
// (null first) among n events.
func (b *binned) compare(c []uint64, n int, eps float64) DistributionDrift {
	r := DistributionDrift{
		PSI:              psi(c, uint64(n), b.expected, eps),
		NullRate:         math.NaN(),
		BaselineNullRate: b.expected[0],
		KS:               math.NaN(),
		KSPValue:         math.NaN(),
	}
	if n > 0 {
		r.NullRate = float64(c[0]) / float64(n)
	}
	if b.noFinite {
		return r // no baseline CDF to compare with
	}
	d, nw := binnedKS(c[1:], b.expected[1:])
	r.KS = d
	nb := float64(b.rows) * (1 - b.expected[0])
	r.KSPValue = ksPValue(d, float64(nw), nb)
	return r
}
