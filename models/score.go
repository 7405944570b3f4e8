package models

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"
)

// Score returns the model's fraud probability in [0, 1] for one feature
// vector, laid out as b.Features (NaN = missing). It does not allocate and is
// safe for concurrent use.
//
// It panics if len(features) != len(b.Features): the vector's layout is fixed
// by the feature set, so a wrong length is a programming error, and failing
// loudly beats leaves' silent 0.0 (which would approve everything).
func (b *Bundle) Score(features []float64) float64 {
	if len(features) != len(b.Features) {
		panic(fmt.Sprintf("models: Score got %d features, bundle %s %s wants %d (%s)",
			len(features), b.Name, b.Version, len(b.Features), b.FeatureSet))
	}
	// leaves.PredictSingle would heap-allocate its one-element result (it
	// escapes through an interface call), so pass a pooled buffer to Predict.
	buf := b.scratch.Get().(*[1]float64)
	err := b.model.Predict(features, 0, buf[:])
	raw := buf[0]
	b.scratch.Put(buf)
	if err != nil {
		// Unreachable: Load checked the output count and the length is checked above.
		panic("models: leaves Predict: " + err.Error())
	}
	return sigmoid(raw)
}

// sigmoid is LightGBM's binary output transform with sigmoid:1, computed in
// float64 exactly as LightGBM does: 1 / (1 + exp(-x)).
func sigmoid(x float64) float64 {
	return 1 / (1 + math.Exp(-x))
}

// CheckGolden scores every golden row of bundle.json and compares it with the
// score LightGBM gave it when the bundle was trained. It returns an error
// listing the rows (up to five) that differ by more than tol.
func (b *Bundle) CheckGolden(tol float64) error {
	if len(b.Meta.Golden) == 0 {
		return fmt.Errorf("%s: no golden rows to check", b.bundlePath())
	}
	var bad []string
	nBad := 0
	maxDiff := 0.0
	for i, g := range b.Meta.Golden {
		got := b.Score(g.Features)
		d := math.Abs(got - g.Score)
		if d > tol || math.IsNaN(d) {
			nBad++
			if d > maxDiff || math.IsNaN(d) {
				maxDiff = d
			}
			if len(bad) < 5 {
				bad = append(bad, fmt.Sprintf("golden[%d] (transaction %q): leaves %.17g, LightGBM %.17g",
					i, g.TransactionID, got, g.Score))
			}
		}
	}
	if nBad == 0 {
		return nil
	}
	return fmt.Errorf("%s: %d of %d golden rows score differently in leaves than in LightGBM (max |diff| %.3g > %g): %s; "+
		"%s is not the model these scores came from, or was written by a LightGBM other than %s: retrain with models/train.py",
		b.bundlePath(), nBad, len(b.Meta.Golden), maxDiff, tol, strings.Join(bad, "; "),
		ModelFile, SupportedLightGBM)
}

// GoldenMaxDiff is the largest |leaves − LightGBM| score difference over the
// golden rows: the measured parity of this bundle.
func (b *Bundle) GoldenMaxDiff() float64 {
	m := 0.0
	for _, g := range b.Meta.Golden {
		if d := math.Abs(b.Score(g.Features) - g.Score); d > m || math.IsNaN(d) {
			m = d
		}
	}
	return m
}

func (b *Bundle) bundlePath() string {
	if b.Dir == "" {
		return BundleFile
	}
	return filepath.Join(b.Dir, BundleFile)
}
