package schemas

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/hamba/avro/v2"
)

func ptr[T any](v T) *T { return &v }

func sampleTx() Transaction {
	return Transaction{
		TransactionID: "tx-1", CardID: "card-1", MerchantID: "m-1", MCC: 5411,
		Amount: 12.34, Currency: "EUR", EventTime: 1764000000123, Channel: "pos",
		Country: ptr("FR"), DeviceID: ptr("dev-9"), IP: ptr("10.0.0.1"), Lat: ptr(48.85), Lon: ptr(2.35),
	}
}

// registry is a map-backed SchemaLookup.
type registry map[int]string

func (r registry) lookup(_ context.Context, id int) (string, error) {
	s, ok := r[id]
	if !ok {
		return "", fmt.Errorf("id %d: %w", id, ErrUnknownSchema)
	}
	return s, nil
}

func confluent(t *testing.T, id uint32, schema string, v any) []byte {
	t.Helper()
	body, err := avro.Marshal(avro.MustParse(schema), v)
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte{0, byte(id >> 24), byte(id >> 16), byte(id >> 8), byte(id)}, body...)
}

func TestTransactionRoundTrip(t *testing.T) {
	for _, f := range []Format{FormatAvro, FormatConfluent} {
		text, _ := Text(TransactionFile)
		reg := registry{7: text}
		c, err := NewCodec[Transaction](TransactionFile, f, "", reg.lookup)
		if err != nil {
			t.Fatal(err)
		}
		c.SetSchemaID(7)
		in := sampleTx()
		b, err := c.NewEncoder().Append(nil, &in)
		if err != nil {
			t.Fatal(err)
		}
		var out Transaction
		if err := c.Decode(context.Background(), b, &out); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if !reflect.DeepEqual(in, out) {
			t.Fatalf("%s: round trip: got %+v want %+v", f, out, in)
		}
	}
}

