package models

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dmitryikh/leaves"
)

// Format is the bundle format this package reads (bundle.json "format").
const Format = "fraudstream.model-bundle/1"

// DefaultEpsilon is the exploration share used when bundle.json has no
// exploration_epsilon: 5% of flagged transactions are let through.
const DefaultEpsilon = 0.05

// GoldenTolerance is the largest |leaves − LightGBM| score difference [Load]
// accepts on golden rows. Measured differences are ≤ 2.2e-16; anything near
// this bound means a different model, not rounding.
const GoldenTolerance = 1e-9

// File names inside a bundle directory.
const (
	ModelFile  = "model.txt"
	BundleFile = "bundle.json"
)

// Bundle is a loaded model bundle. It is immutable after [Load] and safe for
// concurrent use.
type Bundle struct {
	// Dir is the directory the bundle was loaded from.
	Dir string
	// Name and Version identify the bundle in decisions, logs and metrics,
	// e.g. "default" and "default-2026-11-27.1".
	Name, Version string
	// CreatedAt is when the bundle was trained.
	CreatedAt time.Time
	// FeatureSet names the feature vector layout, e.g. "fs1".
	FeatureSet string
	// Features are the names of the feature vector's elements, in order.
	Features []string
	// Threshold: a score >= Threshold means flagged. In [0, 1].
	Threshold float64
	// ReviewBand, if not nil, is [lo, hi) with hi <= Threshold: scores in it
	// are approved but sent to manual review.
	ReviewBand *[2]float64
	// Epsilon is the share of flagged transactions let through (exploration),
	// in [0, 1).
	Epsilon float64
	// Meta is the rest of bundle.json: how the threshold was chosen, training
	// periods, metrics, drift baselines, golden rows.
	Meta BundleMeta

	model   *leaves.Ensemble // raw margins; Score applies the sigmoid itself
	nTrees  int
	scratch *sync.Pool // of *[1]float64, see Score
}

// BundleMeta is the descriptive part of bundle.json.
type BundleMeta struct {
	Format            string            `json:"format"`
	Objective         string            `json:"objective"`
	ScoreNote         string            `json:"score,omitempty"`
	ThresholdRule     string            `json:"threshold_rule"`
	ThresholdRuleKind string            `json:"threshold_rule_kind,omitempty"`
	ReviewBandRule    string            `json:"review_band_rule,omitempty"`
	Model             ModelInfo         `json:"model"`
	TrainingData      TrainingData      `json:"training_data"`
	Metrics           Metrics           `json:"metrics"`
	Baseline          Baseline          `json:"baseline"`
	Environment       map[string]string `json:"environment,omitempty"`
	Golden            []GoldenRow       `json:"golden"`
}

// ModelInfo describes model.txt.
type ModelInfo struct {
	File          string `json:"file,omitempty"`
	SHA256        string `json:"sha256,omitempty"` // hex; verified by Load when set
	Library       string `json:"library,omitempty"`
	Trees         int    `json:"trees,omitempty"`
	BestIteration int    `json:"best_iteration,omitempty"`
	// MeanDecisionsPerRow is the mean number of split decisions (summed over
	// trees) on test rows: the scoring cost, roughly 10 ns each in leaves.
	MeanDecisionsPerRow float64        `json:"mean_decisions_per_row,omitempty"`
	Params              map[string]any `json:"params,omitempty"`
}

// TrainingData records what the model was trained and evaluated on.
type TrainingData struct {
	Input       string `json:"input"`
	InputSHA256 string `json:"input_sha256"`
	Rows        int    `json:"rows"`
	Note        string `json:"note,omitempty"`
	Labels      string `json:"labels"`
	Split       string `json:"split"`
	Train       Period `json:"train"`
	Validation  Period `json:"validation"`
	Test        Period `json:"test"`
}

// Period is a contiguous event-time range of the training data.
type Period struct {
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	Rows   int       `json:"rows"`
	Frauds int       `json:"frauds"`
}

// Metrics holds one [ModelMetrics] per model (the shipped model and the
// baselines) for the validation and the test period.
type Metrics struct {
	Test       []ModelMetrics `json:"test"`
	Validation []ModelMetrics `json:"validation"`
}

