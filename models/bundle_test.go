package models

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// fs1 is feature set "fs1" as the pipeline builds it (operators/features).
var fs1 = []string{
	"amount_mean_7d", "amount_std_7d", "amount_count_7d",
	"amount_mean_30d", "amount_std_30d", "amount_count_30d",
	"amount_mean_90d", "amount_std_90d", "amount_count_90d",
	"amount", "amount_count_1h", "amount_to_mean_30d",
	"amount_zscore_90d", "seconds_since_prev", "count_ratio_7d_90d",
	"merchant_new", "distance_from_prev_km", "speed_from_prev_kmh",
	"country_changed", "mcc", "channel_code", "hour_of_day",
}

// tinyDir is a 20-tree bundle trained by models/train.py on synthetic data
// (see testdata/README.md).
const tinyDir = "testdata/tiny"

func loadTiny(t testing.TB) *Bundle {
	t.Helper()
	b, err := Load(tinyDir, fs1)
	if err != nil {
		t.Fatalf("Load(%s): %v", tinyDir, err)
	}
	return b
}

func TestLoadTiny(t *testing.T) {
	b := loadTiny(t)
	if b.Name != "tiny" || b.Version != "tiny-2026-11-27.1" || b.FeatureSet != "fs1" {
		t.Errorf("identity = %q %q %q", b.Name, b.Version, b.FeatureSet)
	}
	if got := b.CreatedAt.UTC().Format("2006-01-02T15:04:05Z"); got != "2026-11-27T00:00:00Z" {
		t.Errorf("CreatedAt = %s", got)
	}
	if !reflect.DeepEqual(b.Features, fs1) {
		t.Errorf("Features = %v", b.Features)
	}
	if b.NumTrees() != 20 {
		t.Errorf("NumTrees = %d, want 20", b.NumTrees())
	}
	if !(b.Threshold > 0 && b.Threshold < 1) || b.Meta.ThresholdRule == "" {
		t.Errorf("Threshold = %v, rule %q", b.Threshold, b.Meta.ThresholdRule)
	}
	if b.Epsilon != 0.05 {
		t.Errorf("Epsilon = %v", b.Epsilon)
	}
	if b.ReviewBand != nil && !(b.ReviewBand[0] < b.ReviewBand[1] && b.ReviewBand[1] <= b.Threshold) {
		t.Errorf("ReviewBand = %v", *b.ReviewBand)
	}
	models := map[string]bool{}
	for _, m := range b.Meta.Metrics.Test {
		models[m.Model] = true
		if m.ROCAUC == nil || m.PRAUC == nil || m.RecallAtThreshold == nil || m.RecallAt1PctFPR == nil {
			t.Errorf("test metrics of %s incomplete: %+v", m.Model, m)
		}
	}
	for _, m := range []string{"lightgbm", "logistic_regression", "rules"} {
		if !models[m] {
			t.Errorf("no test metrics for %s", m)
		}
	}
	td := b.Meta.TrainingData
	if !(td.Train.To.Before(td.Validation.From) && td.Validation.To.Before(td.Test.From)) {
		t.Errorf("periods overlap or are out of time order: %+v", td)
	}
	if len(b.Meta.Baseline.Features) != len(fs1) || len(b.Meta.Baseline.Score.Fractions) == 0 {
		t.Errorf("baseline incomplete: %d feature histograms, %d score bins",
			len(b.Meta.Baseline.Features), len(b.Meta.Baseline.Score.Fractions))
	}
}

// TestGoldenParity is the leaves-vs-LightGBM parity proof: every golden row,
// scored in Python by LightGBM 3.3.5, scores the same in Go.
func TestGoldenParity(t *testing.T) {
	b := loadTiny(t)
	if err := b.CheckGolden(1e-12); err != nil {
		t.Fatal(err)
	}
	withNaN := 0
	for _, g := range b.Meta.Golden {
		for _, v := range g.Features {
			if math.IsNaN(v) {
				withNaN++
				break
			}
		}
	}
	if withNaN < 5 {
		t.Errorf("only %d golden rows have a NaN; the missing-value branches are not covered", withNaN)
	}
	t.Logf("%d golden rows (%d with NaN), max |leaves - LightGBM| = %.3g",
		len(b.Meta.Golden), withNaN, b.GoldenMaxDiff())
}

