package synth

import (
	"errors"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fraudstream/fraudstream/schemas"
)

// mediumConfig is the default world over 30 days (≈860k transactions), or a
// small one with -short.
func mediumConfig() Config {
	cfg := DefaultConfig()
	cfg.Duration = 30 * day
	if testing.Short() {
		cfg.Cards = 5000
		cfg.Duration = 10 * day
	}
	return cfg
}

func mustNew(t testing.TB, cfg Config) *Generator {
	t.Helper()
	g, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return g
}

// run is one generated stream and what the invariant tests check on it.
type run struct {
	cfg     Config
	items   int
	txs     []txInfo // in arrival order
	txIndex map[string]int
	labels  []labelInfo
	maxPend int
}

type txInfo struct {
	tx      schemas.Transaction
	arrival int64
	item    int // position in the stream
	fraud   bool
	pattern string
}

type labelInfo struct {
	l       schemas.Label
	arrival int64
	item    int
	fraud   bool
	pattern string
}

func collect(t testing.TB, cfg Config) *run {
	t.Helper()
	g := mustNew(t, cfg)
	r := &run{cfg: cfg, txIndex: map[string]int{}}
	var it Item
	for g.Next(&it) {
		switch it.Kind {
		case KindTransaction:
			r.txIndex[it.Tx.TransactionID] = len(r.txs)
			r.txs = append(r.txs, txInfo{it.Tx, it.ArrivalMillis, r.items, it.IsFraud, it.Pattern})
		case KindLabel:
			r.labels = append(r.labels, labelInfo{it.Label, it.ArrivalMillis, r.items, it.IsFraud, it.Pattern})
		default:
			t.Fatalf("item %d: kind %v", r.items, it.Kind)
		}
		r.items++
		r.maxPend = max(r.maxPend, len(g.pend))
	}
	if len(r.txIndex) != len(r.txs) {
		t.Fatalf("%d transactions but %d distinct ids", len(r.txs), len(r.txIndex))
	}
	return r
}

var (
	mediumOnce sync.Once
	mediumRun  *run
)

func medium(t *testing.T) *run {
	t.Helper()
	mediumOnce.Do(func() { mediumRun = collect(t, mediumConfig()) })
	if mediumRun == nil {
		t.Fatal("medium run failed")
	}
	return mediumRun
}

func TestDeterminism(t *testing.T) {
	const n = 100_000
	first := func(seed int64) []Item {
		cfg := DefaultConfig()
		cfg.Seed = seed
		g := mustNew(t, cfg)
		out := make([]Item, n)
		for i := range out {
			if !g.Next(&out[i]) {
				t.Fatalf("seed %d: stream ended after %d items", seed, i)
			}
		}
		return out
	}
	a, b, c := first(42), first(42), first(43)
	for i := range a {
		if !reflect.DeepEqual(a[i], b[i]) {
			t.Fatalf("same seed, item %d differs:\n%+v\n%+v", i, a[i], b[i])
		}
	}
	same := 0
	for i := range a {
		if reflect.DeepEqual(a[i], c[i]) {
			same++
		}
	}
	if same > n/100 {
		t.Errorf("seeds 42 and 43 share %d of the first %d items", same, n)
	}
	if strings.HasPrefix(a[0].Tx.TransactionID, c[0].Tx.TransactionID[:12]) {
		t.Errorf("seeds 42 and 43 share the transaction id prefix: %s, %s", a[0].Tx.TransactionID, c[0].Tx.TransactionID)
	}
}

func TestArrivalOrder(t *testing.T) {
	r := medium(t)
	prev := int64(math.MinInt64)
	all := make([]int64, r.items)
	for _, x := range r.txs {
		all[x.item] = x.arrival
	}
	for _, l := range r.labels {
		all[l.item] = l.arrival
	}
	for i, a := range all {
		if a < prev {
			t.Fatalf("item %d arrives at %d, before the previous item (%d)", i, a, prev)
		}
		prev = a
	}
}