// ModelMetrics are one model's figures on one period. A nil figure could not
// be computed (e.g. ROC-AUC without frauds). Each model has its own threshold,
// chosen on validation by the same rule.
type ModelMetrics struct {
	Model         string  `json:"model"` // lightgbm, logistic_regression, rules
	Rows          int     `json:"rows"`
	Frauds        int     `json:"frauds"`
	Threshold     float64 `json:"threshold"`
	ThresholdRule string  `json:"threshold_rule"`
	// ROCAUC and PRAUC (average precision) rank all rows, no threshold.
	ROCAUC *float64 `json:"roc_auc"`
	PRAUC  *float64 `json:"pr_auc"`
	// RecallAt1PctFPR is the best recall among thresholds with a
	// false-positive rate <= 1%.
	RecallAt1PctFPR      *float64 `json:"recall_at_1pct_fpr"`
	RecallAtThreshold    *float64 `json:"recall_at_threshold"`
	PrecisionAtThreshold *float64 `json:"precision_at_threshold"`
	DeclineRate          *float64 `json:"decline_rate"` // share of rows flagged
}

// Baseline holds the training-time distributions that drift monitoring
// (PSI, KS) compares live traffic with.
type Baseline struct {
	Bins           int                `json:"bins"`
	BinRule        string             `json:"bin_rule,omitempty"`
	FeaturesSource string             `json:"features_source,omitempty"`
	Features       []FeatureHistogram `json:"features"` // one per feature, in feature order
	ScoreSource    string             `json:"score_source,omitempty"`
	Score          Histogram          `json:"score"`
}

// FeatureHistogram is the baseline [Histogram] of one named feature.
type FeatureHistogram struct {
	Name string `json:"name"`
	Histogram
}

// Histogram is a quantile histogram: Edges are [min, inner edges..., max] of
// the finite training values, so len(Edges) == len(Fractions)+1 (both empty
// when every value was NaN). Fractions are over all rows, NaN included:
// sum(Fractions) + NullFraction == 1.
type Histogram struct {
	Rows         int       `json:"rows"`
	NullFraction float64   `json:"null_fraction"`
	Edges        []float64 `json:"edges"`
	Fractions    []float64 `json:"fractions"`
}

// Bin returns the index into Fractions of the bin that holds x, or -1 for NaN
// (count it against NullFraction). Bin i > 0 holds Edges[i] < x <= Edges[i+1];
// values beyond the training range (±Inf too) fall in the first or last bin.
// This is numpy.searchsorted(inner, x, side="left") in models/train.py.
func (h *Histogram) Bin(x float64) int {
	if math.IsNaN(x) || len(h.Fractions) == 0 {
		return -1
	}
	inner := h.Edges[1 : len(h.Edges)-1]
	// Number of inner edges < x; inner is short (<= 9), so scan.
	i := 0
	for i < len(inner) && inner[i] < x {
		i++
	}
	return i
}

// GoldenRow is a feature vector with the score LightGBM gave it in Python.
type GoldenRow struct {
	TransactionID string        `json:"transaction_id"`
	Features      FeatureVector `json:"features"`
	Score         float64       `json:"score"`
}

// FeatureVector is a []float64 whose JSON form writes NaN as null (JSON has
// no NaN).
type FeatureVector []float64

// UnmarshalJSON reads numbers and nulls; null becomes NaN.
func (v *FeatureVector) UnmarshalJSON(data []byte) error {
	var raw []*float64
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	out := make(FeatureVector, len(raw))
	for i, p := range raw {
		if p == nil {
			out[i] = math.NaN()
		} else {
			out[i] = *p
		}
	}
	*v = out
	return nil
}

// MarshalJSON writes NaN as null. ±Inf has no JSON form and is an error.
func (v FeatureVector) MarshalJSON() ([]byte, error) {
	raw := make([]*float64, len(v))
	for i := range v {
		if !math.IsNaN(v[i]) {
			raw[i] = &v[i]
		}
	}
	return json.Marshal(raw)
}

// FeatureMismatchError reports how a bundle's features differ from the
// pipeline's. Callers can detect it with errors.As.
type FeatureMismatchError struct {
	File       string         // bundle.json path
	FeatureSet string         // the bundle's feature_set
	Missing    []string       // the pipeline computes them; the bundle lacks them
	Extra      []string       // the bundle expects them; the pipeline lacks them
	Moved      []MovedFeature // in both, but in a different order
}

// MovedFeature is a feature at different indexes (0-based) in the bundle and
// in the pipeline's vector.
type MovedFeature struct {
	Name                   string
	BundleIndex, WantIndex int
}

