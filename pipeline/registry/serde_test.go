package registry

import (
	"context"
	"encoding/binary"
	"testing"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/sr"
)

type txRecord struct {
	TransactionID string `avro:"transaction_id"`
	CardID        string `avro:"card_id"`
	AmountCents   int64  `avro:"amount_cents"`
}

type txRecordV2 struct {
	TransactionID string  `avro:"transaction_id"`
	CardID        string  `avro:"card_id"`
	AmountCents   int64   `avro:"amount_cents"`
	Country       *string `avro:"country"`
}

// TestSerdeRoundTrip shows the Confluent wire format end to end: a producer
// registers its schema and frames records with sr.Serde; a consumer reads the
// id from the header, fetches the writer schema from the registry, and
// decodes, including with a newer (BACKWARD compatible) reader schema.
func TestSerdeRoundTrip(t *testing.T) {
	ctx := context.Background()
	_, cl, _ := newTestRegistry(t)
	id := mustRegister(t, cl, "transactions-value", txV1)

	writer, err := avro.ParseWithCache(txV1, "", &avro.SchemaCache{})
	if err != nil {
		t.Fatal(err)
	}
	var serde sr.Serde
	serde.Register(id, txRecord{},
		sr.EncodeFn(func(v any) ([]byte, error) { return avro.Marshal(writer, v) }),
		sr.DecodeFn(func(b []byte, v any) error { return avro.Unmarshal(writer, b, v) }),
	)
	in := txRecord{TransactionID: "t-1", CardID: "c-42", AmountCents: 12345}
	b, err := serde.Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	if b[0] != 0 || binary.BigEndian.Uint32(b[1:5]) != uint32(id) {
		t.Fatalf("header = % x, want 00 and big-endian id %d", b[:5], id)
	}
	var viaSerde txRecord
	if err := serde.Decode(b, &viaSerde); err != nil || viaSerde != in {
		t.Fatalf("serde decode = %+v, %v", viaSerde, err)
	}

	// A consumer that only has the bytes and the registry.
	gotID, body, err := new(sr.ConfluentHeader).DecodeID(b)
	if err != nil || gotID != id {
		t.Fatalf("DecodeID = %d, %v", gotID, err)
	}
	text, err := cl.SchemaTextByID(ctx, gotID)
	if err != nil {
		t.Fatal(err)
	}
	fetched, err := avro.ParseWithCache(text, "", &avro.SchemaCache{})
	if err != nil {
		t.Fatal(err)
	}
	var out txRecord
	if err := avro.Unmarshal(fetched, body, &out); err != nil || out != in {
		t.Fatalf("decode with fetched schema = %+v, %v", out, err)
	}

	// The evolution the registry accepts really is readable: v2 as reader,
	// the fetched v1 as writer; the new field takes its default.
	if id2 := mustRegister(t, cl, "transactions-value", txV2); id2 == id {
		t.Fatalf("v2 got v1's id %d", id)
	}
	reader, err := avro.ParseWithCache(txV2, "", &avro.SchemaCache{})
	if err != nil {
		t.Fatal(err)
	}
	resolved, err := avro.NewSchemaCompatibility().Resolve(reader, fetched)
	if err != nil {
		t.Fatal(err)
	}
	var out2 txRecordV2
	if err := avro.Unmarshal(resolved, body, &out2); err != nil {
		t.Fatal(err)
	}
	if out2.TransactionID != in.TransactionID || out2.AmountCents != in.AmountCents || out2.Country != nil {
		t.Fatalf("v2 reader got %+v", out2)
	}
}