func TestFraudRate(t *testing.T) {
	r := medium(t)
	fraud := 0
	for _, x := range r.txs {
		if x.fraud {
			fraud++
		}
	}
	rate := float64(fraud) / float64(len(r.txs))
	// Fraud comes in episodes of up to 31 transactions, so the count has a
	// standard deviation of ≈4% over 30 days (≈14% with -short).
	tol := 0.15
	if testing.Short() {
		tol = 0.4
	}
	if math.Abs(rate-r.cfg.FraudRate) > tol*r.cfg.FraudRate {
		t.Errorf("fraud rate %.5f (%d of %d), want %.4f ± %.0f%%", rate, fraud, len(r.txs), r.cfg.FraudRate, 100*tol)
	}
	t.Logf("%d transactions, %d fraud (%.4f%%)", len(r.txs), fraud, 100*rate)
}

func TestEveryPatternPresent(t *testing.T) {
	r := medium(t)
	count := map[string]int{}
	for _, x := range r.txs {
		if x.fraud != (x.pattern != PatternNone) {
			t.Fatalf("tx %s: IsFraud %v with pattern %q", x.tx.TransactionID, x.fraud, x.pattern)
		}
		count[x.pattern]++
	}
	for _, p := range []string{PatternCardTesting, PatternATO, PatternRiskyMerchant, PatternGeoJump} {
		if count[p] == 0 {
			t.Errorf("no %s transactions", p)
		}
	}
	if count[PatternMimicry] != 0 {
		t.Errorf("%d mimicry transactions without drift", count[PatternMimicry])
	}
	t.Logf("transactions by pattern: %v", count)
}

func TestLabels(t *testing.T) {
	r := medium(t)
	seen := map[string]int{}
	for _, l := range r.labels {
		i, ok := r.txIndex[l.l.TransactionID]
		if !ok {
			t.Fatalf("label for unknown transaction %q", l.l.TransactionID)
		}
		x := r.txs[i]
		if l.item < x.item || l.l.LabelTime <= x.arrival || l.arrival != l.l.LabelTime {
			t.Fatalf("label %+v (item %d, arrival %d) not after its transaction (item %d, arrival %d)",
				l.l, l.item, l.arrival, x.item, x.arrival)
		}
		if d := time.Duration(l.l.LabelTime-x.tx.EventTime) * time.Millisecond; d < r.cfg.LabelDelayMin || d > r.cfg.LabelDelayMax+time.Duration(r.cfg.LateDelayMax) {
			t.Fatalf("label %+v: delay %s outside [%s, %s]", l.l, d, r.cfg.LabelDelayMin, r.cfg.LabelDelayMax)
		}
		if l.l.CardID != x.tx.CardID || l.l.IsFraud != x.fraud || l.fraud != x.fraud || l.pattern != x.pattern {
			t.Fatalf("label %+v (fraud %v, %q) does not match its transaction %+v (fraud %v, %q)", l.l, l.fraud, l.pattern, x.tx, x.fraud, x.pattern)
		}
		if l.l.Source != SourceChargeback {
			t.Fatalf("fraud label with source %q", l.l.Source)
		}
		seen[l.l.TransactionID]++
	}
	for _, x := range r.txs {
		want := 0
		if x.fraud {
			want = 1
		}
		if got := seen[x.tx.TransactionID]; got != want {
			t.Fatalf("transaction %s (fraud %v) has %d labels, want %d", x.tx.TransactionID, x.fraud, got, want)
		}
	}
}

func TestLegitLabels(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Cards = 2000
	cfg.Duration = 20 * day
	cfg.LegitLabelFraction = 1
	r := collect(t, cfg)
	seen := map[string]int{}
	for _, l := range r.labels {
		x := r.txs[r.txIndex[l.l.TransactionID]]
		want := SourceAnalyst
		if x.fraud {
			want = SourceChargeback
		}
		if l.l.Source != want || l.l.IsFraud != x.fraud || l.item < x.item {
			t.Fatalf("label %+v for transaction (fraud %v) at item %d", l.l, x.fraud, x.item)
		}
		seen[l.l.TransactionID]++
	}
	for _, x := range r.txs {
		if seen[x.tx.TransactionID] != 1 {
			t.Fatalf("transaction %s has %d labels, want 1", x.tx.TransactionID, seen[x.tx.TransactionID])
		}
	}
}

