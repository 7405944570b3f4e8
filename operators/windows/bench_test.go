package windows

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// benchConfig is the production shape: 1h, 7d, 30d, 90d, 7d lateness
// (retention 2 × 90d + 7d = 187 days).
var benchConfig = &Config{WindowsMillis: []int64{hour, 7 * day, 30 * day, 90 * day}, AllowedLatenessMillis: 7 * day}

// benchEvents returns n events of one card with gaps drawn around meanGap,
// amounts in cents, merchants from a pool of 30 with repeats.
func benchEvents(n int, meanGap int64) []Event {
	rng := rand.New(rand.NewPCG(1, 2))
	evs := make([]Event, n)
	t := int64(1767225600000)
	for i := range evs {
		t += int64(rng.ExpFloat64() * float64(meanGap))
		evs[i] = Event{TimeMillis: t, Amount: math.Round(math.Exp(rng.NormFloat64()+3.5)*100) / 100,
			Merchant: uint64(1 + rng.IntN(30)), Country: 1, Lat: 48.85, Lon: 2.35}
	}
	return evs
}

// benchInOrder observes a warm card, then b.N more in-order events spaced like
// the pool (the pool is replayed with its times shifted forward). With
// uniqueMerchants every event has a new merchant: MerchantSeen's worst case
// (the scan finds nothing and reads the whole longest window).
func benchInOrder(b *testing.B, meanGap int64, warm int, uniqueMerchants bool) {
	pool := benchEvents(4096, meanGap)
	if uniqueMerchants {
		for i := range pool {
			pool[i].Merchant = uint64(i + 1)
		}
	}
	span := pool[len(pool)-1].TimeMillis - pool[0].TimeMillis + meanGap
	var s CardState
	var r Result
	for i := range warm {
		ev := pool[i%len(pool)]
		ev.TimeMillis += int64(i/len(pool)) * span
		if err := s.Observe(benchConfig, ev, &r); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		k := warm + i
		ev := pool[k%len(pool)]
		ev.TimeMillis += int64(k/len(pool)) * span
		if err := s.Observe(benchConfig, ev, &r); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(s.Len()), "retained")
}

// BenchmarkObserveInOrder: a typical card, about one transaction a day.
func BenchmarkObserveInOrder(b *testing.B) { benchInOrder(b, day, 1000, false) }

// BenchmarkObserveBusyCard: about 100 transactions a day (≈ 9,000 in the 90d
// window), where MerchantSeen uses the merchant index.
func BenchmarkObserveBusyCard(b *testing.B) { benchInOrder(b, day/100, 30000, false) }

// BenchmarkObserveLate: a typical card where every 10th event is 1–3 days
// late (O(retained) each).
func BenchmarkObserveLate(b *testing.B) {
	pool := benchEvents(4096, day)
	span := pool[len(pool)-1].TimeMillis - pool[0].TimeMillis + day
	at := func(k int) Event {
		ev := pool[k%len(pool)]
		ev.TimeMillis += int64(k/len(pool)) * span
		if k%10 == 9 {
			ev.TimeMillis -= day + int64(k%3)*day
		}
		return ev
	}
	var s CardState
	var r Result
	for k := range 1000 {
		_ = s.Observe(benchConfig, at(k), &r)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		_ = s.Observe(benchConfig, at(1000+i), &r)
	}
}

// BenchmarkMerchantSeen compares the scan with the index for a card whose
// longest window holds about n events, in the scan's worst case (every
// merchant new); merchantIndexMin is forced per sub-benchmark.
func BenchmarkMerchantSeen(b *testing.B) {
	defer func(v int) { merchantIndexMin = v }(merchantIndexMin)
	for _, n := range []int{16, 64, 128, 256, 512, 1024} {
		for _, mode := range []string{"scan", "index"} {
			b.Run(fmt.Sprintf("window=%d/%s", n, mode), func(b *testing.B) {
				merchantIndexMin = math.MaxInt
				if mode == "index" {
					merchantIndexMin = 0
				}
				benchInOrder(b, 90*day/int64(n), 4*n+200, true)
			})
		}
	}
}

func benchState(b *testing.B) *CardState {
	var s CardState
	var r Result
	for _, ev := range benchEvents(1000, day) {
		if err := s.Observe(benchConfig, ev, &r); err != nil {
			b.Fatal(err)
		}
	}
	return &s
}

// BenchmarkMarshal: encode a typical card (≈ 190 retained events).
func BenchmarkMarshal(b *testing.B) {
	s := benchState(b)
	buf := s.AppendBinary(nil)
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	b.ResetTimer()
	for range b.N {
		buf = s.AppendBinary(buf[:0])
	}
}

// BenchmarkUnmarshal: decode a typical card into a reused state.
func BenchmarkUnmarshal(b *testing.B) {
	s := benchState(b)
	buf := s.AppendBinary(nil)
	var d CardState
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	b.ResetTimer()
	for range b.N {
		if err := d.UnmarshalBinary(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendHead: the per-batch write of a changed card in the
// incremental scheme (plus one 48-byte record per new event).
func BenchmarkAppendHead(b *testing.B) {
	s := benchState(b)
	buf := s.AppendHead(nil)
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	b.ResetTimer()
	for range b.N {
		buf = s.AppendHead(buf[:0])
	}
}

// BenchmarkRestore: load a typical card from its head and event records into
// a reused state.
func BenchmarkRestore(b *testing.B) {
	s := benchState(b)
	head := s.AppendHead(nil)
	added, _ := s.Changes()
	events := append([]StoredEvent(nil), added...)
	var d CardState
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := d.Restore(head, events); err != nil {
			b.Fatal(err)
		}
	}
}