func (e *FeatureMismatchError) Error() string {
	var parts []string
	if len(e.Missing) > 0 {
		parts = append(parts, "missing from the bundle: "+strings.Join(e.Missing, ", "))
	}
	if len(e.Extra) > 0 {
		parts = append(parts, "not computed by the pipeline: "+strings.Join(e.Extra, ", "))
	}
	if len(e.Moved) > 0 {
		var m []string
		for _, f := range e.Moved {
			m = append(m, fmt.Sprintf("%s (bundle index %d, pipeline index %d)", f.Name, f.BundleIndex, f.WantIndex))
		}
		parts = append(parts, "wrong position: "+strings.Join(m, ", "))
	}
	return fmt.Sprintf("%s: the model's features (feature_set %q) do not match the pipeline's: %s; "+
		"deploy a bundle trained on this pipeline's feature export (models/train.py), "+
		"or run the pipeline version the bundle was trained for",
		e.File, e.FeatureSet, strings.Join(parts, "; "))
}

// bundleFile is bundle.json as written; pointers tell absent from zero.
type bundleFile struct {
	Name       *string      `json:"name"`
	Version    *string      `json:"version"`
	CreatedAt  *string      `json:"created_at"`
	FeatureSet *string      `json:"feature_set"`
	Features   []featureDef `json:"features"`
	Threshold  *float64     `json:"threshold"`
	ReviewBand []float64    `json:"review_band"`
	Epsilon    *float64     `json:"exploration_epsilon"`
	BundleMeta
}

type featureDef struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// Load reads the bundle in dir and checks it: bundle.json is complete and in
// range, model.txt is a LightGBM binary model that leaves reads, the trees use
// exactly the bundle's features, and every golden row scores within
// [GoldenTolerance] of LightGBM's own prediction.
//
// wantFeatures are the names of the vector the pipeline will pass to Score, in
// order; a bundle whose features differ returns a [*FeatureMismatchError]
// naming each difference. A nil wantFeatures skips that check (for tools that
// only inspect bundles; the pipeline always passes its names).
//
// Every error names the file, what is wrong and how to fix it.
func Load(dir string, wantFeatures []string) (*Bundle, error) {
	bundlePath := filepath.Join(dir, BundleFile)
	modelPath := filepath.Join(dir, ModelFile)

	data, err := os.ReadFile(bundlePath)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: not found; a model bundle directory holds %s and %s written by models/train.py",
				bundlePath, BundleFile, ModelFile)
		}
		return nil, fmt.Errorf("read model bundle: %w", err)
	}
	var bf bundleFile
	if err := json.Unmarshal(data, &bf); err != nil {
		return nil, fmt.Errorf("%s: %s; fix the JSON or write the bundle again with models/train.py",
			bundlePath, describeJSONError(data, err))
	}
	b, err := bf.validate(bundlePath)
	if err != nil {
		return nil, err
	}
	b.Dir = dir
	if wantFeatures != nil {
		if err := checkFeatures(bundlePath, b.FeatureSet, b.Features, wantFeatures); err != nil {
			return nil, err
		}
	}

	modelText, err := os.ReadFile(modelPath)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: not found; the bundle needs the LightGBM text model that models/train.py writes next to %s",
				modelPath, BundleFile)
		}
		return nil, fmt.Errorf("read model bundle: %w", err)
	}
	if want := b.Meta.Model.SHA256; want != "" {
		sum := sha256.Sum256(modelText)
		if got := hex.EncodeToString(sum[:]); !strings.EqualFold(got, want) {
			return nil, fmt.Errorf("%s: sha256 is %s but %s records %s: the two files come from different training runs; "+
				"restore the matching pair or retrain with models/train.py", modelPath, got, BundleFile, want)
		}
	}
	if err := checkModelHeader(modelPath, modelText, b.Features); err != nil {
		return nil, err
	}
	// Raw margins (loadTransformation=false): leaves' logistic transform
	// allocates per call; Score applies the same sigmoid without allocating.
	model, err := leaves.LGEnsembleFromReader(bufio.NewReader(bytes.NewReader(modelText)), false)
	if err != nil {
		return nil, fmt.Errorf("%s: leaves cannot read this LightGBM model: %v; write it with LightGBM %s (models/requirements.txt)",
			modelPath, err, SupportedLightGBM)
	}
	if model.NRawOutputGroups() != 1 {
		return nil, fmt.Errorf("%s: model has %d outputs per row; fraudstream needs a binary model (objective=binary)",
			modelPath, model.NRawOutputGroups())
	}
	if model.NFeatures() != len(b.Features) {
		return nil, fmt.Errorf("%s: the trees read %d features but %s lists %d; the files do not belong together: retrain with models/train.py",
			modelPath, model.NFeatures(), BundleFile, len(b.Features))
	}
	b.model = model
	b.nTrees = model.NEstimators()
	b.scratch = &sync.Pool{New: func() any { return new([1]float64) }}

	if err := b.CheckGolden(GoldenTolerance); err != nil {
		return nil, err
	}
	return b, nil
}

