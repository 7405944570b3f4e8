package pipeline

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// LatencyHistogram is a lock-free log-linear histogram of durations (8
// sub-buckets per power of two of microseconds: ≤ 12.5% relative error),
// for live quantiles on the terminal and in summaries. Prometheus gets its
// own histograms; this one exists because client_golang cannot answer "what
// is the p99 right now" in-process.
type LatencyHistogram struct {
	counts [64 * 8]atomic.Int64
	total  atomic.Int64
}

func bucketOf(us int64) int {
	if us < 8 {
		return int(max(us, 0))
	}
	e := bits.Len64(uint64(us)) - 1 // us in [2^e, 2^(e+1))
	sub := int((us >> (e - 3)) & 7)
	return (e-2)*8 + sub
}

func bucketUpper(b int) float64 {
	if b < 8 {
		return float64(b + 1)
	}
	e := b/8 + 2
	sub := b % 8
	return float64(int64(8+sub+1) << (e - 3))
}

// Observe records one duration.
func (h *LatencyHistogram) Observe(d time.Duration) { h.ObserveN(d, 1) }

// ObserveN records n observations of one duration.
func (h *LatencyHistogram) ObserveN(d time.Duration, n int64) {
	b := bucketOf(d.Microseconds())
	if b >= len(h.counts) {
		b = len(h.counts) - 1
	}
	h.counts[b].Add(n)
	h.total.Add(n)
}

// Count returns the number of observations.
func (h *LatencyHistogram) Count() int64 { return h.total.Load() }

// Quantile returns the q-quantile (upper bucket bound) in milliseconds; NaN
// when empty.
func (h *LatencyHistogram) Quantile(q float64) float64 {
	total := h.total.Load()
	if total == 0 {
		return math.NaN()
	}
	rank := int64(math.Ceil(q * float64(total)))
	var seen int64
	for b := range h.counts {
		seen += h.counts[b].Load()
		if seen >= rank {
			return bucketUpper(b) / 1000
		}
	}
	return bucketUpper(len(h.counts)-1) / 1000
}

// Reset clears the histogram (not atomic with concurrent Observe).
func (h *LatencyHistogram) Reset() {
	for b := range h.counts {
		h.counts[b].Store(0)
	}
	h.total.Store(0)
}
