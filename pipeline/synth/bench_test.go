package synth

import "testing"

// BenchmarkNext measures the generator in the default world (unbounded, so
// that b.N is never cut short). events/s is per wall-clock second,
// events/cpu-s per CPU second of the whole process (GC included), which is
// the single-core figure when the machine is busy with other work.
func BenchmarkNext(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Unbounded = true
	g, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	var it Item
	b.ReportAllocs()
	cpu0 := cpuSeconds()
	b.ResetTimer()
	for range b.N {
		g.Next(&it)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	if cpu := cpuSeconds() - cpu0; cpu > 0 {
		b.ReportMetric(float64(b.N)/cpu, "events/cpu-s")
	}
}

// BenchmarkNextAllLabelled is BenchmarkNext with every transaction labelled
// (issue 5's setting): the pending heap then holds ~45 days of labels.
func BenchmarkNextAllLabelled(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Unbounded = true
	cfg.LegitLabelFraction = 1
	g, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	var it Item
	b.ReportAllocs()
	cpu0 := cpuSeconds()
	b.ResetTimer()
	for range b.N {
		g.Next(&it)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	if cpu := cpuSeconds() - cpu0; cpu > 0 {
		b.ReportMetric(float64(b.N)/cpu, "events/cpu-s")
	}
}

// BenchmarkNew measures building the default world (20,000 cards).
func BenchmarkNew(b *testing.B) {
	cfg := DefaultConfig()
	b.ReportAllocs()
	for range b.N {
		if _, err := New(cfg); err != nil {
			b.Fatal(err)
		}
	}
}