// SupportedLightGBM is the LightGBM release bundles are trained with (pinned
// in models/requirements.txt).
const SupportedLightGBM = "3.3.5"

func (bf *bundleFile) validate(path string) (*Bundle, error) {
	fix := "write the bundle again with models/train.py"
	missing := func(field string) error {
		return fmt.Errorf("%s: field %q is missing or empty; %s", path, field, fix)
	}
	if bf.Format != Format {
		if bf.Format == "" {
			return nil, fmt.Errorf("%s: field \"format\" is missing; set it to %q (the only format this build reads) or %s", path, Format, fix)
		}
		return nil, fmt.Errorf("%s: format %q is not supported; this build reads %q: use a fraudstream release that reads it, or %s",
			path, bf.Format, Format, fix)
	}
	b := &Bundle{Meta: bf.BundleMeta}
	for _, f := range []struct {
		name string
		p    *string
		dst  *string
	}{{"name", bf.Name, &b.Name}, {"version", bf.Version, &b.Version}, {"feature_set", bf.FeatureSet, &b.FeatureSet}} {
		if f.p == nil || *f.p == "" {
			return nil, missing(f.name)
		}
		*f.dst = *f.p
	}
	if bf.CreatedAt == nil || *bf.CreatedAt == "" {
		return nil, missing("created_at")
	}
	t, err := time.Parse(time.RFC3339, *bf.CreatedAt)
	if err != nil {
		return nil, fmt.Errorf("%s: created_at %q is not RFC 3339 (e.g. 2026-11-27T00:00:00Z); correct it", path, *bf.CreatedAt)
	}
	b.CreatedAt = t
	if bf.Objective != "binary" {
		return nil, fmt.Errorf("%s: objective %q is not supported; fraudstream scores with binary models (objective \"binary\"): %s",
			path, bf.Objective, fix)
	}

	if len(bf.Features) == 0 {
		return nil, missing("features")
	}
	seen := make(map[string]int, len(bf.Features))
	for i, f := range bf.Features {
		if f.Name == "" {
			return nil, fmt.Errorf("%s: features[%d] has no name; %s", path, i, fix)
		}
		if j, dup := seen[f.Name]; dup {
			return nil, fmt.Errorf("%s: feature %q is listed twice (features[%d] and features[%d]); each feature must appear once: %s",
				path, f.Name, j, i, fix)
		}
		seen[f.Name] = i
		if f.Type != "float" {
			return nil, fmt.Errorf("%s: feature %q has type %q; only \"float\" is supported (NaN = missing): %s", path, f.Name, f.Type, fix)
		}
		b.Features = append(b.Features, f.Name)
	}

	if bf.Threshold == nil {
		return nil, missing("threshold")
	}
	b.Threshold = *bf.Threshold
	if !(b.Threshold >= 0 && b.Threshold <= 1) { // also rejects NaN
		return nil, fmt.Errorf("%s: threshold %v is outside [0, 1]; it compares with a probability (score >= threshold => flagged): correct it or %s",
			path, b.Threshold, fix)
	}
	b.Epsilon = DefaultEpsilon
	if bf.Epsilon != nil {
		b.Epsilon = *bf.Epsilon
	}
	if !(b.Epsilon >= 0 && b.Epsilon < 1) {
		return nil, fmt.Errorf("%s: exploration_epsilon %v is outside [0, 1); it is the share of flagged transactions let through "+
			"(default %v; 1 would approve everything): correct it", path, b.Epsilon, DefaultEpsilon)
	}
	if bf.ReviewBand != nil {
		rb := bf.ReviewBand
		if len(rb) != 2 || !(0 <= rb[0] && rb[0] < rb[1] && rb[1] <= b.Threshold) {
			return nil, fmt.Errorf("%s: review_band %v must be [lo, hi) with 0 <= lo < hi <= threshold (%v); correct it, or remove it (or set null) for no review band",
				path, rb, b.Threshold)
		}
		b.ReviewBand = &[2]float64{rb[0], rb[1]}
	}

	if err := validateBaseline(path, &b.Meta.Baseline, b.Features); err != nil {
		return nil, err
	}
	if len(b.Meta.Golden) == 0 {
		return nil, fmt.Errorf("%s: no golden rows; they prove that leaves scores like LightGBM: %s", path, fix)
	}
	for i, g := range b.Meta.Golden {
		if len(g.Features) != len(b.Features) {
			return nil, fmt.Errorf("%s: golden[%d] has %d feature values, but there are %d features; %s",
				path, i, len(g.Features), len(b.Features), fix)
		}
		if !(g.Score >= 0 && g.Score <= 1) {
			return nil, fmt.Errorf("%s: golden[%d] score %v is not a probability in [0, 1]; %s", path, i, g.Score, fix)
		}
	}
	return b, nil
}

