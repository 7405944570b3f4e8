// Package features computes the model's feature vector for one transaction
// from the transaction itself and its card's window aggregates.
//
// The feature set is named, ordered and versioned ([SetVersion], [Names]). The
// same function, [Compute], serves the streaming pipeline, offline replay
// (backtests, training-data export) and parity tests, so what is trained on is
// exactly what is served (the seed's first gotcha: training-serving skew).
//
// Missing values are NaN (LightGBM's missing value), never 0: a card's first
// transaction has no previous one, a std over fewer than two amounts does not
// exist.
package features

import (
	"math"

	"github.com/fraudstream/fraudstream/operators/windows"
	"github.com/fraudstream/fraudstream/schemas"
)

// SetVersion names this feature set; model bundles must declare the same.
// Bump it whenever a name, its order or its formula changes.
const SetVersion = "fs1"

// Window lengths in milliseconds, in the order of the windows config.
const (
	hourMillis = int64(60 * 60 * 1000)
	dayMillis  = 24 * hourMillis
)

// WindowsMillis are the windows the feature set needs, in the order
// windows.Result.Windows holds them: 1h, 7d, 30d, 90d.
var WindowsMillis = []int64{hourMillis, 7 * dayMillis, 30 * dayMillis, 90 * dayMillis}

const (
	w1h = iota
	w7d
	w30d
	w90d
)

// Feature indexes, in order. The seed's nine window aggregates come first.
const (
	AmountMean7d = iota
	AmountStd7d
	AmountCount7d
	AmountMean30d
	AmountStd30d
	AmountCount30d
	AmountMean90d
	AmountStd90d
	AmountCount90d
	Amount
	AmountCount1h
	AmountToMean30d
	AmountZScore90d
	SecondsSincePrev
	CountRatio7d90d
	MerchantNew
	DistanceFromPrevKm
	SpeedFromPrevKmh
	CountryChanged
	MCC
	ChannelCode
	HourOfDay
	// Count is the length of the feature vector.
	Count
)

var names = [Count]string{
	"amount_mean_7d", "amount_std_7d", "amount_count_7d",
	"amount_mean_30d", "amount_std_30d", "amount_count_30d",
	"amount_mean_90d", "amount_std_90d", "amount_count_90d",
	"amount", "amount_count_1h", "amount_to_mean_30d", "amount_zscore_90d",
	"seconds_since_prev", "count_ratio_7d_90d", "merchant_new",
	"distance_from_prev_km", "speed_from_prev_kmh", "country_changed",
	"mcc", "channel_code", "hour_of_day",
}

// Names returns the feature names in order (a fresh slice).
func Names() []string { return append([]string(nil), names[:]...) }

// Channel codes: a fixed mapping so that the model sees a stable number.
var channelCodes = map[string]float64{"pos": 0, "contactless": 1, "ecom": 2, "moto": 3, "atm": 4}

// ChannelCodeOf returns the numeric code of a channel (5 for any other).
func ChannelCodeOf(ch string) float64 {
	if c, ok := channelCodes[ch]; ok {
		return c
	}
	return 5
}

// Hash is the 64-bit FNV-1a hash used for merchant and country identity in
// the card state (0 means absent).
func Hash(s string) uint64 {
	if s == "" {
		return 0
	}
	// FNV-1a, 64-bit (hash/fnv's constants), inline so that it does not
	// allocate.
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	if h == 0 {
		h = 1
	}
	return h
}

// Event converts a transaction to the windows operator's event.
func Event(tx *schemas.Transaction) windows.Event {
	ev := windows.Event{TimeMillis: tx.EventTime, Amount: tx.Amount, Merchant: Hash(tx.MerchantID), Lat: math.NaN(), Lon: math.NaN()}
	if tx.Country != nil {
		ev.Country = Hash(*tx.Country)
	}
	if tx.Lat != nil && tx.Lon != nil {
		ev.Lat, ev.Lon = *tx.Lat, *tx.Lon
	}
	return ev
}