// The transactions do not depend on how they arrive or which are labelled.
func TestTransactionsIndependentOfArrivalConfig(t *testing.T) {
	base := DefaultConfig()
	base.Cards = 1000
	base.Duration = 20 * day
	other := base
	other.LegitLabelFraction = 0.5
	other.OutOfOrderFraction = 0.1
	other.LabelDelayMin, other.LabelDelayMax = time.Hour, 2*time.Hour
	a, b := collect(t, base), collect(t, other)
	if len(a.txs) != len(b.txs) {
		t.Fatalf("%d vs %d transactions", len(a.txs), len(b.txs))
	}
	for _, x := range a.txs {
		i, ok := b.txIndex[x.tx.TransactionID]
		if !ok || !reflect.DeepEqual(x.tx, b.txs[i].tx) {
			t.Fatalf("transaction %+v differs", x.tx)
		}
	}
}

func TestOutOfOrder(t *testing.T) {
	r := medium(t)
	late := 0
	lastOnTime := map[string]int64{}
	for _, x := range r.txs {
		d := time.Duration(x.arrival-x.tx.EventTime) * time.Millisecond
		switch {
		case d < 0:
			t.Fatalf("tx %s arrives %s before its event time", x.tx.TransactionID, -d)
		case d <= IngestionDelayMax:
			// On-time arrivals keep each card's event order.
			if prev, ok := lastOnTime[x.tx.CardID]; ok && x.tx.EventTime < prev {
				t.Fatalf("tx %s: on time but before the card's previous on-time event", x.tx.TransactionID)
			}
			lastOnTime[x.tx.CardID] = x.tx.EventTime
		case d >= r.cfg.LateDelayMin && d <= r.cfg.LateDelayMax:
			late++
		default:
			t.Fatalf("tx %s arrives %s after its event time", x.tx.TransactionID, d)
		}
	}
	frac := float64(late) / float64(len(r.txs))
	tol := 0.15
	if testing.Short() {
		tol = 0.3
	}
	if math.Abs(frac-r.cfg.OutOfOrderFraction) > tol*r.cfg.OutOfOrderFraction {
		t.Errorf("late fraction %.5f, want %.4f ± %.0f%%", frac, r.cfg.OutOfOrderFraction, 100*tol)
	}
}

func TestFieldsValid(t *testing.T) {
	r := medium(t)
	start, end := r.cfg.Start.UnixMilli(), r.cfg.Start.Add(r.cfg.Duration).UnixMilli()
	channels := map[string]bool{}
	currencies := map[string]int{}
	for _, x := range r.txs {
		tx := &x.tx
		bad := func(what string) { t.Fatalf("tx %+v: %s", *tx, what) }
		if !strings.HasPrefix(tx.TransactionID, "tx-") || !strings.HasPrefix(tx.CardID, "card-") || len(tx.CardID) < 11 ||
			!strings.HasPrefix(tx.MerchantID, "m-") || len(tx.MerchantID) < 7 {
			bad("malformed id")
		}
		if !(tx.Amount > 0 && tx.Amount < 1e6) || tx.Amount != round2(tx.Amount) {
			bad("amount out of range or not in cents")
		}
		if !slices.Contains(r.cfg.Currencies, tx.Currency) {
			bad("currency not in the config")
		}
		if tx.MCC <= 0 || tx.MCC > 9999 {
			bad("mcc")
		}
		if tx.EventTime < start || tx.EventTime >= end {
			bad("event time outside [Start, Start+Duration)")
		}
		if tx.Country == nil || len(*tx.Country) != 2 {
			bad("country")
		}
		present := tx.Channel == ChannelPOS || tx.Channel == ChannelContactless || tx.Channel == ChannelATM
		if (tx.Lat != nil) != present || (tx.Lon != nil) != present {
			bad("lat/lon must be set exactly for card-present channels")
		}
		if present && (math.Abs(*tx.Lat) > 90 || math.Abs(*tx.Lon) > 180) {
			bad("lat/lon out of range")
		}
		if (tx.DeviceID != nil) != (tx.Channel == ChannelEcom) || (tx.IP != nil) != (tx.Channel == ChannelEcom) {
			bad("device/ip must be set exactly for ecom")
		}
		channels[tx.Channel] = true
		currencies[tx.Currency]++
	}
	for _, ch := range []string{ChannelPOS, ChannelContactless, ChannelEcom, ChannelATM, ChannelMOTO} {
		if !channels[ch] {
			t.Errorf("no %s transactions", ch)
		}
	}
	if currencies["EUR"] < len(r.txs)/2 || currencies["USD"] == 0 || currencies["GBP"] == 0 {
		t.Errorf("currencies %v: want mostly EUR, some USD and GBP", currencies)
	}
}

