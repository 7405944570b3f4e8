// Package models loads fraudstream model bundles and scores feature vectors
// with them.
//
// Start with [Load]: it reads a bundle directory, checks it against the
// pipeline's feature names, and returns a [Bundle] whose [Bundle.Score] turns
// one feature vector into a fraud probability. Everything else in the bundle
// (threshold rule, metrics, drift baselines) is in [Bundle.Meta].
//
// # Bundle format ("fraudstream.model-bundle/1")
//
// A bundle is a directory written by models/train.py:
//
//	model.txt    LightGBM text model (binary objective, sigmoid:1), written by
//	             LightGBM 3.3.5, the newest release whose format (version=v3)
//	             github.com/dmitryikh/leaves reads; 4.x writes version=v4.
//	bundle.json  everything else, below.
//
// bundle.json fields (required unless marked optional):
//
//	format               "fraudstream.model-bundle/1"
//	name, version        e.g. "default", "default-2026-11-27.1"
//	created_at           RFC 3339
//	feature_set          e.g. "fs1"
//	features             ordered [{"name": ..., "type": "float"}]: the exact
//	                     []float64 the pipeline passes to Score
//	objective            "binary"
//	threshold            score >= threshold => flagged; in [0, 1]
//	threshold_rule       how the threshold was chosen on the validation period
//	review_band          optional [lo, hi) with hi <= threshold: manual review
//	exploration_epsilon  optional, default 0.05; in [0, 1): the share of flagged
//	                     transactions let through so their outcome is learnt
//	model                optional facts: file, sha256 of model.txt (verified when
//	                     present), trees, LightGBM params
//	training_data        informational: input file and sha256, and the train /
//	                     validation / test periods (from, to, rows, frauds)
//	metrics              informational: {"test": [...], "validation": [...]}: per model
//	                     (lightgbm, logistic_regression, rules) ROC-AUC, PR-AUC,
//	                     recall and precision at its threshold, decline rate,
//	                     recall at 1% false-positive rate
//	baseline             drift baselines: one [Histogram] per feature (training
//	                     rows) in feature order, and one for the score
//	golden               at least one row {transaction_id, features (null = NaN),
//	                     score}, scored by LightGBM's own predict in Python
//
// Unknown fields are ignored, so a newer train.py may add facts.
//
// # Parity with LightGBM
//
// [Load] re-scores every golden row with leaves and refuses the bundle if any
// score differs from LightGBM's by more than [GoldenTolerance]. So a model.txt
// written by an unsupported LightGBM, edited by hand or paired with the wrong
// bundle.json never serves. Measured difference with LightGBM 3.3.5: the raw
// tree sums are bit-identical and probabilities differ by at most 2.2e-16 (the
// last bit of exp).
//
// # Missing values
//
// NaN means missing, as in training: LightGBM learnt a default direction for
// each split over a feature that had NaNs in training. A NaN in a feature that
// had none in training is treated as 0, in LightGBM and in leaves alike.
package models
