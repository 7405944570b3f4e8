package synth

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// ErrInvalidConfig is wrapped by every error Config.Validate (and so New)
// returns; callers branch on it with errors.Is.
var ErrInvalidConfig = errors.New("synth: invalid config")

// MinMerchants is the smallest Config.Merchants accepted: every city needs a
// few merchants of its own, and the fraud patterns need their own kinds of
// merchant (card-testing targets, risky merchants, high-value shops).
const MinMerchants = 200

// MaxCards bounds Config.Cards so that card indexes fit the int32 the
// scheduler keeps them in.
const MaxCards = 1 << 30

// Config describes one simulated world and its history. The zero value is not
// usable: start from DefaultConfig and change what you need. Every field is
// read once, by New; the same Config always yields the same sequence of items.
type Config struct {
	// Seed selects the world (cards, merchants, profiles) and its history.
	// Any value is allowed. Transaction ids embed a tag derived from it, so
	// streams of different seeds do not share ids.
	Seed int64

	// Cards is the number of cards (default 20,000; 1 ≤ Cards ≤ MaxCards).
	// The simulated transaction rate is about 1.43 × Cards per day of event
	// time (the mean of the per-card daily rates, log-uniform in 0.3–4), so
	// the default config makes about 3.4 million transactions.
	Cards int

	// Merchants is the number of merchants (default 5,000; ≥ MinMerchants).
	Merchants int

	// Start is the event time at which the simulation begins
	// (default 2026-01-01T00:00:00Z).
	Start time.Time

	// Duration is the span of event time simulated (default 120 days; > 0
	// unless Unbounded). Transactions have event_time in [Start,
	// Start+Duration); the stream then drains: late arrivals and the labels of
	// those transactions still come out (up to LabelDelayMax later), so every
	// fraud transaction is labelled.
	Duration time.Duration

	// Unbounded makes the generator run forever (Duration is ignored); for
	// `fraudstream dev` and load tests.
	Unbounded bool

	// FraudRate is the target fraction of transactions that are fraud
	// (default 0.008; 0 ≤ FraudRate < 0.5). It is met in expectation: fraud
	// comes in episodes (a card-testing burst is up to 31 transactions), so a
	// short stretch of the stream can be well off the target.
	FraudRate float64

	// OutOfOrderFraction is the fraction of transactions that arrive late
	// (default 0.002; 0 ≤ f < 1): their arrival time is event_time plus a
	// delay drawn log-uniformly in [LateDelayMin, LateDelayMax]. Every other
	// transaction arrives within IngestionDelayMax of its event time, and in
	// event-time order within its card.
	OutOfOrderFraction float64

	// LateDelayMin and LateDelayMax bound the delay of late arrivals
	// (defaults 1 minute and 72 hours; IngestionDelayMax < min ≤ max).
	LateDelayMin, LateDelayMax time.Duration

	// LabelDelayMin and LabelDelayMax bound label_time − event_time
	// (defaults 2 and 45 days, chargeback delays; 0 < min ≤ max). Delays are
	// skewed towards the minimum (min + (max−min)·U², U uniform in [0,1)),
	// like chargebacks, most of which come in the first weeks. A label never
	// arrives before its transaction: label_time is at least 1 s after the
	// transaction's arrival.
	LabelDelayMin, LabelDelayMax time.Duration

	// LegitLabelFraction is the fraction of legitimate transactions that
	// also get a label (is_fraud=false, source "analyst"); default 0, allowed
	// [0, 1]. Every fraud transaction gets exactly one label
	// (is_fraud=true, source "chargeback").
	LegitLabelFraction float64

	// Currencies is the set of ISO 4217 codes transactions may carry
	// (default EUR, USD, GBP). Currencies[0] is the cards' billing currency:
	// a transaction is in the merchant's local currency when that is in the
	// set, else in Currencies[0]. Most cards and merchants are in the euro
	// area, so with the default set most transactions are in EUR. Amounts are
	// not converted (one unit of any currency is treated as one unit).
	Currencies []string

	// DriftAt, when non-zero, is the event time after which a drift scenario
	// runs: legitimate amounts are twice as high and a new fraud pattern
	// (PatternMimicry: card-typical amounts at new online merchants from a new
	// device) makes up most of the fraud. Zero means no drift. It is a hook
	// for monitoring tests, deliberately simple.
	DriftAt time.Time
}