// The patterns must be learnable from per-card features, and not trivially:
// check the signal each is meant to carry, and that legitimate traffic has
// some of the same look.
func TestPatternSignals(t *testing.T) {
	r := medium(t)
	byCard := map[string][]ev{}
	for _, x := range r.txs {
		e := ev{t: x.tx.EventTime, amount: x.tx.Amount, pattern: x.pattern, fraud: x.fraud, channel: x.tx.Channel, merchant: x.tx.MerchantID}
		if x.tx.Lat != nil {
			e.lat, e.lon, e.located = *x.tx.Lat, *x.tx.Lon, true
		}
		byCard[x.tx.CardID] = append(byCard[x.tx.CardID], e)
	}
	var (
		ctSmall, ct, ctEcom                 int
		ato, atoHigh, atoNewMerchant        int
		geoFirst, geoFast                   int
		legitFast, legitFar, legitLocated   int
		legitLarge, legit                   int
		hourFraud, hourLegit, night, nightL int
	)
	for _, evs := range byCard {
		slices.SortStableFunc(evs, func(a, b ev) int { return int(a.t - b.t) })
		var (
			sum, n      float64
			merchants   = map[string]bool{}
			prevLoc     *ev // previous located transaction, any
			prevLegitLc *ev // previous located legit transaction
		)
		for i := range evs {
			e := &evs[i]
			mean := sum / max(n, 1)
			switch e.pattern {
			case PatternCardTesting:
				ct++
				if e.amount <= 5 {
					ctSmall++
				}
				if e.channel == ChannelEcom {
					ctEcom++
				}
			case PatternATO:
				ato++
				if n >= 3 && e.amount > 3*mean {
					atoHigh++
				}
				if !merchants[e.merchant] {
					atoNewMerchant++
				}
			case PatternGeoJump:
				if prevLoc != nil && prevLoc.pattern != PatternGeoJump {
					geoFirst++
					if speedKmh(prevLoc, e.lat, e.lon, e.t) > 1000 {
						geoFast++
					}
				}
			case PatternNone:
				legit++
				if n >= 3 && e.amount > 5*mean {
					legitLarge++
				}
				if e.located && prevLegitLc != nil {
					legitLocated++
					d := haversineKm(prevLegitLc.lat, prevLegitLc.lon, e.lat, e.lon)
					if d > 500 {
						legitFar++
						if speedKmh(prevLegitLc, e.lat, e.lon, e.t) > 1000 {
							legitFast++
						}
					}
				}
			}
			if !e.fraud {
				sum += e.amount
				n++
				merchants[e.merchant] = true
			}
			if e.located {
				prevLoc = e
				if !e.fraud {
					prevLegitLc = e
				}
			}
			h := time.UnixMilli(e.t).UTC().Hour()
			if e.fraud {
				hourFraud++
				if h < 5 {
					night++
				}
			} else {
				hourLegit++
				if h < 5 {
					nightL++
				}
			}
		}
	}
	t.Logf("card testing: %d, %d ≤ 5.00, %d ecom; ato: %d, %d > 3× mean, %d new merchant; geo: %d first jumps, %d > 1000 km/h",
		ct, ctSmall, ctEcom, ato, atoHigh, atoNewMerchant, geoFirst, geoFast)
	t.Logf("legit: %d, %d large (> 5× mean); %d located after a located one, %d > 500 km away, %d > 1000 km/h; night share fraud %.3f legit %.3f",
		legit, legitLarge, legitLocated, legitFar, legitFast, float64(night)/float64(hourFraud), float64(nightL)/float64(hourLegit))
	if ctSmall < ct*9/10 || ctEcom != ct {
		t.Errorf("card testing: %d transactions, %d small, %d ecom", ct, ctSmall, ctEcom)
	}
	if atoHigh < ato*7/10 || atoNewMerchant < ato*9/10 {
		t.Errorf("ato: %d transactions, %d > 3× mean, %d at new merchants", ato, atoHigh, atoNewMerchant)
	}
	if geoFirst == 0 || geoFast < geoFirst*95/100 {
		t.Errorf("geo jumps: %d first, %d faster than 1000 km/h", geoFirst, geoFast)
	}
	if legitFast != 0 {
		t.Errorf("%d legitimate transactions imply travel faster than 1000 km/h", legitFast)
	}
	if legitFar == 0 {
		t.Errorf("no legitimate travel (> 500 km between card-present transactions)")
	}
	if legitLarge == 0 {
		t.Errorf("no legitimate large purchases")
	}
}

