package features

import (
	"math"
	"testing"

	"github.com/fraudstream/fraudstream/operators/windows"
	"github.com/fraudstream/fraudstream/schemas"
)

func fp(v float64) *float64 { return &v }
func sp(v string) *string   { return &v }

func observe(t testing.TB, st *windows.CardState, tx *schemas.Transaction) []float64 {
	cfg := windows.Config{WindowsMillis: WindowsMillis, AllowedLatenessMillis: 7 * dayMillis}
	ev := Event(tx)
	var r windows.Result
	if err := st.Observe(&cfg, ev, &r); err != nil {
		t.Fatal(err)
	}
	return Compute(nil, tx, &ev, &r)
}

// Hand-checked values for a card's first and second transactions.
func TestCompute(t *testing.T) {
	if len(Names()) != Count || Names()[0] != "amount_mean_7d" || Names()[Count-1] != "hour_of_day" {
		t.Fatalf("names: %v", Names())
	}
	var st windows.CardState
	t0 := int64(1767225600000) // 2026-01-01T00:00:00Z
	a := schemas.Transaction{TransactionID: "1", CardID: "c", MerchantID: "m1", MCC: 5411, Amount: 100, Currency: "EUR",
		EventTime: t0 + 13*hourMillis, Channel: "pos", Country: sp("FR"), Lat: fp(48.8566), Lon: fp(2.3522)}
	v := observe(t, &st, &a)
	if v[AmountCount7d] != 1 || v[AmountMean30d] != 100 || !math.IsNaN(v[AmountStd7d]) || v[MerchantNew] != 1 ||
		!math.IsNaN(v[SecondsSincePrev]) || !math.IsNaN(v[DistanceFromPrevKm]) || v[HourOfDay] != 13 ||
		v[ChannelCode] != 0 || v[MCC] != 5411 || v[AmountToMean30d] != 1 || !math.IsNaN(v[AmountZScore90d]) ||
		v[CountRatio7d90d] != 1 || v[AmountCount1h] != 1 || !math.IsNaN(v[CountryChanged]) {
		t.Fatalf("first transaction: %v", v)
	}
	// 30 minutes later, in London, another merchant: Paris→London is
	// 343.5 km (haversine), at 687 km/h.
	b := a
	b.TransactionID, b.MerchantID, b.Amount, b.EventTime = "2", "m2", 300, a.EventTime+30*60*1000
	b.Country, b.Lat, b.Lon, b.Channel = sp("GB"), fp(51.5074), fp(-0.1278), "ecom"
	v = observe(t, &st, &b)
	if v[AmountCount1h] != 2 || v[AmountMean7d] != 200 || v[SecondsSincePrev] != 1800 || v[MerchantNew] != 1 ||
		v[CountryChanged] != 1 || v[ChannelCode] != 2 || v[AmountToMean30d] != 1.5 {
		t.Fatalf("second transaction: %v", v)
	}
	if math.Abs(v[AmountStd7d]-math.Sqrt(20000)) > 1e-9 || math.Abs(v[AmountZScore90d]-100/math.Sqrt(20000)) > 1e-9 {
		t.Fatalf("std/zscore: %v %v", v[AmountStd7d], v[AmountZScore90d])
	}
	if math.Abs(v[DistanceFromPrevKm]-343.5) > 1 || math.Abs(v[SpeedFromPrevKmh]-2*v[DistanceFromPrevKm]) > 1e-9 {
		t.Fatalf("distance %v speed %v", v[DistanceFromPrevKm], v[SpeedFromPrevKmh])
	}
	if r := Reasons(nil, v); len(r) == 0 || r[0] != "country_changed" {
		t.Fatalf("reasons: %v", r)
	}
}

func BenchmarkCompute(b *testing.B) {
	var st windows.CardState
	cfg := windows.Config{WindowsMillis: WindowsMillis, AllowedLatenessMillis: 7 * dayMillis}
	tx := schemas.Transaction{TransactionID: "1", CardID: "c", MerchantID: "m1", MCC: 5411, Amount: 100, Currency: "EUR",
		EventTime: 1767225600000, Channel: "pos", Country: sp("FR"), Lat: fp(48.8566), Lon: fp(2.3522)}
	var r windows.Result
	dst := make([]float64, Count)
	for i := 0; i < 200; i++ {
		tx.EventTime += 12 * hourMillis
		ev := Event(&tx)
		_ = st.Observe(&cfg, ev, &r)
	}
	ev := Event(&tx)
	b.ReportAllocs()
	for b.Loop() {
		dst = Compute(dst, &tx, &ev, &r)
	}
}

func TestHashIsFNV1a(t *testing.T) {
	// Reference values of 64-bit FNV-1a (hash/fnv).
	if Hash("a") != 0xaf63dc4c8601ec8c || Hash("") != 0 {
		t.Fatalf("Hash(a) = %#x", Hash("a"))
	}
}

func BenchmarkEvent(b *testing.B) {
	tx := schemas.Transaction{MerchantID: "m-01234", Amount: 1, EventTime: 1, Country: sp("FR"), Lat: fp(1), Lon: fp(2)}
	b.ReportAllocs()
	for b.Loop() {
		_ = Event(&tx)
	}
}
