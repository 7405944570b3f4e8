package pipeline

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// rankMetrics against brute force: ROC-AUC as the probability that a random
// fraud outscores a random legit one (ties half), and average precision as
// Σ over distinct thresholds of (ΔRecall × precision).
func TestRankMetrics(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 20; trial++ {
		n := 50 + rng.IntN(200)
		scores := make([]float64, n)
		frauds := make([]bool, n)
		for i := range scores {
			frauds[i] = rng.Float64() < 0.2
			scores[i] = math.Round(rng.Float64()*20) / 20 // ties
			if frauds[i] {
				scores[i] = math.Min(1, scores[i]+0.2)
			}
		}
		roc, ap, _ := rankMetrics(scores, frauds)
		var num, den float64
		for i := range scores {
			for j := range scores {
				if frauds[i] && !frauds[j] {
					den++
					if scores[i] > scores[j] {
						num++
					} else if scores[i] == scores[j] {
						num += 0.5
					}
				}
			}
		}
		if math.Abs(roc-num/den) > 1e-12 {
			t.Fatalf("ROC-AUC %v, brute force %v", roc, num/den)
		}
		// Average precision over the distinct thresholds, high to low.
		var pos float64
		for _, f := range frauds {
			if f {
				pos++
			}
		}
		distinct := map[float64]bool{}
		for _, s := range scores {
			distinct[s] = true
		}
		var ths []float64
		for s := range distinct {
			ths = append(ths, s)
		}
		slices.Sort(ths)
		slices.Reverse(ths)
		want, prevR := 0.0, 0.0
		for _, th := range ths {
			var tp, fp float64
			for i := range scores {
				if scores[i] >= th {
					if frauds[i] {
						tp++
					} else {
						fp++
					}
				}
			}
			if tp+fp == 0 {
				continue
			}
			r := tp / pos
			want += (r - prevR) * tp / (tp + fp)
			prevR = r
		}
		if math.Abs(ap-want) > 1e-9 {
			t.Fatalf("AP %v, brute force %v", ap, want)
		}
	}
}
