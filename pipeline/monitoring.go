package pipeline

import (
	"math"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fraudstream/fraudstream/operators/features"
	"github.com/fraudstream/fraudstream/operators/labeljoin"
	"github.com/fraudstream/fraudstream/operators/monitor"
	"github.com/fraudstream/fraudstream/schemas"
)

// Monitoring feeds the seed's monitoring checklist: feature and prediction
// drift against the serving bundle's baselines, input null rates, and naive
// vs inverse-propensity-weighted performance from joined outcomes. It is fed
// once per committed batch (so aborted work is never counted) and exported
// to Prometheus gauges at most every ExportEvery.
type Monitoring struct {
	mu           sync.Mutex
	m            *monitorMetrics
	drift        *monitor.Drift
	driftVersion string
	nulls        *monitor.NullRates
	perf         *monitor.Performance
	refs         map[string]bool
	lastExport   time.Time
	// ExportEvery bounds how often snapshots are computed (default 5s).
	ExportEvery time.Duration
}

type monitorMetrics struct {
	featurePSI, featureKS, featureKSP, featureNull *prometheus.GaugeVec // feature
	inputNull                                      *prometheus.GaugeVec // field
	scorePSI, scoreShift, scoreVarRatio            *prometheus.GaugeVec // model_version
	precision, recall, fpr, prAUC, rocAUC          *prometheus.GaugeVec // model_version, estimator
	declineRate, coverage                          *prometheus.GaugeVec // model_version
	basePRAUC, baseRecall                          *prometheus.GaugeVec // model_version
}

func newMonitorMetrics(r *prometheus.Registry, track *[]prometheus.Collector) *monitorMetrics {
	g := func(name, help string, labels ...string) *prometheus.GaugeVec {
		v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
		r.MustRegister(v)
		if track != nil {
			*track = append(*track, v)
		}
		return v
	}
	return &monitorMetrics{
		featurePSI:    g("fraudstream_feature_psi", "Population stability index of a feature, recent window vs the bundle's training baseline.", "feature"),
		featureKS:     g("fraudstream_feature_ks", "Kolmogorov-Smirnov statistic (binned) of a feature vs its baseline.", "feature"),
		featureKSP:    g("fraudstream_feature_ks_pvalue", "Asymptotic p-value of the feature's KS statistic.", "feature"),
		featureNull:   g("fraudstream_feature_null_rate", "Share of missing (NaN) values of a feature in the recent window.", "feature"),
		inputNull:     g("fraudstream_input_null_rate", "Share of transactions with a null optional field in the recent window.", "field"),
		scorePSI:      g("fraudstream_score_psi", "Population stability index of the model score vs the bundle's baseline.", "model_version"),
		scoreShift:    g("fraudstream_score_mean_shift_sigmas", "Shift of the score mean from the baseline, in baseline standard deviations.", "model_version"),
		scoreVarRatio: g("fraudstream_score_variance_ratio", "Score variance over the baseline's.", "model_version"),
		precision:     g("fraudstream_model_precision", "Precision of the deployed threshold over the label window.", "model_version", "estimator"),
		recall:        g("fraudstream_model_recall", "Recall of the deployed threshold over the label window.", "model_version", "estimator"),
		fpr:           g("fraudstream_model_false_positive_rate", "False-positive rate of the deployed threshold over the label window.", "model_version", "estimator"),
		prAUC:         g("fraudstream_model_pr_auc", "PR-AUC (average precision) over the label window, from score histograms.", "model_version", "estimator"),
		rocAUC:        g("fraudstream_model_roc_auc", "ROC-AUC over the label window, from score histograms.", "model_version", "estimator"),
		declineRate:   g("fraudstream_model_decline_rate", "Share of decisions flagged (declined or explored).", "model_version"),
		coverage:      g("fraudstream_label_coverage_ratio", "Labelled outcomes over decisions in the label window.", "model_version"),
		basePRAUC:     g("fraudstream_model_baseline_pr_auc", "The bundle's test-period PR-AUC (the reference for performance alerts).", "model_version"),
		baseRecall:    g("fraudstream_model_baseline_recall", "The bundle's test-period recall at its threshold.", "model_version"),
	}
}

// NewMonitoring registers the monitoring gauges on m's registry.
func NewMonitoring(m *Metrics) (*Monitoring, error) {
	nulls, err := monitor.NewNullRates(monitor.InputFields(), monitor.CountWindow{})
	if err != nil {
		return nil, err
	}
	perf, err := monitor.NewPerformance(monitor.PerformanceConfig{})
	if err != nil {
		return nil, err
	}
	return &Monitoring{m: newMonitorMetrics(m.Registry, &m.collectors), nulls: nulls, perf: perf, refs: map[string]bool{}, ExportEvery: 5 * time.Second}, nil
}

// serving switches drift monitoring to s's baselines (a new model).
func (mo *Monitoring) serving(s *Serving) {
	if s.bundle == nil || mo.driftVersion == s.version {
		return
	}
	d, err := monitor.NewDrift(s.bundle.Meta.Baseline, features.Names(), monitor.DriftConfig{})
	if err != nil {
		// A bundle without usable baselines serves, without drift figures.
		mo.drift, mo.driftVersion = nil, s.version
		return
	}
	mo.drift, mo.driftVersion = d, s.version
	if !mo.refs[s.version] {
		for _, mm := range s.bundle.Meta.Metrics.Test {
			if mm.Model == "lightgbm" {
				_ = mo.perf.SetReference(s.version, monitor.ReferenceFromMetrics(mm))
				if mm.PRAUC != nil {
					mo.m.basePRAUC.WithLabelValues(s.version).Set(*mm.PRAUC)
				}
				if mm.RecallAtThreshold != nil {
					mo.m.baseRecall.WithLabelValues(s.version).Set(*mm.RecallAtThreshold)
				}
			}
		}
		mo.refs[s.version] = true
	}
}