func TestCheckGoldenReportsMismatch(t *testing.T) {
	b := loadTiny(t)
	b.Meta.Golden = append([]GoldenRow(nil), b.Meta.Golden...)
	b.Meta.Golden[3].Score += 1e-6
	err := b.CheckGolden(1e-12)
	if err == nil || !strings.Contains(err.Error(), "golden[3]") || !strings.Contains(err.Error(), "1 of") {
		t.Fatalf("CheckGolden = %v, want a report naming golden[3]", err)
	}
}

func TestScore(t *testing.T) {
	b := loadTiny(t)
	allNaN := make([]float64, len(fs1))
	for i := range allNaN {
		allNaN[i] = math.NaN()
	}
	inf := make([]float64, len(fs1))
	for i := range inf {
		inf[i] = math.Inf(1 - 2*(i%2))
	}
	for name, v := range map[string][]float64{"all NaN": allNaN, "all zero": make([]float64, len(fs1)), "±Inf": inf} {
		if s := b.Score(v); !(s >= 0 && s <= 1) {
			t.Errorf("Score(%s) = %v, want a probability", name, s)
		}
	}
}

func TestScoreWrongLengthPanics(t *testing.T) {
	b := loadTiny(t)
	defer func() {
		r := recover()
		if r == nil || !strings.Contains(r.(string), "got 21 features") {
			t.Fatalf("recover() = %v, want a panic about the length", r)
		}
	}()
	b.Score(make([]float64, len(fs1)-1))
}

func TestScoreDoesNotAllocate(t *testing.T) {
	b := loadTiny(t)
	v := []float64(b.Meta.Golden[0].Features)
	if n := testing.AllocsPerRun(1000, func() { b.Score(v) }); n != 0 {
		t.Fatalf("Score allocates %v times per call, want 0", n)
	}
}