// An evolved producer adds an optional field; an older producer lacks the
// optional fields. Both must decode (Avro reader/writer resolution): extra
// fields are skipped, missing ones take the reader's default (null).
func TestSchemaEvolution(t *testing.T) {
	reader, _ := Text(TransactionFile)
	newer := strings.Replace(reader, `{"name": "lon"`,
		`{"name": "wallet", "type": ["null", "string"], "default": null},
    {"name": "lon"`, 1)
	if newer == reader {
		t.Fatal("test setup: did not add a field")
	}
	var older strings.Builder
	for _, line := range strings.Split(reader, "\n") {
		if strings.Contains(line, `"name": "device_id"`) || strings.Contains(line, `"name": "ip"`) ||
			strings.Contains(line, `"name": "lat"`) {
			continue
		}
		older.WriteString(line + "\n")
	}
	olderText := strings.Replace(older.String(), `"default": null},
  ]`, `"default": null}
  ]`, 1)
	avro.MustParse(newer)
	avro.MustParse(olderText)

	reg := registry{1: reader, 2: newer, 3: olderText}
	c, err := NewCodec[Transaction](TransactionFile, FormatConfluent, "", reg.lookup)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	type newerTx struct {
		Transaction
		Wallet *string `avro:"wallet"`
	}
	nv := map[string]any{
		"transaction_id": "tx-2", "card_id": "card-1", "merchant_id": "m-1", "mcc": 5999, "amount": 5.0,
		"currency": "USD", "event_time": int64(1764000000000), "channel": "ecom",
		"country": "US", "device_id": nil, "ip": "1.2.3.4", "lat": nil, "wallet": "apple", "lon": -70.5,
	}
	var got Transaction
	if err := c.Decode(ctx, confluent(t, 2, newer, nv), &got); err != nil {
		t.Fatalf("newer producer: %v", err)
	}
	if got.TransactionID != "tx-2" || got.Amount != 5 || *got.Country != "US" || *got.Lon != -70.5 || got.Lat != nil {
		t.Fatalf("newer producer decoded wrong: %+v", got)
	}

	ov := map[string]any{
		"transaction_id": "tx-3", "card_id": "card-2", "merchant_id": "m-2", "mcc": 4829, "amount": 99.5,
		"currency": "EUR", "event_time": int64(1764000000001), "channel": "atm", "country": "DE", "lon": 13.4,
	}
	if err := c.Decode(ctx, confluent(t, 3, olderText, ov), &got); err != nil {
		t.Fatalf("older producer: %v", err)
	}
	if got.TransactionID != "tx-3" || got.IP != nil || got.Lat != nil || got.DeviceID != nil || *got.Lon != 13.4 {
		t.Fatalf("older producer decoded wrong: %+v", got)
	}

	// Plain Avro with the writer schema from a file behaves the same.
	pc, err := NewCodec[Transaction](TransactionFile, FormatAvro, newer, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := avro.Marshal(avro.MustParse(newer), nv)
	if err := pc.Decode(ctx, body, &got); err != nil || got.TransactionID != "tx-2" {
		t.Fatalf("plain avro with newer writer schema: %v %+v", err, got)
	}
}

func TestDecodeErrors(t *testing.T) {
	text, _ := Text(TransactionFile)
	incompatible := strings.Replace(text, `{"name": "amount", "type": "double"`, `{"name": "amount", "type": "string"`, 1)
	reg := registry{1: text, 9: incompatible}
	c, _ := NewCodec[Transaction](TransactionFile, FormatConfluent, "", reg.lookup)
	ctx := context.Background()
	var tx Transaction
	cases := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"no magic", []byte("hello world"), ErrMalformed},
		{"unknown id", []byte{0, 0, 0, 0, 42, 2, 'a'}, ErrUnknownSchema},
		{"truncated body", confluent(t, 1, text, map[string]any{"transaction_id": "t", "card_id": "c", "merchant_id": "m", "mcc": 1, "amount": 1.0, "currency": "EUR", "event_time": int64(1), "channel": "pos"})[:12], ErrMalformed},
		{"incompatible writer", []byte{0, 0, 0, 0, 9, 0}, ErrUnknownSchema},
	}
	for _, tc := range cases {
		err := c.Decode(ctx, tc.b, &tx)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestDecisionRoundTrip(t *testing.T) {
	c, err := NewCodec[Decision](DecisionFile, FormatAvro, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	enc := c.NewEncoder()
	for _, in := range []Decision{
		{TransactionID: "t", CardID: "c", EventTime: 1, DecidedAt: 2, Action: ActionDecline, Score: 0.9,
			Threshold: 0.5, Flagged: true, Propensity: 0.95, ModelVersion: "v1", FeatureSet: "fs1",
			Features: []float64{1, math.NaN(), 3}, Reasons: []string{"amount_spike"}, SourcePartition: 3, SourceOffset: 99},
		{TransactionID: "t2", CardID: "c", Action: ActionApprove, Propensity: 1, Reasons: []string{}},
	} {
		b, err := enc.Append(nil, &in)
		if err != nil {
			t.Fatal(err)
		}
		var out Decision
		if err := c.Decode(context.Background(), b, &out); err != nil {
			t.Fatal(err)
		}
		if len(in.Features) > 0 && !math.IsNaN(out.Features[1]) {
			t.Fatalf("NaN feature lost: %v", out.Features)
		}
		in.Features, out.Features = nanless(in.Features), nanless(out.Features)
		if !reflect.DeepEqual(in, out) {
			t.Fatalf("got %+v want %+v", out, in)
		}
	}
}

func nanless(v []float64) []float64 {
	if v == nil {
		return nil
	}
	out := make([]float64, len(v))
	for i, x := range v {
		if math.IsNaN(x) {
			x = -1
		}
		out[i] = x
	}
	return out
}

func BenchmarkDecodeTransaction(b *testing.B) {
	c, _ := NewCodec[Transaction](TransactionFile, FormatAvro, "", nil)
	in := sampleTx()
	buf, _ := c.NewEncoder().Append(nil, &in)
	ctx := context.Background()
	var tx Transaction
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Decode(ctx, buf, &tx); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeDecision(b *testing.B) {
	c, _ := NewCodec[Decision](DecisionFile, FormatConfluent, "", func(context.Context, int) (string, error) { return "", nil })
	c.SetSchemaID(3)
	enc := c.NewEncoder()
	d := Decision{TransactionID: "tx-000000123456", CardID: "card-0001234", EventTime: 1764000000000, DecidedAt: 1764000000100,
		Action: ActionApprove, Score: 0.01, Threshold: 0.5, Propensity: 1, ModelVersion: "default-1", FeatureSet: "fs1",
		Features: make([]float64, 22), Reasons: []string{}}
	var dst []byte
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if dst, err = enc.Append(dst[:0], &d); err != nil {
			b.Fatal(err)
		}
	}
}
