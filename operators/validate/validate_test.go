package validate

import (
	"math"
	"testing"

	"github.com/fraudstream/fraudstream/schemas"
)

func f(v float64) *float64 { return &v }

func TestCheck(t *testing.T) {
	r := DefaultRules()
	if err := r.Compile(); err != nil {
		t.Fatal(err)
	}
	good := func() schemas.Transaction {
		return schemas.Transaction{TransactionID: "t", CardID: "c", MerchantID: "m", MCC: 5411, Amount: 10,
			Currency: "EUR", EventTime: 1_000_000, Channel: "pos", Lat: f(1), Lon: f(2)}
	}
	const ts = 1_000_000
	cases := []struct {
		name   string
		mutate func(*schemas.Transaction)
		key    string
		want   string
	}{
		{"valid", func(*schemas.Transaction) {}, "c", ""},
		{"boundary amount 0", func(tx *schemas.Transaction) { tx.Amount = 0 }, "c", ""},
		{"boundary amount 1e6", func(tx *schemas.Transaction) { tx.Amount = 1e6 }, "c", ""},
		{"amount too big", func(tx *schemas.Transaction) { tx.Amount = 1e6 + 0.01 }, "c", ReasonAmountRange},
		{"negative amount", func(tx *schemas.Transaction) { tx.Amount = -1 }, "c", ReasonAmountRange},
		{"NaN amount", func(tx *schemas.Transaction) { tx.Amount = math.NaN() }, "c", ReasonAmountRange},
		{"empty card", func(tx *schemas.Transaction) { tx.CardID = "" }, "", ReasonMissingField},
		{"empty txid", func(tx *schemas.Transaction) { tx.TransactionID = "" }, "c", ReasonMissingField},
		{"currency", func(tx *schemas.Transaction) { tx.Currency = "XXX" }, "c", ReasonCurrency},
		{"skew ok", func(tx *schemas.Transaction) { tx.EventTime = ts + 5*60*1000 }, "c", ""},
		{"future", func(tx *schemas.Transaction) { tx.EventTime = ts + 5*60*1000 + 1 }, "c", ReasonFutureEventTime},
		{"zero time", func(tx *schemas.Transaction) { tx.EventTime = 0 }, "c", ReasonBadEventTime},
		{"key mismatch", func(*schemas.Transaction) {}, "other", ReasonKeyMismatch},
		{"half geo", func(tx *schemas.Transaction) { tx.Lon = nil }, "c", ReasonBadGeo},
		{"geo range", func(tx *schemas.Transaction) { tx.Lat = f(91) }, "c", ReasonBadGeo},
	}
	for _, tc := range cases {
		tx := good()
		tc.mutate(&tx)
		v := r.Check(&tx, []byte(tc.key), ts)
		got := ""
		if v != nil {
			got = v.Reason
			if v.Detail == "" {
				t.Errorf("%s: empty detail", tc.name)
			}
		}
		if got != tc.want {
			t.Errorf("%s: got %q (%v), want %q", tc.name, got, v, tc.want)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	r := DefaultRules()
	r.Currencies = []string{"eur"}
	if err := r.Compile(); err == nil {
		t.Fatal("lower-case currency accepted")
	}
	r = DefaultRules()
	r.MinAmount, r.MaxAmount = 10, 1
	if err := r.Compile(); err == nil {
		t.Fatal("min > max accepted")
	}
}