func TestScoreConcurrent(t *testing.T) {
	b := loadTiny(t)
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < 50; r++ {
				for i, g := range b.Meta.Golden {
					if got := b.Score(g.Features); math.Abs(got-g.Score) > 1e-12 {
						errs <- "golden row scored differently under concurrency"
						_ = i
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}

func TestFeatureMismatch(t *testing.T) {
	without := func(name string) []string {
		var out []string
		for _, n := range fs1 {
			if n != name {
				out = append(out, n)
			}
		}
		return out
	}
	swapped := append([]string(nil), fs1...)
	swapped[9], swapped[10] = swapped[10], swapped[9] // amount <-> amount_count_1h

	tests := []struct {
		name string
		want []string
		exp  FeatureMismatchError
		msg  []string
	}{
		{
			name: "pipeline has a feature the bundle lacks",
			want: append(append([]string(nil), fs1...), "merchant_risk"),
			exp:  FeatureMismatchError{Missing: []string{"merchant_risk"}},
			msg:  []string{"missing from the bundle: merchant_risk"},
		},
		{
			name: "bundle has a feature the pipeline lacks",
			want: without("mcc"),
			exp:  FeatureMismatchError{Extra: []string{"mcc"}},
			msg:  []string{"not computed by the pipeline: mcc"},
		},
		{
			name: "renamed",
			want: append(without("hour_of_day"), "hour_of_day_utc"),
			exp:  FeatureMismatchError{Missing: []string{"hour_of_day_utc"}, Extra: []string{"hour_of_day"}},
			msg:  []string{"missing from the bundle: hour_of_day_utc", "not computed by the pipeline: hour_of_day"},
		},
		{
			name: "two features swapped",
			want: swapped,
			exp: FeatureMismatchError{Moved: []MovedFeature{
				{Name: "amount", BundleIndex: 9, WantIndex: 10},
				{Name: "amount_count_1h", BundleIndex: 10, WantIndex: 9},
			}},
			msg: []string{"wrong position: amount (bundle index 9, pipeline index 10), amount_count_1h (bundle index 10, pipeline index 9)"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tinyDir, tc.want)
			var fm *FeatureMismatchError
			if !errors.As(err, &fm) {
				t.Fatalf("Load = %v, want a *FeatureMismatchError", err)
			}
			if !reflect.DeepEqual(fm.Missing, tc.exp.Missing) || !reflect.DeepEqual(fm.Extra, tc.exp.Extra) ||
				!reflect.DeepEqual(fm.Moved, tc.exp.Moved) {
				t.Errorf("got missing %v extra %v moved %v; want %v %v %v",
					fm.Missing, fm.Extra, fm.Moved, tc.exp.Missing, tc.exp.Extra, tc.exp.Moved)
			}
			for _, m := range append(tc.msg, filepath.Join(tinyDir, BundleFile), `feature_set "fs1"`) {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q\ndoes not contain %q", err, m)
				}
			}
		})
	}
}

// copyTiny copies the tiny bundle into a temporary directory, applies edit to
// the decoded bundle.json and editModel to model.txt (either may be nil).
func copyTiny(t *testing.T, edit func(m map[string]any), editModel func(s string) string) string {
	t.Helper()
	dir := t.TempDir()
	bj, err := os.ReadFile(filepath.Join(tinyDir, BundleFile))
	if err != nil {
		t.Fatal(err)
	}
	mt, err := os.ReadFile(filepath.Join(tinyDir, ModelFile))
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		var m map[string]any
		if err := json.Unmarshal(bj, &m); err != nil {
			t.Fatal(err)
		}
		edit(m)
		if bj, err = json.Marshal(m); err != nil {
			t.Fatal(err)
		}
	}
	if editModel != nil {
		mt = []byte(editModel(string(mt)))
	}
	if err := os.WriteFile(filepath.Join(dir, BundleFile), bj, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ModelFile), mt, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// noSHA drops the model.txt checksum so that a test reaches the checks behind it.
func noSHA(m map[string]any) { delete(m["model"].(map[string]any), "sha256") }

func TestLoadRefusesBadBundles(t *testing.T) {
	set := func(k string, v any) func(map[string]any) { return func(m map[string]any) { m[k] = v } }
	tests := []struct {
		name      string
		edit      func(map[string]any)
		editModel func(string) string
		setup     func(t *testing.T, dir string)
		file      string // which file the error must name
		want      []string
	}{
		{
			name:  "bundle.json missing",
			setup: func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, BundleFile)) },
			file:  BundleFile, want: []string{"not found", "models/train.py"},
		},
		{
			name: "bundle.json not JSON",
			setup: func(t *testing.T, dir string) {
				os.WriteFile(filepath.Join(dir, BundleFile), []byte("{\n  \"name\": \"x\",\n  \"version\" 1\n}"), 0o644)
			},
			file: BundleFile, want: []string{"invalid JSON at line 3, column 13"},
		},
		{
			name: "wrong JSON type",
			edit: set("threshold", "0.5"),
			file: BundleFile, want: []string{"invalid JSON at line 1", "threshold"},
		},
		{
			name:  "model.txt missing",
			setup: func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, ModelFile)) },
			file:  ModelFile, want: []string{"not found", "LightGBM text model"},
		},
		{name: "threshold above 1", edit: set("threshold", 1.5), file: BundleFile, want: []string{"threshold 1.5 is outside [0, 1]"}},
		{name: "threshold below 0", edit: set("threshold", -0.1), file: BundleFile, want: []string{"threshold -0.1 is outside [0, 1]"}},
		{name: "threshold missing", edit: func(m map[string]any) { delete(m, "threshold") }, file: BundleFile, want: []string{`"threshold" is missing`}},
		{name: "epsilon 1", edit: set("exploration_epsilon", 1.0), file: BundleFile, want: []string{"exploration_epsilon 1 is outside [0, 1)"}},
		{name: "epsilon negative", edit: set("exploration_epsilon", -0.01), file: BundleFile, want: []string{"exploration_epsilon -0.01 is outside [0, 1)"}},
		{name: "review band above threshold", edit: set("review_band", []float64{0.1, 1.0}), file: BundleFile, want: []string{"review_band [0.1 1] must be [lo, hi)"}},
		{name: "unknown format", edit: set("format", "fraudstream.model-bundle/9"), file: BundleFile, want: []string{`format "fraudstream.model-bundle/9" is not supported`}},
		{name: "no name", edit: set("name", ""), file: BundleFile, want: []string{`"name" is missing or empty`}},
		{name: "bad created_at", edit: set("created_at", "27/11/2026"), file: BundleFile, want: []string{"created_at \"27/11/2026\" is not RFC 3339"}},
		{name: "objective", edit: set("objective", "regression"), file: BundleFile, want: []string{`objective "regression" is not supported`}},
		{
			name: "feature type",
			edit: func(m map[string]any) { m["features"].([]any)[2].(map[string]any)["type"] = "int" },
			file: BundleFile, want: []string{`feature "amount_count_7d" has type "int"`},
		},
		{
			name: "duplicate feature",
			edit: func(m map[string]any) { m["features"].([]any)[1].(map[string]any)["name"] = "amount_mean_7d" },
			file: BundleFile, want: []string{`feature "amount_mean_7d" is listed twice (features[0] and features[1])`},
		},
		{
			name: "golden row too short",
			edit: func(m map[string]any) {
				g := m["golden"].([]any)[4].(map[string]any)
				g["features"] = g["features"].([]any)[:21]
			},
			file: BundleFile, want: []string{"golden[4] has 21 feature values, but there are 22 features"},
		},
		{
			name: "golden score tampered",
			edit: func(m map[string]any) { m["golden"].([]any)[7].(map[string]any)["score"] = 0.5 },
			file: BundleFile, want: []string{"golden[7]", "score differently in leaves than in LightGBM"},
		},
		{
			name: "baseline histogram broken",
			edit: func(m map[string]any) {
				h := m["baseline"].(map[string]any)["features"].([]any)[0].(map[string]any)
				h["edges"] = h["edges"].([]any)[:5]
			},
			file: BundleFile, want: []string{`baseline histogram of "amount_mean_7d"`, "edges for 10 bins"},
		},
		{
			name:      "model.txt from another run",
			editModel: func(s string) string { return strings.Replace(s, "shrinkage=1", "shrinkage=1 ", 1) },
			file:      ModelFile, want: []string{"sha256 is", "different training runs"},
		},
		{
			name:      "LightGBM 4 model",
			edit:      noSHA,
			editModel: func(s string) string { return strings.Replace(s, "version=v3", "version=v4", 1) },
			file:      ModelFile, want: []string{"model format v4 is not readable by leaves", "LightGBM 3.3.5"},
		},
		{
			name: "trees over a different feature count",
			edit: noSHA,
			editModel: func(s string) string {
				return strings.Replace(s, "max_feature_idx=21", "max_feature_idx=22", 1)
			},
			file: ModelFile, want: []string{"trees were trained on 23 features but bundle.json lists 22"},
		},
		{
			name:      "feature names differ",
			edit:      noSHA,
			editModel: func(s string) string { return strings.Replace(s, " mcc ", " merchant_category ", 1) },
			file:      ModelFile, want: []string{"feature_names", "differ from bundle.json features"},
		},
		{
			name: "multiclass objective",
			edit: noSHA,
			editModel: func(s string) string {
				return strings.Replace(s, "objective=binary sigmoid:1", "objective=multiclass num_class:3", 1)
			},
			file: ModelFile, want: []string{`objective "multiclass num_class:3"`},
		},
		{
			name:      "linear trees",
			edit:      noSHA,
			editModel: func(s string) string { return strings.Replace(s, "is_linear=0", "is_linear=1", 1) },
			file:      ModelFile, want: []string{"linear trees"},
		},
		{
			name:      "truncated model",
			edit:      noSHA,
			editModel: func(s string) string { return s[:len(s)/2] },
			file:      ModelFile, want: []string{"leaves cannot read this LightGBM model"},
		},
		{
			name:      "not a model",
			edit:      noSHA,
			editModel: func(string) string { return "hello\n" },
			file:      ModelFile, want: []string{"not a LightGBM text model"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyTiny(t, tc.edit, tc.editModel)
			if tc.setup != nil {
				tc.setup(t, dir)
			}
			_, err := Load(dir, fs1)
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			msg := err.Error()
			for _, w := range append(tc.want, filepath.Join(dir, tc.file)) {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q\ndoes not contain %q", msg, w)
				}
			}
		})
	}
}