func validateBaseline(path string, bl *Baseline, features []string) error {
	fix := "write the bundle again with models/train.py"
	if len(bl.Features) != len(features) {
		return fmt.Errorf("%s: baseline.features has %d histograms for %d features; drift monitoring needs one per feature, in feature order: %s",
			path, len(bl.Features), len(features), fix)
	}
	for i, h := range bl.Features {
		if h.Name != features[i] {
			return fmt.Errorf("%s: baseline.features[%d] is for %q but feature %d is %q; %s", path, i, h.Name, i, features[i], fix)
		}
		if err := h.Histogram.validate(); err != nil {
			return fmt.Errorf("%s: baseline histogram of %q: %v; %s", path, h.Name, err, fix)
		}
	}
	if err := bl.Score.validate(); err != nil {
		return fmt.Errorf("%s: baseline.score histogram: %v; %s", path, err, fix)
	}
	return nil
}

func (h *Histogram) validate() error {
	if len(h.Fractions) == 0 && len(h.Edges) == 0 {
		if math.Abs(h.NullFraction-1) > 1e-6 {
			return fmt.Errorf("no bins but null_fraction %v (want 1: all values missing)", h.NullFraction)
		}
		return nil
	}
	if len(h.Edges) != len(h.Fractions)+1 {
		return fmt.Errorf("%d edges for %d bins (want bins+1)", len(h.Edges), len(h.Fractions))
	}
	for i := 1; i < len(h.Edges); i++ {
		if !(h.Edges[i-1] <= h.Edges[i]) {
			return fmt.Errorf("edges are not ascending at index %d (%v then %v)", i, h.Edges[i-1], h.Edges[i])
		}
	}
	sum := h.NullFraction
	if !(h.NullFraction >= 0 && h.NullFraction <= 1) {
		return fmt.Errorf("null_fraction %v is outside [0, 1]", h.NullFraction)
	}
	for i, f := range h.Fractions {
		if !(f >= 0 && f <= 1) {
			return fmt.Errorf("fractions[%d] = %v is outside [0, 1]", i, f)
		}
		sum += f
	}
	// Fractions are rounded to 8 decimals by train.py.
	if math.Abs(sum-1) > 1e-6 {
		return fmt.Errorf("fractions + null_fraction add up to %v, want 1", sum)
	}
	return nil
}

// checkFeatures compares the bundle's feature names with the pipeline's.
func checkFeatures(path, featureSet string, have, want []string) error {
	wantIdx := make(map[string]int, len(want))
	for i, n := range want {
		if j, dup := wantIdx[n]; dup {
			// A bug in the caller, not in the bundle.
			return fmt.Errorf("models.Load: the pipeline's feature names list %q twice (index %d and %d)", n, j, i)
		}
		wantIdx[n] = i
	}
	haveIdx := make(map[string]int, len(have))
	for i, n := range have {
		haveIdx[n] = i
	}
	e := &FeatureMismatchError{File: path, FeatureSet: featureSet}
	var commonHave, commonWant []string // shared names, in each side's order
	for _, n := range want {
		if _, ok := haveIdx[n]; ok {
			commonWant = append(commonWant, n)
		} else {
			e.Missing = append(e.Missing, n)
		}
	}
	for _, n := range have {
		if _, ok := wantIdx[n]; ok {
			commonHave = append(commonHave, n)
		} else {
			e.Extra = append(e.Extra, n)
		}
	}
	// A name is "moved" when its rank among the shared names differs, so a
	// missing or extra feature does not also report every feature after it.
	for i, n := range commonHave {
		if commonWant[i] != n {
			e.Moved = append(e.Moved, MovedFeature{Name: n, BundleIndex: haveIdx[n], WantIndex: wantIdx[n]})
		}
	}
	if len(e.Missing) == 0 && len(e.Extra) == 0 && len(e.Moved) == 0 {
		return nil
	}
	return e
}

