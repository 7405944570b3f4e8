package pipeline

import (
	"context"
	"testing"
	"time"
)

// BenchmarkPipelineThroughput measures end-to-end transactions/s of one
// runner (exactly-once on) over a backlog already in an embedded kfake
// broker: decode → validate → windows → features → score → decide → encode,
// plus the Kafka transaction, changelog and Pebble writes.
func BenchmarkPipelineThroughput(b *testing.B) {
	w := newTestWorld(b, 8, 20000, 10)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cfg := w.config("bench" + time.Now().Format("150405.000000"))
		ctx, cancel := context.WithCancel(context.Background())
		r, err := NewRunner(ctx, cfg, WithLogger(testLogger(nil)))
		if err != nil {
			b.Fatal(err)
		}
		done := make(chan error, 1)
		start := time.Now()
		go func() { done <- r.Run(ctx) }()
		for r.Progress.EventsIn.Load() < w.produced {
			time.Sleep(5 * time.Millisecond)
		}
		el := time.Since(start)
		cancel()
		<-done
		b.ReportMetric(float64(w.produced)/el.Seconds(), "events/s")
		b.ReportMetric(r.Progress.Latency.Quantile(0.99), "p99-ms")
	}
}