// observe feeds one task's committed batch.
func (mo *Monitoring) observe(s *Serving, st *batchStats) {
	mo.mu.Lock()
	defer mo.mu.Unlock()
	mo.serving(s)
	nf := features.Count
	nn := len(monitor.InputFields())
	for i := range st.scores {
		if mo.drift != nil {
			mo.drift.Observe(st.features[i*nf:(i+1)*nf], st.scores[i])
		}
		mo.nulls.Observe(st.nulls[i*nn : (i+1)*nn])
		_ = mo.perf.ObserveDecision(s.version, st.eventMs[i], st.flagged[i], st.declined[i])
	}
	for i := range st.outcomes {
		o := &st.outcomes[i]
		_ = mo.perf.Observe(&monitor.Outcome{ModelVersion: o.ModelVersion, Score: o.Score, Threshold: o.Threshold,
			Action: o.Action, Flagged: o.Flagged, Explored: o.Explored, Propensity: o.Propensity, IsFraud: o.IsFraud,
			LabelTimeMillis: o.LabelTime, EventTimeMillis: o.EventTime})
	}
}

// export computes snapshots and sets the gauges, at most every ExportEvery
// (force: now).
func (mo *Monitoring) export(force bool) {
	mo.mu.Lock()
	defer mo.mu.Unlock()
	if !force && time.Since(mo.lastExport) < mo.ExportEvery {
		return
	}
	mo.lastExport = time.Now()
	m := mo.m
	if mo.drift != nil {
		ds := mo.drift.Snapshot()
		if ds.Events > 0 {
			for _, f := range ds.Features {
				setFinite(m.featurePSI.WithLabelValues(f.Name), f.PSI)
				setFinite(m.featureKS.WithLabelValues(f.Name), f.KS)
				setFinite(m.featureKSP.WithLabelValues(f.Name), f.KSPValue)
				setFinite(m.featureNull.WithLabelValues(f.Name), f.NullRate)
			}
			setFinite(m.scorePSI.WithLabelValues(mo.driftVersion), ds.Score.PSI)
			setFinite(m.scoreShift.WithLabelValues(mo.driftVersion), ds.Score.MeanShiftSigmas)
			setFinite(m.scoreVarRatio.WithLabelValues(mo.driftVersion), ds.Score.VarianceRatio)
		}
	}
	for _, f := range mo.nulls.Snapshot().Fields {
		setFinite(m.inputNull.WithLabelValues(f.Name), f.NullRate)
	}
	for _, v := range mo.perf.Snapshot().Versions {
		for est, e := range map[string]monitor.Estimates{"naive": v.Naive, "ipw": v.IPW} {
			setFinite(m.precision.WithLabelValues(v.ModelVersion, est), e.Precision)
			setFinite(m.recall.WithLabelValues(v.ModelVersion, est), e.Recall)
			setFinite(m.fpr.WithLabelValues(v.ModelVersion, est), e.FPR)
			setFinite(m.prAUC.WithLabelValues(v.ModelVersion, est), e.PRAUC)
			setFinite(m.rocAUC.WithLabelValues(v.ModelVersion, est), e.ROCAUC)
		}
		setFinite(m.declineRate.WithLabelValues(v.ModelVersion), v.DecisionFlagRate)
		setFinite(m.coverage.WithLabelValues(v.ModelVersion), v.LabelCoverage)
	}
}

// setFinite sets a gauge unless v is NaN (unknown stays at its last value
// rather than flapping the alerts).
func setFinite(g prometheus.Gauge, v float64) {
	if !math.IsNaN(v) {
		g.Set(v)
	}
}

var _ = schemas.ActionDecline
var _ labeljoin.Outcome

// MonitorSummary is a terminal-sized digest of the monitoring figures.
type MonitorSummary struct {
	MaxPSI         float64 // largest feature PSI
	MaxPSIFeature  string
	AmountPSI      float64 // PSI of the amount feature
	ScorePSI       float64
	IPWRecall      float64 // of the serving model version (NaN if unknown)
	NaiveRecall    float64
	IPWPrecision   float64
	Outcomes       uint64
	ServingVersion string
}

// Summary computes a MonitorSummary now.
func (r *Runner) MonitorSummary() MonitorSummary {
	mo := r.monitoring
	mo.mu.Lock()
	defer mo.mu.Unlock()
	sum := MonitorSummary{MaxPSI: math.NaN(), AmountPSI: math.NaN(), ScorePSI: math.NaN(), IPWRecall: math.NaN(), NaiveRecall: math.NaN(),
		IPWPrecision: math.NaN(), ServingVersion: mo.driftVersion}
	if mo.drift != nil {
		ds := mo.drift.Snapshot()
		if ds.Events > 0 {
			for _, f := range ds.Features {
				if f.Name == "amount" {
					sum.AmountPSI = f.PSI
				}
				if math.IsNaN(sum.MaxPSI) || f.PSI > sum.MaxPSI {
					sum.MaxPSI, sum.MaxPSIFeature = f.PSI, f.Name
				}
			}
			sum.ScorePSI = ds.Score.PSI
		}
	}
	for _, v := range mo.perf.Snapshot().Versions {
		sum.Outcomes += v.Outcomes
		if v.ModelVersion == mo.driftVersion {
			sum.IPWRecall, sum.NaiveRecall, sum.IPWPrecision = v.IPW.Recall, v.Naive.Recall, v.IPW.Precision
		}
	}
	return sum
}