// checkModelHeader checks what leaves does not: that model.txt is a binary
// sigmoid model over exactly the bundle's features, with no linear trees
// (leaves would silently ignore their linear parts).
func checkModelHeader(path string, text []byte, features []string) error {
	fix := fmt.Sprintf("retrain with models/train.py and LightGBM %s (models/requirements.txt)", SupportedLightGBM)
	header := map[string]string{}
	lines := bytes.Split(text, []byte("\n"))
	i := 0
	for ; i < len(lines); i++ {
		line := strings.TrimSpace(string(lines[i]))
		if line == "" {
			if len(header) > 0 {
				break
			}
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		header[k] = v
	}
	if _, ok := header["tree"]; !ok {
		return fmt.Errorf("%s: not a LightGBM text model (no \"tree\" header line); %s", path, fix)
	}
	switch v := header["version"]; v {
	case "v3", "v2":
	case "":
		return fmt.Errorf("%s: no version line; %s", path, fix)
	default:
		return fmt.Errorf("%s: LightGBM model format %s is not readable by leaves, which reads v2/v3 (LightGBM 4.x writes v4); %s",
			path, v, fix)
	}
	if obj := header["objective"]; obj != "binary sigmoid:1" {
		return fmt.Errorf("%s: objective %q; fraudstream needs \"binary sigmoid:1\" (a binary model whose score is the sigmoid of the tree sum); %s",
			path, obj, fix)
	}
	if _, rf := header["average_output"]; rf {
		return fmt.Errorf("%s: random-forest model (average_output); fraudstream needs boosting=gbdt; %s", path, fix)
	}
	maxIdx, err := strconv.Atoi(header["max_feature_idx"])
	if err != nil {
		return fmt.Errorf("%s: max_feature_idx %q is not a number; %s", path, header["max_feature_idx"], fix)
	}
	if maxIdx+1 != len(features) {
		return fmt.Errorf("%s: the trees were trained on %d features but %s lists %d; the files do not belong together: %s",
			path, maxIdx+1, BundleFile, len(features), fix)
	}
	if names, ok := header["feature_names"]; ok {
		got := strings.Fields(names)
		if strings.Join(got, " ") != strings.Join(features, " ") {
			return fmt.Errorf("%s: feature_names %v differ from %s features %v; the files do not belong together: %s",
				path, got, BundleFile, features, fix)
		}
	}
	for j := i; j < len(lines); j++ {
		if bytes.Equal(bytes.TrimSpace(lines[j]), []byte("is_linear=1")) {
			return fmt.Errorf("%s: has linear trees (linear_tree=true), which leaves ignores and would score wrongly; %s", path, fix)
		}
		if bytes.HasPrefix(lines[j], []byte("end of trees")) {
			break
		}
	}
	return nil
}

// describeJSONError adds the line and column to a JSON syntax or type error.
func describeJSONError(data []byte, err error) string {
	var off int64 = -1
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	}
	if off < 0 {
		return "invalid JSON: " + err.Error()
	}
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	line := 1 + bytes.Count(data[:off], []byte("\n"))
	// Offset counts the bytes read, the offending one included.
	col := off - int64(bytes.LastIndexByte(data[:off], '\n')) - 1
	return fmt.Sprintf("invalid JSON at line %d, column %d: %v", line, col, err)
}

// NumTrees is the number of trees in the model.
func (b *Bundle) NumTrees() int { return b.nTrees }

// String is "name version".
func (b *Bundle) String() string { return b.Name + " " + b.Version }

// LogValue logs a bundle as a group of its identifying fields.
func (b *Bundle) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("name", b.Name),
		slog.String("version", b.Version),
		slog.String("feature_set", b.FeatureSet),
		slog.Int("trees", b.nTrees),
		slog.Float64("threshold", b.Threshold),
		slog.Float64("epsilon", b.Epsilon),
	)
}