type ev struct {
	t        int64
	amount   float64
	lat, lon float64
	located  bool
	pattern  string
	fraud    bool
	channel  string
	merchant string
}

// speedKmh is the speed implied by going from prev to (lat, lon) at time t;
// time gaps under a second count as one second.
func speedKmh(prev *ev, lat, lon float64, t int64) float64 {
	h := float64(t-prev.t) / float64(msPerHour)
	return haversineKm(prev.lat, prev.lon, lat, lon) / math.Max(h, 1.0/3600)
}

func TestDrift(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Cards = 5000
	cfg.Duration = 40 * day
	if testing.Short() {
		cfg.Cards = 2000
	}
	cfg.DriftAt = cfg.Start.Add(20 * day)
	r := collect(t, cfg)
	drift := cfg.DriftAt.UnixMilli()
	var before, after []float64
	patAfter := map[string]int{}
	for _, x := range r.txs {
		if x.tx.EventTime < drift {
			if x.pattern == PatternMimicry {
				t.Fatalf("mimicry before DriftAt: %+v", x.tx)
			}
			if !x.fraud {
				before = append(before, x.tx.Amount)
			}
			continue
		}
		patAfter[x.pattern]++
		if !x.fraud {
			after = append(after, x.tx.Amount)
		}
	}
	top, topN := "", 0
	for p, n := range patAfter {
		if p != PatternNone && n > topN {
			top, topN = p, n
		}
	}
	if top != PatternMimicry {
		t.Errorf("after drift the main fraud pattern is %q (%v), want mimicry", top, patAfter)
	}
	slices.Sort(before)
	slices.Sort(after)
	ratio := after[len(after)/2] / before[len(before)/2]
	if ratio < 1.8 || ratio > 2.2 {
		t.Errorf("median legit amount after/before drift = %.3f, want ≈2", ratio)
	}
}

func TestBoundedMemory(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Cards = 2000
	cfg.Unbounded = true
	g := mustNew(t, cfg)
	var it Item
	start := cfg.Start.UnixMilli()
	var maxFirst, maxSecond int
	for g.Next(&it) {
		d := (it.ArrivalMillis - start) / msPerDay
		if d >= 200 {
			break
		}
		n := len(g.pend) + len(g.slots)
		switch {
		case d >= 100:
			maxSecond = max(maxSecond, n)
		case d >= 50:
			maxFirst = max(maxFirst, n)
		}
	}
	t.Logf("max records in flight: days 50–100: %d, days 100–200: %d", maxFirst, maxSecond)
	if maxFirst == 0 || maxSecond > 2*maxFirst {
		t.Errorf("records in flight grow with history: %d then %d", maxFirst, maxSecond)
	}
	if len(g.events) > 2*cfg.Cards {
		t.Errorf("%d scheduled events for %d cards", len(g.events), cfg.Cards)
	}
}