func TestLoadDefaultsEpsilonAndAcceptsNoReviewBand(t *testing.T) {
	dir := copyTiny(t, func(m map[string]any) {
		delete(m, "exploration_epsilon")
		m["review_band"] = nil
	}, nil)
	b, err := Load(dir, fs1)
	if err != nil {
		t.Fatal(err)
	}
	if b.Epsilon != DefaultEpsilon || b.ReviewBand != nil {
		t.Errorf("Epsilon %v, ReviewBand %v; want %v, nil", b.Epsilon, b.ReviewBand, DefaultEpsilon)
	}
}

func TestLoadNilFeaturesSkipsCheck(t *testing.T) {
	if _, err := Load(tinyDir, nil); err != nil {
		t.Fatal(err)
	}
}

func TestHistogramBin(t *testing.T) {
	// Deciles of a binary feature collapse to one inner edge: x <= 0 | x > 0.
	binary := Histogram{Edges: []float64{0, 0, 1}, Fractions: []float64{0.8, 0.2}}
	h := Histogram{Edges: []float64{1, 2, 3, 5}, Fractions: []float64{0.3, 0.3, 0.4}}
	tests := []struct {
		h    *Histogram
		x    float64
		want int
	}{
		{&binary, 0, 0}, {&binary, 1, 1}, {&binary, -3, 0}, {&binary, 0.5, 1},
		{&h, 0, 0}, {&h, 1, 0}, {&h, 2, 0}, {&h, 2.5, 1}, {&h, 3, 1}, {&h, 3.1, 2}, {&h, 99, 2},
		{&h, math.Inf(1), 2}, {&h, math.Inf(-1), 0}, {&h, math.NaN(), -1},
		{&Histogram{NullFraction: 1}, 3, -1},
	}
	for _, tc := range tests {
		if got := tc.h.Bin(tc.x); got != tc.want {
			t.Errorf("%v.Bin(%v) = %d, want %d", tc.h.Edges, tc.x, got, tc.want)
		}
	}
}