// IngestionDelayMax bounds arrival − event_time for transactions that are not
// late (they get 20 ms plus an exponential delay of mean 300 ms, capped here).
const IngestionDelayMax = 5 * time.Second

const day = 24 * time.Hour

// DefaultConfig returns the configuration `fraudstream produce --synthetic`
// and the default model's training set use, with seed 1.
func DefaultConfig() Config {
	return Config{
		Seed:               1,
		Cards:              20_000,
		Merchants:          5_000,
		Start:              time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		Duration:           120 * day,
		FraudRate:          0.008,
		OutOfOrderFraction: 0.002,
		LateDelayMin:       time.Minute,
		LateDelayMax:       72 * time.Hour,
		LabelDelayMin:      2 * day,
		LabelDelayMax:      45 * day,
		LegitLabelFraction: 0,
		Currencies:         []string{"EUR", "USD", "GBP"},
	}
}

// Validate reports every invalid field, each named with its allowed values.
// The returned error wraps ErrInvalidConfig.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(format, args...))
	}
	if c.Cards < 1 || c.Cards > MaxCards {
		bad("Cards = %d: must be in [1, %d]", c.Cards, MaxCards)
	}
	if c.Merchants < MinMerchants || c.Merchants > MaxCards {
		bad("Merchants = %d: must be in [%d, %d]", c.Merchants, MinMerchants, MaxCards)
	}
	if c.Start.IsZero() {
		bad("Start is not set: give the event time of the simulation's beginning (e.g. 2026-01-01T00:00:00Z)")
	} else if y := c.Start.Year(); y < 1970 || y > 9000 {
		bad("Start = %s: year must be in [1970, 9000]", c.Start.Format(time.RFC3339))
	}
	if !c.Unbounded && c.Duration <= 0 {
		bad("Duration = %s: must be > 0 (or set Unbounded)", c.Duration)
	}
	if !(c.FraudRate >= 0 && c.FraudRate < 0.5) {
		bad("FraudRate = %v: must be in [0, 0.5)", c.FraudRate)
	}
	if !(c.OutOfOrderFraction >= 0 && c.OutOfOrderFraction < 1) {
		bad("OutOfOrderFraction = %v: must be in [0, 1)", c.OutOfOrderFraction)
	}
	if c.LateDelayMin <= IngestionDelayMax || c.LateDelayMax < c.LateDelayMin {
		bad("LateDelayMin = %s, LateDelayMax = %s: need %s < LateDelayMin ≤ LateDelayMax",
			c.LateDelayMin, c.LateDelayMax, IngestionDelayMax)
	}
	if c.LabelDelayMin <= 0 || c.LabelDelayMax < c.LabelDelayMin {
		bad("LabelDelayMin = %s, LabelDelayMax = %s: need 0 < LabelDelayMin ≤ LabelDelayMax",
			c.LabelDelayMin, c.LabelDelayMax)
	}
	if !(c.LegitLabelFraction >= 0 && c.LegitLabelFraction <= 1) {
		bad("LegitLabelFraction = %v: must be in [0, 1]", c.LegitLabelFraction)
	}
	if len(c.Currencies) == 0 {
		bad("Currencies is empty: give at least one ISO 4217 code (e.g. EUR)")
	}
	for i, cur := range c.Currencies {
		if !isCurrencyCode(cur) {
			bad("Currencies[%d] = %q: must be three upper-case letters (ISO 4217)", i, cur)
		}
		for _, prev := range c.Currencies[:i] {
			if prev == cur {
				bad("Currencies[%d] = %q: listed twice", i, cur)
			}
		}
	}
	if !c.DriftAt.IsZero() && !c.Start.IsZero() && c.DriftAt.Before(c.Start) {
		bad("DriftAt = %s: must be zero (no drift) or not before Start = %s",
			c.DriftAt.Format(time.RFC3339), c.Start.Format(time.RFC3339))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
}

func isCurrencyCode(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

// endMillis is the exclusive end of event time, math.MaxInt64 if unbounded.
func (c Config) endMillis() int64 {
	if c.Unbounded {
		return math.MaxInt64
	}
	return c.Start.Add(c.Duration).UnixMilli()
}