func TestUnbounded(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Cards = 300
	cfg.Duration = day // ignored
	cfg.Unbounded = true
	g := mustNew(t, cfg)
	var it Item
	limit := cfg.Start.Add(10 * day).UnixMilli()
	for g.Next(&it) {
		if it.ArrivalMillis > limit {
			return
		}
	}
	t.Fatal("unbounded stream ended")
}

func TestValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig invalid: %v", err)
	}
	for _, tc := range []struct {
		field string
		edit  func(*Config)
	}{
		{"Cards", func(c *Config) { c.Cards = 0 }},
		{"Merchants", func(c *Config) { c.Merchants = 10 }},
		{"Start", func(c *Config) { c.Start = time.Time{} }},
		{"Duration", func(c *Config) { c.Duration = 0 }},
		{"FraudRate", func(c *Config) { c.FraudRate = 0.7 }},
		{"FraudRate", func(c *Config) { c.FraudRate = math.NaN() }},
		{"OutOfOrderFraction", func(c *Config) { c.OutOfOrderFraction = -0.1 }},
		{"LateDelayMin", func(c *Config) { c.LateDelayMin = time.Second }},
		{"LateDelayMax", func(c *Config) { c.LateDelayMax = 30 * time.Second }},
		{"LabelDelayMin", func(c *Config) { c.LabelDelayMin = 0 }},
		{"LabelDelayMax", func(c *Config) { c.LabelDelayMax = time.Hour }},
		{"LegitLabelFraction", func(c *Config) { c.LegitLabelFraction = 1.5 }},
		{"Currencies", func(c *Config) { c.Currencies = nil }},
		{"Currencies[1]", func(c *Config) { c.Currencies = []string{"EUR", "usd"} }},
		{"Currencies[1]", func(c *Config) { c.Currencies = []string{"EUR", "EUR"} }},
		{"DriftAt", func(c *Config) { c.DriftAt = c.Start.Add(-time.Hour) }},
	} {
		c := DefaultConfig()
		tc.edit(&c)
		err := c.Validate()
		if err == nil || !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: Validate() = %v, want an ErrInvalidConfig naming the field", tc.field, err)
		}
		if _, err := New(c); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: New() = %v, want ErrInvalidConfig", tc.field, err)
		}
	}
	c := DefaultConfig()
	c.Duration = 0
	c.Unbounded = true
	if err := c.Validate(); err != nil {
		t.Errorf("unbounded with zero Duration: %v", err)
	}
}

func TestSmallWorlds(t *testing.T) {
	// The smallest allowed world still works, and a stream with no fraud
	// has no labels.
	cfg := DefaultConfig()
	cfg.Cards = 1
	cfg.Merchants = MinMerchants
	cfg.Duration = 60 * day
	cfg.FraudRate = 0.3
	r := collect(t, cfg)
	if len(r.txs) == 0 {
		t.Fatal("no transactions")
	}
	cfg.FraudRate = 0
	cfg.Cards = 100
	r = collect(t, cfg)
	if len(r.labels) != 0 {
		t.Errorf("%d labels with FraudRate 0", len(r.labels))
	}
}

func TestHourOfWeek(t *testing.T) {
	for _, tc := range []struct {
		at   string
		want int
	}{
		{"1970-01-01T00:00:00Z", 72},       // Thursday
		{"2026-01-05T00:00:00Z", 0},        // Monday
		{"2026-01-04T23:59:59Z", 167},      // Sunday
		{"1969-12-29T01:30:00Z", 1},        // Monday, before the epoch
		{"2026-01-07T13:00:00.001Z", 61},   // Wednesday
		{"1969-12-31T23:59:59.999Z", 71},   // Wednesday
		{"2026-03-01T12:00:00+01:00", 155}, // Sunday 11:00 UTC
	} {
		ts, err := time.Parse(time.RFC3339, tc.at)
		if err != nil {
			t.Fatal(err)
		}
		if got := hourOfWeek(ts.UnixMilli()); got != tc.want {
			t.Errorf("hourOfWeek(%s) = %d, want %d", tc.at, got, tc.want)
		}
	}
}