// TestBaselineMatchesTrainingBins recomputes nothing from training data, but
// checks the recorded histograms are usable: bins of the score baseline, fed
// with golden scores, land in range.
func TestBaselineBinsInRange(t *testing.T) {
	b := loadTiny(t)
	for _, g := range b.Meta.Golden {
		if i := b.Meta.Baseline.Score.Bin(g.Score); i < 0 || i >= len(b.Meta.Baseline.Score.Fractions) {
			t.Fatalf("score %v -> bin %d of %d", g.Score, i, len(b.Meta.Baseline.Score.Fractions))
		}
	}
}

func TestFeatureVectorJSON(t *testing.T) {
	var v FeatureVector
	if err := json.Unmarshal([]byte(`[1.5, null, 0, -2e-300]`), &v); err != nil {
		t.Fatal(err)
	}
	if len(v) != 4 || v[0] != 1.5 || !math.IsNaN(v[1]) || v[2] != 0 || v[3] != -2e-300 {
		t.Fatalf("decoded %v", v)
	}
	out, err := json.Marshal(v)
	if err != nil || string(out) != `[1.5,null,0,-2e-300]` {
		t.Fatalf("encoded %s, %v", out, err)
	}
}

// defaultDir is the shipped default bundle (models/default).
const defaultDir = "default"

// TestDefaultBundle checks that the shipped bundle, or the one named by
// $FRAUDSTREAM_BUNDLE (a path relative to models/ or absolute), loads with the
// pipeline's features and scores its golden rows exactly like LightGBM:
//
//	FRAUDSTREAM_BUNDLE=$PWD/models/candidate go test ./models -run TestDefaultBundle -v
func TestDefaultBundle(t *testing.T) {
	dir := defaultDir
	if env := os.Getenv("FRAUDSTREAM_BUNDLE"); env != "" {
		dir = env
	} else if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		t.Skip("no shipped bundle in models/default (make model writes it)")
	}
	b, err := Load(dir, fs1)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.CheckGolden(1e-12); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %d trees, threshold %v, max |leaves - LightGBM| = %.3g over %d golden rows",
		b, b.NumTrees(), b.Threshold, b.GoldenMaxDiff(), len(b.Meta.Golden))
}

// BenchmarkScore measures one prediction over the golden rows (a mix of
// typical, high-score and NaN-heavy rows) for the tiny test bundle (20 trees,
// 7 leaves) and the shipped default (up to 100 trees, 31 leaves).
func BenchmarkScore(b *testing.B) {
	for _, dir := range []string{tinyDir, defaultDir} {
		b.Run(filepath.Base(dir), func(b *testing.B) {
			bundle, err := Load(dir, fs1)
			if err != nil {
				b.Skip(err)
			}
			rows := bundle.Meta.Golden
			b.ReportAllocs()
			b.ResetTimer()
			var sink float64
			for i := 0; i < b.N; i++ {
				sink += bundle.Score(rows[i%len(rows)].Features)
			}
			_ = sink
		})
	}
}
