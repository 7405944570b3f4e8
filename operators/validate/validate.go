// Package validate checks decoded transactions against the data-quality
// expectations of the seed (not null, amount between 0 and 1,000,000, an
// allowed currency) plus the ones a streaming pipeline needs (event time not
// in the future of the record that carried it, key equal to card_id).
//
// "Now" is never the wall clock: the future bound is the Kafka record's own
// timestamp plus a skew, so a replay of the same log validates the same way.
package validate

import (
	"fmt"
	"math"
	"strings"

	"github.com/fraudstream/fraudstream/schemas"
)

// Reasons are the machine-readable codes written to the dead-letter topic and
// used as the `reason` label of the DLQ counter. The set is closed (bounded
// label cardinality).
const (
	ReasonDecode          = "decode_error"
	ReasonUnknownSchema   = "unknown_schema"
	ReasonMissingField    = "missing_field"
	ReasonAmountRange     = "amount_out_of_range"
	ReasonCurrency        = "currency_not_allowed"
	ReasonFutureEventTime = "future_event_time"
	ReasonBadEventTime    = "bad_event_time"
	ReasonKeyMismatch     = "key_mismatch"
	ReasonBadGeo          = "bad_geo"
	ReasonTooLate         = "too_late"
)

// AllReasons lists every reason code, for pre-registering metrics.
var AllReasons = []string{ReasonDecode, ReasonUnknownSchema, ReasonMissingField, ReasonAmountRange,
	ReasonCurrency, ReasonFutureEventTime, ReasonBadEventTime, ReasonKeyMismatch, ReasonBadGeo, ReasonTooLate}

// Rules are the validation expectations. The zero value is not useful; start
// from DefaultRules.
type Rules struct {
	// MinAmount and MaxAmount bound amount, inclusive, in currency units.
	// Default 0 and 1,000,000 (the seed's expectation).
	MinAmount, MaxAmount float64
	// Currencies is the allowed ISO 4217 set; empty allows any three-letter
	// upper-case code.
	Currencies []string
	// MaxFutureSkewMillis bounds how far event_time may be ahead of the Kafka
	// record timestamp (producer clock skew). Default 5 minutes.
	MaxFutureSkewMillis int64
	// CheckKey requires the record key to equal card_id: the pipeline's state
	// is partitioned by card, so a record keyed otherwise would land on a
	// partition that does not own its card. Default true.
	CheckKey bool

	allowed map[string]struct{}
}

// DefaultRules returns the defaults documented on Rules.
func DefaultRules() Rules {
	return Rules{
		MinAmount: 0, MaxAmount: 1_000_000,
		Currencies:          []string{"EUR", "USD", "GBP", "CHF", "SEK", "NOK", "DKK", "PLN", "CZK", "JPY", "CAD", "AUD"},
		MaxFutureSkewMillis: 5 * 60 * 1000,
		CheckKey:            true,
	}
}

// Compile checks the rules themselves and prepares them for Check.
func (r *Rules) Compile() error {
	if math.IsNaN(r.MinAmount) || math.IsNaN(r.MaxAmount) || r.MinAmount > r.MaxAmount {
		return fmt.Errorf("validation.min_amount (%v) must be <= validation.max_amount (%v)", r.MinAmount, r.MaxAmount)
	}
	if r.MaxFutureSkewMillis < 0 {
		return fmt.Errorf("validation.max_future_skew must be >= 0, got %dms", r.MaxFutureSkewMillis)
	}
	r.allowed = make(map[string]struct{}, len(r.Currencies))
	for _, c := range r.Currencies {
		if !isCurrencyCode(c) {
			return fmt.Errorf("validation.currencies: %q is not an ISO 4217 code (three upper-case letters)", c)
		}
		r.allowed[c] = struct{}{}
	}
	return nil
}

func isCurrencyCode(c string) bool {
	if len(c) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if c[i] < 'A' || c[i] > 'Z' {
			return false
		}
	}
	return true
}

// Violation says why a record was rejected.
type Violation struct {
	Reason string // one of the Reason* codes
	Detail string // for humans
}

func (v *Violation) Error() string { return v.Reason + ": " + v.Detail }

// Check validates tx, carried by a Kafka record with the given key and
// timestamp (Unix ms). It returns nil when tx is valid. Rules must have been
// compiled.
func (r *Rules) Check(tx *schemas.Transaction, key []byte, recordMillis int64) *Violation {
	switch {
	case tx.TransactionID == "":
		return &Violation{ReasonMissingField, "transaction_id is empty"}
	case tx.CardID == "":
		return &Violation{ReasonMissingField, "card_id is empty"}
	case tx.MerchantID == "":
		return &Violation{ReasonMissingField, "merchant_id is empty"}
	case tx.Currency == "":
		return &Violation{ReasonMissingField, "currency is empty"}
	case tx.Channel == "":
		return &Violation{ReasonMissingField, "channel is empty"}
	}
	if math.IsNaN(tx.Amount) || tx.Amount < r.MinAmount || tx.Amount > r.MaxAmount {
		return &Violation{ReasonAmountRange, fmt.Sprintf("amount %v outside [%v, %v]", tx.Amount, r.MinAmount, r.MaxAmount)}
	}
	if len(r.allowed) > 0 {
		if _, ok := r.allowed[tx.Currency]; !ok {
			return &Violation{ReasonCurrency, fmt.Sprintf("currency %q not in the allowed set", tx.Currency)}
		}
	} else if !isCurrencyCode(tx.Currency) {
		return &Violation{ReasonCurrency, fmt.Sprintf("currency %q is not an ISO 4217 code", tx.Currency)}
	}
	if tx.EventTime <= 0 {
		return &Violation{ReasonBadEventTime, fmt.Sprintf("event_time %d is not a positive Unix millisecond time", tx.EventTime)}
	}
	if tx.EventTime > recordMillis+r.MaxFutureSkewMillis {
		return &Violation{ReasonFutureEventTime, fmt.Sprintf("event_time %d is %dms after the record timestamp %d (max skew %dms)",
			tx.EventTime, tx.EventTime-recordMillis, recordMillis, r.MaxFutureSkewMillis)}
	}
	if r.CheckKey && string(key) != tx.CardID {
		return &Violation{ReasonKeyMismatch, fmt.Sprintf("record key %q differs from card_id %q: produce with key = card_id", truncate(string(key)), truncate(tx.CardID))}
	}
	if (tx.Lat == nil) != (tx.Lon == nil) {
		return &Violation{ReasonBadGeo, "lat and lon must both be set or both be null"}
	}
	if tx.Lat != nil && (!(*tx.Lat >= -90 && *tx.Lat <= 90) || !(*tx.Lon >= -180 && *tx.Lon <= 180)) {
		return &Violation{ReasonBadGeo, fmt.Sprintf("lat/lon %v,%v out of range", *tx.Lat, *tx.Lon)}
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}
