package pipeline

import (
	"math"
	"testing"
	"time"
)

func TestLatencyHistogramQuantiles(t *testing.T) {
	var h LatencyHistogram
	if !math.IsNaN(h.Quantile(0.99)) {
		t.Fatal("empty histogram must give NaN")
	}
	for i := 1; i <= 1000; i++ {
		h.Observe(time.Duration(i) * time.Millisecond)
	}
	for _, q := range []float64{0.5, 0.9, 0.99} {
		want := q * 1000
		got := h.Quantile(q)
		if got < want || got > want*1.13 {
			t.Errorf("q%.2f = %.1fms, want within [%.0f, %.0f]", q, got, want, want*1.13)
		}
	}
	for us := int64(0); us < 1<<30; us = us*3/2 + 1 {
		b := bucketOf(us)
		if up := bucketUpper(b); float64(us) >= up || (b > 0 && float64(us) < bucketUpper(b-1)) {
			t.Fatalf("%dus in bucket %d with upper %v", us, b, up)
		}
	}
}
