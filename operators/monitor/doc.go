// Package monitor watches a deployed model: whether live inputs and scores
// still look like the training baseline (drift), whether inputs go missing
// (null rates), and how the deployed decision rule performs once delayed
// fraud labels arrive (performance). It is the seed's monitoring checklist
// made into streaming, deterministic, bounded-memory operators over plain
// values; the pipeline exports their snapshots as Prometheus gauges.
//
// Start with [NewDrift] (features and score against the bundle's
// [models.Baseline]), [NewNullRates] (the transaction's optional fields) and
// [NewPerformance] (labelled outcomes). Each has an Observe for the hot path,
// which never allocates, and a Snapshot that computes the figures.
//
// # Properties every monitor keeps
//
//   - Bounded memory: sliding windows are rings of sub-windows of counters
//     (an old sub-window leaves whole, in O(1) per event amortised), never
//     lists of events or per-card state. Drift: SubWindows × Σ(bins+1)
//     uint32 (10 × 222 for the default bundle, 9 KB). Performance: per
//     model version SubWindows × (4 × ScoreBins float64 + 322 uint32), about
//     1 MB with the defaults (30 × 1000 bins), at most MaxModelVersions (8).
//   - Deterministic: no clock, no map order, no randomness. A count window
//     moves with the events; the performance window moves with the newest
//     label or decision time seen (or [Performance.AdvanceTo]), times that
//     come from the log. Floating-point sums run in a fixed order (oldest
//     sub-window first), so the same inputs give the same snapshot, bit for
//     bit.
//   - Not safe for concurrent use: a partition task owns its monitors and
//     calls Snapshot itself (e.g. on a ticker in its loop), then hands the
//     snapshot, a plain value, to the metrics side.
//
// # Drift
//
// For every feature and for the score, over the last [CountWindow].Events
// events (default 100,000), against the baseline's quantile histogram (bins
// by [models.Histogram.Bin]'s rule, plus a null bin for NaN):
//
//	PSI = Σ_i (a_i − e_i)·ln(a_i/e_i)
//
// over the bins and the null bin, a_i the window's share, e_i the baseline's,
// both floored at ε = 1e-4 ([DriftConfig].PSIEpsilon) so that an empty bin
// gives a large finite term instead of ∞ (not renormalised afterwards).
//
// KS is the two-sample Kolmogorov–Smirnov statistic of the finite values,
// computed on binned data: max |F_baseline − F_window| over the baseline's
// inner bin edges, each F the cumulative share among finite values. It is
// a lower bound of the raw-data statistic and blind to moves inside a bin
// (10 quantile bins for the shipped bundles). Its p-value is the asymptotic
// Kolmogorov distribution at λ = (√n + 0.12 + 0.11/√n)·D (Stephens'
// correction) with n = n_w·n_b/(n_w+n_b), n_b the baseline's finite rows
// (infinite if the bundle does not say). It assumes independent draws; with
// tens of thousands of events a CDF shift of ~1% is already "significant"
// at 0.001, so read it alongside PSI, which measures size.
//
// The null rate of each feature is the window's share of NaN, beside the
// baseline's null fraction. The transaction's own optional fields (country,
// device_id, ip, lat/lon) have no baseline; [NullRates] tracks their null
// share from booleans ([InputNulls]).
//
// Prediction drift compares the score's mean and variance with the
// baseline's: MeanShiftSigmas = |mean_w − mean_b|/sd_b and VarianceRatio =
// var_w/var_b. The bundle format (fraudstream.model-bundle/1) records no
// score mean or variance, so by default both are derived from the score
// histogram with each bin's mass at its midpoint, and, to compare like with
// like, the window's are derived the same way from its counts in the same
// bins (an exact window mean against a midpoint baseline mean would show a
// shift where there is none: the default model's top decile spans [0.016,
// 0.998]). When exact baseline moments are known, pass them as
// [DriftConfig].BaselineScoreMoments and the window's exact moments are
// compared instead. [ScoreDrift] reports both kinds and the source.
//
// # Performance
//
// Labelled outcomes (a decision joined with its label) enter a label-time
// window (default 30 days in 1-day sub-windows), per model version. For the
// deployed rule (flagged = score ≥ threshold, as logged) the monitor
// estimates precision, recall, false-positive rate and the flagged share
// ("decline rate" as in the bundle's metrics), ROC-AUC and PR-AUC (average
// precision) from bounded per-class score histograms, the label delay
// distribution, and label coverage (outcomes over decisions, the decisions
// being fed by [Performance.ObserveDecision]).
//
// The difficulty is the feedback loop the seed warns about: a declined
// transaction never completes, so its label is never known. The
// label-join stage emits outcomes only for transactions that went through:
// the unflagged ones (propensity 1) and the share ε of flagged ones let
// through for exploration (propensity ε, chosen by hash, independently of
// anything else). Labels as they come therefore hold every unflagged
// transaction but only ε of the flagged ones. Two estimators read them:
//
//	outcome                                naive weight   IPW weight
//	not flagged (approve or review), p=1        1              1
//	flagged, explored (approve), p=ε            1              1/ε
//	flagged, declined, p=1−ε                    1          excluded (0)
//
// IPW (Horvitz–Thompson; Stripe Radar's counterfactual evaluation) weighs
// each observed outcome by the inverse of its probability of being
// observed. A transaction's label is observed exactly when the policy let
// it through, which happens with the logged propensity of the approve
// action: 1 if unflagged, ε if flagged. So each explored transaction stands
// for 1/ε flagged ones, and weighted sums estimate the totals over all
// decided transactions: TP̂ = Σ_{explored frauds} 1/ε, FN̂ = unflagged
// frauds, and so on; precision = TP̂/(TP̂+FP̂), recall = TP̂/(TP̂+FN̂).
// Declined outcomes are not part of this sampling design: if some do
// arrive (a backtest with hindsight, a dispute on a declined attempt),
// weighting them by 1/(1−ε) would count the flagged transactions twice, so
// IPW leaves them out (VersionPerformance.DeclinedLabelled counts them).
//
// Naive takes every outcome as it comes, weight 1. In production it sees
// the flagged side ε-thinned, so recall, FPR, the flagged share and ROC-AUC
// are badly biased (recall 0.067 for a true 0.58 in the acceptance test,
// TestIPWSimulation). Its precision happens to be unbiased, because
// exploration is uniform over flagged transactions; IPW stays right when it
// is not (e.g. a different ε per segment). Given every label (a backtest),
// naive is the exact figure.
//
// Assumptions of the IPW estimates: the logged propensity is the true
// probability of approval (hash exploration with ε a multiple of 1/1000, as
// package decide logs it); ε > 0 (positivity: with ε = 0 nothing flagged is
// ever observed and TP̂ is 0); every approved transaction eventually gets an
// outcome, fraud or not, and the label-time window holds a representative
// mix of them (if fraud labels arrive much faster than the "no fraud after
// the horizon" outcomes, a window of recent labels over-represents fraud in
// both estimators alike). Figures are ratios of estimated totals, so
// consistent rather than exactly unbiased; their precision depends on the
// number of explored flagged outcomes (ExploredFlagged), and the monitor
// reports linearised standard errors, √(Σ w_i²(y_i − R·x_i)²)/Σ w_i·x_i
// (binomial for weight 1; for IPW conservative, as it includes the
// outcome's own randomness, not only the exploration draw). With ~4,800
// explored flagged outcomes the SE of precision and recall is ~0.007.
//
// ROC-AUC (Mann–Whitney, ties halved) and PR-AUC (average precision, ties
// grouped as in sklearn) come from per-class, per-estimator histograms of
// ScoreBins (1000) bins equal-width in logit(score) over [−16, 16]. Fraud
// scores crowd near 0, where equal-width probability bins would tie most
// transactions; logit bins are ~3% wide in odds everywhere, and the
// histogram figures stay within 0.005 of the exact ones
// (TestHistogramAUCMatchesExact; measured 3e-5 ROC, 2e-3 PR).
//
// Label delay (label time − event time) is kept in a log-scale histogram,
// 40 bins per decade from 1 s to 10^8 s; its quantiles are within one bin
// (6%). Label coverage is outcomes by label time over decisions by decision
// time in the same window: the labelled share when traffic and delays are
// steady and the delay is short against the window.
//
// # The monitoring checklist
//
//	what                     figure                                  alert (constant)
//	input data quality       NullRates, FeatureDrift.NullRate        vs BaselineNullRate (rule's choice)
//	feature drift            FeatureDrift.PSI, KSPValue              PSI > 0.2 [PSIAlert], p < 0.001 [KSPValueAlert]
//	prediction drift         ScoreDrift.MeanShiftSigmas, VarianceRatio   > 2 sigma [MeanShiftSigmasAlert]
//	model performance        VersionPerformance.IPW, RelativeChange  drop > 5% [PerformanceDropAlert]
//
// Latency and throughput, the checklist's last lines, are the pipeline's
// own metrics.
package monitor
