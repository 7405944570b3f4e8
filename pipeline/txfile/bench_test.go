package txfile_test

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/fraudstream/fraudstream/pipeline/synth"
	"github.com/fraudstream/fraudstream/pipeline/txfile"
	"github.com/fraudstream/fraudstream/schemas"
)

// fixture writes n synthetic transactions in the given format.
func fixture(b *testing.B, format txfile.Format, n int) []byte {
	cfg := synth.DefaultConfig()
	cfg.Cards = 2000
	cfg.Unbounded = true
	cfg.Duration = time.Hour
	g, err := synth.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := txfile.NewTxWriter(&buf, format)
	if err != nil {
		b.Fatal(err)
	}
	var it synth.Item
	for i := 0; i < n; {
		g.Next(&it)
		if it.Kind == synth.KindTransaction {
			if err := w.Write(&it.Tx); err != nil {
				b.Fatal(err)
			}
			i++
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

func benchmarkRead(b *testing.B, format txfile.Format) {
	const n = 10_000
	data := fixture(b, format, n)
	b.SetBytes(int64(len(data)) / n)
	b.ReportAllocs()
	b.ResetTimer()
	var tx schemas.Transaction
	for i := 0; i < b.N; {
		r, err := txfile.NewTxReader(bytes.NewReader(data), "bench", format)
		if err != nil {
			b.Fatal(err)
		}
		for ; i < b.N; i++ {
			if err := r.Next(&tx); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

func BenchmarkReadCSV(b *testing.B)   { benchmarkRead(b, txfile.FormatCSV) }
func BenchmarkReadJSONL(b *testing.B) { benchmarkRead(b, txfile.FormatJSONL) }

func benchmarkWrite(b *testing.B, format txfile.Format) {
	tx := schemas.Transaction{TransactionID: "tx-1b873593-000000000001", CardID: "card-000001", MerchantID: "m-00001", MCC: 5411, Amount: 12.5, Currency: "EUR", EventTime: 1767261600250, Channel: "pos"}
	lat, lon, country := 48.8566, 2.3522, "FR"
	tx.Lat, tx.Lon, tx.Country = &lat, &lon, &country
	w, err := txfile.NewTxWriter(io.Discard, format)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for range b.N {
		if err := w.Write(&tx); err != nil {
			b.Fatal(err)
		}
	}
	w.Close()
}

func BenchmarkWriteCSV(b *testing.B)   { benchmarkWrite(b, txfile.FormatCSV) }
func BenchmarkWriteJSONL(b *testing.B) { benchmarkWrite(b, txfile.FormatJSONL) }