// Compute writes the feature vector of tx into dst (grown to Count) and
// returns it. ev must be Event(tx) and r the windows result of observing it
// with WindowsMillis.
func Compute(dst []float64, tx *schemas.Transaction, ev *windows.Event, r *windows.Result) []float64 {
	if cap(dst) < Count {
		dst = make([]float64, Count)
	}
	v := dst[:Count]
	ws := r.Windows
	v[AmountMean7d], v[AmountStd7d], v[AmountCount7d] = ws[w7d].Mean, ws[w7d].Std, float64(ws[w7d].Count)
	v[AmountMean30d], v[AmountStd30d], v[AmountCount30d] = ws[w30d].Mean, ws[w30d].Std, float64(ws[w30d].Count)
	v[AmountMean90d], v[AmountStd90d], v[AmountCount90d] = ws[w90d].Mean, ws[w90d].Std, float64(ws[w90d].Count)
	v[Amount] = tx.Amount
	v[AmountCount1h] = float64(ws[w1h].Count)
	v[AmountToMean30d] = ratio(tx.Amount, ws[w30d].Mean)
	v[AmountZScore90d] = math.NaN()
	if s := ws[w90d].Std; s > 0 {
		v[AmountZScore90d] = (tx.Amount - ws[w90d].Mean) / s
	}
	v[CountRatio7d90d] = ratio(float64(ws[w7d].Count), float64(ws[w90d].Count))
	v[MerchantNew] = 1
	if r.MerchantSeen {
		v[MerchantNew] = 0
	}
	v[SecondsSincePrev], v[DistanceFromPrevKm], v[SpeedFromPrevKmh], v[CountryChanged] = math.NaN(), math.NaN(), math.NaN(), math.NaN()
	if p := &r.Prev; p.Found {
		dt := float64(tx.EventTime-p.TimeMillis) / 1000 // seconds, ≥ 0
		v[SecondsSincePrev] = dt
		if !math.IsNaN(ev.Lat) && !math.IsNaN(p.Lat) {
			d := HaversineKm(p.Lat, p.Lon, ev.Lat, ev.Lon)
			v[DistanceFromPrevKm] = d
			// Speed over at least one minute, so two events at the same
			// millisecond do not divide by zero.
			v[SpeedFromPrevKmh] = d / (math.Max(dt, 60) / 3600)
		}
		if ev.Country != 0 && p.Country != 0 {
			v[CountryChanged] = 0
			if ev.Country != p.Country {
				v[CountryChanged] = 1
			}
		}
	}
	v[MCC] = float64(tx.MCC)
	v[ChannelCode] = ChannelCodeOf(tx.Channel)
	v[HourOfDay] = float64((tx.EventTime / hourMillis) % 24)
	return v
}

func ratio(a, b float64) float64 {
	if b == 0 || math.IsNaN(b) {
		return math.NaN()
	}
	return a / b
}

// HaversineKm is the great-circle distance between two points in degrees,
// on a sphere of radius 6371.0088 km (the mean Earth radius).
func HaversineKm(lat1, lon1, lat2, lon2 float64) float64 {
	const r = 6371.0088
	const rad = math.Pi / 180
	p1, p2 := lat1*rad, lat2*rad
	dp, dl := (lat2-lat1)*rad, (lon2-lon1)*rad
	a := math.Sin(dp/2)*math.Sin(dp/2) + math.Cos(p1)*math.Cos(p2)*math.Sin(dl/2)*math.Sin(dl/2)
	return 2 * r * math.Asin(math.Min(1, math.Sqrt(a)))
}

// Reasons appends human-readable reason codes explaining a flagged feature
// vector (fixed order, deterministic) to dst.
func Reasons(dst []string, v []float64) []string {
	if v[AmountCount1h] >= 5 {
		dst = append(dst, "burst_1h")
	}
	if v[AmountToMean30d] >= 3 {
		dst = append(dst, "amount_above_30d_mean")
	}
	if v[AmountZScore90d] >= 3 {
		dst = append(dst, "amount_zscore_90d")
	}
	if v[SpeedFromPrevKmh] >= 900 {
		dst = append(dst, "impossible_travel")
	}
	if v[CountryChanged] == 1 {
		dst = append(dst, "country_changed")
	}
	if v[MerchantNew] == 1 && v[AmountCount90d] > 1 {
		dst = append(dst, "new_merchant")
	}
	if v[SecondsSincePrev] < 60 {
		dst = append(dst, "rapid_succession")
	}
	return dst
}
