package txfile_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fraudstream/fraudstream/pipeline/synth"
	"github.com/fraudstream/fraudstream/pipeline/txfile"
	"github.com/fraudstream/fraudstream/schemas"
)

func ptr[T any](v T) *T { return &v }

// 2026-01-01T10:00:00.250Z
const t0 = int64(1767261600250)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// logBuffer returns a logger writing text lines to the returned buffer.
func logBuffer() (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	return slog.New(slog.NewTextHandler(&buf, nil)), &buf
}

func readAllTx(t *testing.T, path string, opts ...txfile.Option) ([]schemas.Transaction, *txfile.TxReader) {
	t.Helper()
	r, err := txfile.OpenTransactions(path, opts...)
	if err != nil {
		t.Fatalf("OpenTransactions(%s): %v", path, err)
	}
	t.Cleanup(func() { r.Close() })
	var out []schemas.Transaction
	for {
		var tx schemas.Transaction
		err := r.Next(&tx)
		if err == io.EOF {
			return out, r
		}
		if err != nil {
			t.Fatalf("%s: Next: %v", path, err)
		}
		out = append(out, tx)
	}
}

func TestCSVTransactions(t *testing.T) {
	// Columns in a free order, an unknown column, quoting, optional fields
	// empty or absent, every time notation.
	const content = "\ufeffamount,card_id, transaction_id ,merchant_id,mcc,currency,event_time,channel,country,device_id,ip,lat,lon,note\n" +
		"12.5,card-1,tx-1,m-1,5411,EUR,2026-01-01T10:00:00.250Z,pos,FR,,,48.8566,2.3522,hello\n" +
		"0.99,card-1,tx-2,m-2,5815,EUR,2026-01-01T11:00:00.25+01:00,ecom,DE,dev-1,10.0.0.1,,,\"a, b\"\n" +
		"1e3,card-2,tx-3,m-3,6011,GBP,1767261600250,atm,,,,-33.5,-70.25,\n" +
		"7,card-2,\"tx-4\",m-4,4121,USD,2026-01-01 05:00:00.250123-05:00,contactless,US,,,,,\n" +
		"3.25,card-3,tx-5,m-5,5411,EUR,2026-01-01t10:00:00.250z,pos,FR,,,1,2,\n"
	log, logs := logBuffer()
	got, r := readAllTx(t, writeFile(t, "events.csv", content), txfile.WithLogger(log))
	want := []schemas.Transaction{
		{TransactionID: "tx-1", CardID: "card-1", MerchantID: "m-1", MCC: 5411, Amount: 12.5, Currency: "EUR", EventTime: t0, Channel: "pos", Country: ptr("FR"), Lat: ptr(48.8566), Lon: ptr(2.3522)},
		{TransactionID: "tx-2", CardID: "card-1", MerchantID: "m-2", MCC: 5815, Amount: 0.99, Currency: "EUR", EventTime: t0, Channel: "ecom", Country: ptr("DE"), DeviceID: ptr("dev-1"), IP: ptr("10.0.0.1")},
		{TransactionID: "tx-3", CardID: "card-2", MerchantID: "m-3", MCC: 6011, Amount: 1000, Currency: "GBP", EventTime: t0, Channel: "atm", Lat: ptr(-33.5), Lon: ptr(-70.25)},
		{TransactionID: "tx-4", CardID: "card-2", MerchantID: "m-4", MCC: 4121, Amount: 7, Currency: "USD", EventTime: t0, Channel: "contactless", Country: ptr("US")},
		{TransactionID: "tx-5", CardID: "card-3", MerchantID: "m-5", MCC: 5411, Amount: 3.25, Currency: "EUR", EventTime: t0, Channel: "pos", Country: ptr("FR"), Lat: ptr(1.0), Lon: ptr(2.0)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%s\nwant\n%s", dump(got), dump(want))
	}
	if u := r.UnknownColumns(); !reflect.DeepEqual(u, []string{"note"}) {
		t.Errorf("UnknownColumns = %q", u)
	}
	if n := strings.Count(logs.String(), "unknown columns"); n != 1 || !strings.Contains(logs.String(), "note") {
		t.Errorf("want one log line about column note, got:\n%s", logs)
	}
	if r.Line() != 6 {
		t.Errorf("Line() = %d after the last record, want 6", r.Line())
	}
}

func TestCSVMissingOptionalColumns(t *testing.T) {
	const content = "transaction_id,card_id,merchant_id,mcc,amount,currency,event_time,channel\n" +
		"tx-1,card-1,m-1,5411,12.5,EUR,1767261600250,pos\n"
	got, _ := readAllTx(t, writeFile(t, "events.csv", content))
	want := []schemas.Transaction{{TransactionID: "tx-1", CardID: "card-1", MerchantID: "m-1", MCC: 5411, Amount: 12.5, Currency: "EUR", EventTime: t0, Channel: "pos"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %s, want %s", dump(got), dump(want))
	}
}

func TestJSONLTransactions(t *testing.T) {
	const content = `{"transaction_id":"tx-1","card_id":"card-1","merchant_id":"m-1","mcc":5411,"amount":12.5,"currency":"EUR","event_time":"2026-01-01T10:00:00.250Z","channel":"pos","country":"FR","lat":48.8566,"lon":2.3522,"extra":{"a":1}}` + "\n" +
		"\n" + // blank lines are skipped (but counted)
		`{"transaction_id":"tx-2","card_id":"card-1","merchant_id":"m-2","mcc":"5815","amount":"0.99","currency":"EUR","event_time":1767261600250,"channel":"ecom","country":null,"device_id":"dev-\u00e9","ip":"10.0.0.1","lat":null,"lon":"","zz":1,"aa":2}` + "\r\n" +
		`  {"event_time":"1767261600250","channel":"atm","currency":"GBP","amount":1e3,"mcc":6011,"merchant_id":"m-3","card_id":"card-2","transaction_id":"tx-3","device_id":"","extra":2}  ` + "\n" +
		`{"transaction_id":"tx-4","card_id":"card-2","merchant_id":"m-4","mcc":4121,"amount":7,"currency":"USD","event_time":"2026-01-01T12:00:00.250999+02:00","channel":"contactless"}`
	log, logs := logBuffer()
	got, r := readAllTx(t, writeFile(t, "events.jsonl", content), txfile.WithLogger(log))
	want := []schemas.Transaction{
		{TransactionID: "tx-1", CardID: "card-1", MerchantID: "m-1", MCC: 5411, Amount: 12.5, Currency: "EUR", EventTime: t0, Channel: "pos", Country: ptr("FR"), Lat: ptr(48.8566), Lon: ptr(2.3522)},
		{TransactionID: "tx-2", CardID: "card-1", MerchantID: "m-2", MCC: 5815, Amount: 0.99, Currency: "EUR", EventTime: t0, Channel: "ecom", DeviceID: ptr("dev-é"), IP: ptr("10.0.0.1")},
		{TransactionID: "tx-3", CardID: "card-2", MerchantID: "m-3", MCC: 6011, Amount: 1000, Currency: "GBP", EventTime: t0, Channel: "atm"},
		{TransactionID: "tx-4", CardID: "card-2", MerchantID: "m-4", MCC: 4121, Amount: 7, Currency: "USD", EventTime: t0, Channel: "contactless"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%s\nwant\n%s", dump(got), dump(want))
	}
	if u := r.UnknownColumns(); !reflect.DeepEqual(u, []string{"extra", "zz", "aa"}) {
		t.Errorf("UnknownColumns = %q, want extra, zz, aa", u)
	}
	if n := strings.Count(logs.String(), "unknown keys"); n != 2 {
		t.Errorf("want two log lines (lines 1 and 3), got:\n%s", logs)
	}
	if r.Line() != 5 {
		t.Errorf("Line() = %d, want 5", r.Line())
	}
}

// The same instant in every accepted notation gives the same milliseconds.
func TestTimeNotations(t *testing.T) {
	for _, s := range []string{
		`"2026-01-01T10:00:00.250Z"`,
		`"2026-01-01T10:00:00.25Z"`,
		`"2026-01-01T10:00:00.250999999Z"`,
		`"2026-01-01T11:30:00.250+01:30"`,
		`"2026-01-01T00:00:00.250-10:00"`,
		`"2026-01-01 10:00:00.250Z"`,
		`"2026-01-01t10:00:00.250z"`,
		`"1767261600250"`,
		`" 1767261600250 "`,
		`1767261600250`,
	} {
		line := `{"transaction_id":"t","card_id":"c","merchant_id":"m","mcc":1,"amount":1,"currency":"EUR","channel":"pos","event_time":` + s + "}\n"
		r, err := txfile.NewTxReader(strings.NewReader(line), "x.jsonl", txfile.FormatJSONL)
		if err != nil {
			t.Fatal(err)
		}
		var tx schemas.Transaction
		if err := r.Next(&tx); err != nil {
			t.Errorf("%s: %v", s, err)
		} else if tx.EventTime != t0 {
			t.Errorf("%s: event_time %d, want %d", s, tx.EventTime, t0)
		}
	}
	// Whole seconds, and before the epoch.
	for s, want := range map[string]int64{
		"2026-01-01T10:00:00Z":     t0 - 250,
		"1969-12-31T23:59:59.999Z": -1,
		"-1":                       -1,
		"0":                        0,
	} {
		csv := "transaction_id,card_id,merchant_id,mcc,amount,currency,event_time,channel\nt,c,m,1,1,EUR," + s + ",pos\n"
		r, _ := txfile.NewTxReader(strings.NewReader(csv), "x.csv", txfile.FormatCSV)
		var tx schemas.Transaction
		if err := r.Next(&tx); err != nil || tx.EventTime != want {
			t.Errorf("%s: event_time %d (%v), want %d", s, tx.EventTime, err, want)
		}
	}
}

func TestLabels(t *testing.T) {
	csv := "label_time,is_fraud,transaction_id,card_id,source\n" +
		"2026-01-01T10:00:00.250Z,true,tx-1,card-1,chargeback\n" +
		"1767261600250,0,tx-2,card-1,analyst\n" +
		"2026-01-01T10:00:00.250Z,FALSE,tx-3,card-2,analyst\n" +
		"2026-01-01T10:00:00.250Z,1,tx-4,card-2,customer\n"
	jsonl := `{"transaction_id":"tx-1","card_id":"card-1","is_fraud":true,"label_time":"2026-01-01T10:00:00.250Z","source":"chargeback"}` + "\n" +
		`{"transaction_id":"tx-2","card_id":"card-1","is_fraud":0,"label_time":1767261600250,"source":"analyst"}` + "\n" +
		`{"transaction_id":"tx-3","card_id":"card-2","is_fraud":"false","label_time":"1767261600250","source":"analyst"}` + "\n" +
		`{"transaction_id":"tx-4","card_id":"card-2","is_fraud":"1","label_time":"2026-01-01T11:00:00.250+01:00","source":"customer"}` + "\n"
	want := []schemas.Label{
		{TransactionID: "tx-1", CardID: "card-1", IsFraud: true, LabelTime: t0, Source: "chargeback"},
		{TransactionID: "tx-2", CardID: "card-1", IsFraud: false, LabelTime: t0, Source: "analyst"},
		{TransactionID: "tx-3", CardID: "card-2", IsFraud: false, LabelTime: t0, Source: "analyst"},
		{TransactionID: "tx-4", CardID: "card-2", IsFraud: true, LabelTime: t0, Source: "customer"},
	}
	for name, content := range map[string]string{"labels.csv": csv, "labels.ndjson": jsonl} {
		r, err := txfile.OpenLabels(writeFile(t, name, content))
		if err != nil {
			t.Fatal(err)
		}
		var got []schemas.Label
		for {
			var l schemas.Label
			err := r.Next(&l)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			got = append(got, l)
		}
		r.Close()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %+v, want %+v", name, got, want)
		}
	}
}

const csvHeader = "transaction_id,card_id,merchant_id,mcc,amount,currency,event_time,channel,country,lat,lon\n"
const csvGood = "tx-1,card-1,m-1,5411,12.5,EUR,1767261600250,pos,FR,1,2\n"

func jsonTx(override string) string {
	base := `"transaction_id":"tx-1","card_id":"card-1","merchant_id":"m-1","mcc":5411,"amount":12.5,"currency":"EUR","event_time":1767261600250,"channel":"pos"`
	return "{" + base + override + "}\n"
}

func TestBadRecords(t *testing.T) {
	for _, tc := range []struct {
		name, content, want string
	}{
		{"events.csv", csvHeader + csvGood + "tx-2,card-1,m-1,5411,abc,EUR,1767261600250,pos,FR,1,2\n",
			`events.csv:3: column "amount": "abc" is not a number`},
		{"events.csv", csvHeader + "tx-2,card-1,m-1,54.1,1,EUR,1767261600250,pos,FR,1,2\n",
			`events.csv:2: column "mcc": "54.1" is not an integer`},
		{"events.csv", csvHeader + "tx-2,card-1,m-1,99999999999,1,EUR,1767261600250,pos,FR,1,2\n",
			`events.csv:2: column "mcc": "99999999999" is out of range for a 32-bit integer`},
		{"events.csv", csvHeader + "tx-2,card-1,m-1,1,NaN,EUR,1767261600250,pos,FR,1,2\n",
			`events.csv:2: column "amount": "NaN" is not a finite number`},
		{"events.csv", csvHeader + "tx-2,card-1,m-1,1,1e999,EUR,1767261600250,pos,FR,1,2\n",
			`events.csv:2: column "amount": "1e999" is not a finite number`},
		{"events.csv", csvHeader + "tx-2,card-1,m-1,1,1,EUR,yesterday,pos,FR,1,2\n",
			`events.csv:2: column "event_time": "yesterday" is neither an RFC 3339 time nor integer epoch milliseconds`},
		{"events.csv", csvHeader + "tx-2,card-1,m-1,1,1,EUR,2026-02-30T00:00:00Z,pos,FR,1,2\n",
			`events.csv:2: column "event_time": "2026-02-30T00:00:00Z" is neither an RFC 3339 time nor integer epoch milliseconds`},
		{"events.csv", csvHeader + "tx-2,,m-1,1,1,EUR,1,pos,FR,1,2\n",
			`events.csv:2: column "card_id": required but empty`},
		{"events.csv", csvHeader + "tx-2,card-1,m-1,1,1,EUR,1,pos,FR,north,2\n",
			`events.csv:2: column "lat": "north" is not a number`},
		{"events.csv", csvHeader + csvGood + "tx-2,card-1,m-1\n",
			`events.csv:3: 3 fields, but the header has 11`},
		{"events.csv", csvHeader + "\"tx-2\n\nmore\",card-1,m-1,1,x,EUR,1,pos,FR,1,2\n",
			`events.csv:2: column "amount": "x" is not a number`},
		{"events.csv", csvHeader + "tx-2,card \"1\",m-1,1,1,EUR,1,pos,FR,1,2\n",
			`events.csv:2: invalid CSV at byte 11: bare " in non-quoted-field`},
		{"events.jsonl", jsonTx(`,"amount":"abc"`),
			`events.jsonl:1: key "amount": "abc" is not a number`},
		{"events.jsonl", jsonTx(``) + "\n" + jsonTx(`,"card_id":123`),
			`events.jsonl:3: key "card_id": 123 is not a string`},
		{"events.jsonl", jsonTx(`,"card_id":null`),
			`events.jsonl:1: key "card_id": required but null`},
		{"events.jsonl", `{"transaction_id":"tx-1"}` + "\n",
			`events.jsonl:1: key "card_id": required but missing`},
		{"events.jsonl", jsonTx(`,"mcc":true`),
			`events.jsonl:1: key "mcc": true is not an integer`},
		{"events.jsonl", jsonTx(`,"lat":[1]`),
			`events.jsonl:1: key "lat": [1] is not a number`},
		{"events.jsonl", jsonTx(`,"country":7`),
			`events.jsonl:1: key "country": 7 is not a string`},
		{"events.jsonl", jsonTx(`,"event_time":1.7e12`),
			`events.jsonl:1: key "event_time": 1.7e12 is neither an RFC 3339 time nor integer epoch milliseconds`},
		{"events.jsonl", `{"transaction_id":"tx-1",` + "\n",
			`events.jsonl:1: invalid JSON at byte 25: unexpected end of JSON input`},
		{"events.jsonl", `[1,2]` + "\n",
			`events.jsonl:1: not a JSON object: [1,2]`},
		{"labels.jsonl", `{"transaction_id":"t","card_id":"c","is_fraud":"yes","label_time":1,"source":"x"}`,
			`labels.jsonl:1: key "is_fraud": "yes" is not a boolean (true, false, 1 or 0)`},
		{"labels.csv", "transaction_id,card_id,is_fraud,label_time,source\nt,c,2,1,x\n",
			`labels.csv:2: column "is_fraud": "2" is not a boolean (true, false, 1 or 0)`},
	} {
		path := writeFile(t, tc.name, tc.content)
		var err error
		var pe *txfile.ParseError
		if strings.HasPrefix(tc.name, "labels") {
			r, oerr := txfile.OpenLabels(path)
			if oerr != nil {
				t.Fatalf("%s: %v", tc.want, oerr)
			}
			for err == nil {
				err = r.Next(new(schemas.Label))
			}
			r.Close()
		} else {
			r, oerr := txfile.OpenTransactions(path)
			if oerr != nil {
				t.Fatalf("%s: %v", tc.want, oerr)
			}
			for err == nil {
				err = r.Next(new(schemas.Transaction))
			}
			r.Close()
		}
		got := ""
		if err != nil {
			got = strings.Replace(err.Error(), filepath.Dir(path)+string(filepath.Separator), "", 1)
		}
		if got != tc.want || !errors.As(err, &pe) {
			t.Errorf("got  %v (%T)\nwant %s", got, err, tc.want)
		}
	}
}

// After a ParseError the reader goes on with the next record.
func TestContinueAfterParseError(t *testing.T) {
	for name, content := range map[string]string{
		"e.csv":   csvHeader + csvGood + "tx-2,card-1,m-1,1,bad,EUR,1,pos,FR,1,2\n" + strings.Replace(csvGood, "tx-1", "tx-3", 1),
		"e.jsonl": jsonTx(``) + jsonTx(`,"amount":"bad"`) + "{oops\n" + jsonTx(`,"transaction_id":"tx-3"`),
	} {
		r, err := txfile.OpenTransactions(writeFile(t, name, content))
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		var lines []int
		errs := 0
		for {
			var tx schemas.Transaction
			err := r.Next(&tx)
			if err == io.EOF {
				break
			}
			var pe *txfile.ParseError
			if errors.As(err, &pe) {
				errs++
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, tx.TransactionID)
			lines = append(lines, r.Line())
		}
		r.Close()
		wantErrs := map[string]int{"e.csv": 1, "e.jsonl": 2}[name]
		if !reflect.DeepEqual(ids, []string{"tx-1", "tx-3"}) || errs != wantErrs {
			t.Errorf("%s: ids %v, %d errors; want [tx-1 tx-3], %d", name, ids, errs, wantErrs)
		}
		if wantLast := map[string]int{"e.csv": 4, "e.jsonl": 4}[name]; lines[1] != wantLast {
			t.Errorf("%s: last record at line %d, want %d", name, lines[1], wantLast)
		}
	}
}

func TestHeaderErrors(t *testing.T) {
	for _, tc := range []struct{ content, want string }{
		{"transaction_id,card_id,merchant_id,mcc,currency,event_time\n", `events.csv:1: header lacks required column(s) "amount", "channel"`},
		{"transaction_id,card_id,merchant_id,mcc,amount,amount,currency,event_time,channel\n", `events.csv:1: column "amount" appears twice in the header (columns 5 and 6)`},
	} {
		path := writeFile(t, "events.csv", tc.content)
		_, err := txfile.OpenTransactions(path)
		var pe *txfile.ParseError
		if err == nil || !errors.As(err, &pe) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want %s", err, tc.want)
		}
	}
	// An empty file has no records.
	got, _ := readAllTx(t, writeFile(t, "empty.csv", ""))
	if len(got) != 0 {
		t.Errorf("empty file: %d records", len(got))
	}
	got, _ = readAllTx(t, writeFile(t, "empty.jsonl", "\n\n"))
	if len(got) != 0 {
		t.Errorf("blank file: %d records", len(got))
	}
}

func TestFormatOf(t *testing.T) {
	for _, tc := range []struct {
		path   string
		format txfile.Format
		gz     bool
	}{
		{"a/events.csv", txfile.FormatCSV, false},
		{"events.CSV.gz", txfile.FormatCSV, true},
		{"events.jsonl", txfile.FormatJSONL, false},
		{"x.ndjson.gz", txfile.FormatJSONL, true},
	} {
		f, gz, err := txfile.FormatOf(tc.path)
		if err != nil || f != tc.format || gz != tc.gz {
			t.Errorf("FormatOf(%q) = %q, %v, %v", tc.path, f, gz, err)
		}
	}
	for _, p := range []string{"events.json", "events", "events.gz", "events.txt"} {
		if _, _, err := txfile.FormatOf(p); !errors.Is(err, txfile.ErrUnknownFormat) {
			t.Errorf("FormatOf(%q): %v, want ErrUnknownFormat", p, err)
		}
		if _, err := txfile.OpenTransactions(p); !errors.Is(err, txfile.ErrUnknownFormat) {
			t.Errorf("OpenTransactions(%q): %v, want ErrUnknownFormat", p, err)
		}
	}
	// An explicit format wins over the name.
	path := writeFile(t, "events.txt", csvHeader+csvGood)
	got, _ := readAllTx(t, path, txfile.WithFormat(txfile.FormatCSV))
	if len(got) != 1 {
		t.Errorf("explicit format: %d records", len(got))
	}
	if _, err := txfile.OpenTransactions(path, txfile.WithFormat("xml")); err == nil {
		t.Error("unknown explicit format accepted")
	}
}

func TestGzip(t *testing.T) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(csvHeader + csvGood))
	zw.Close()
	// By name, and by content whatever the name says.
	for _, name := range []string{"events.csv.gz", "events.csv"} {
		path := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		got, _ := readAllTx(t, path)
		if len(got) != 1 || got[0].TransactionID != "tx-1" {
			t.Errorf("%s: %s", name, dump(got))
		}
	}
	// A file named .gz that is not gzip is read as is.
	got, _ := readAllTx(t, writeFile(t, "plain.csv.gz", csvHeader+csvGood))
	if len(got) != 1 {
		t.Errorf("plain .gz: %d records", len(got))
	}
}

func TestLongJSONLine(t *testing.T) {
	long := strings.Repeat("x", 200_000)
	content := jsonTx(`,"device_id":"`+long+`"`) + jsonTx(`,"transaction_id":"tx-2"`)
	got, _ := readAllTx(t, writeFile(t, "long.jsonl", content))
	if len(got) != 2 || got[0].DeviceID == nil || *got[0].DeviceID != long || got[1].TransactionID != "tx-2" {
		t.Errorf("long line: %d records", len(got))
	}
}

// Synthetic transactions and labels survive a write and read, in every
// format, time notation and compression.
func TestRoundTrip(t *testing.T) {
	cfg := synth.DefaultConfig()
	cfg.Cards = 500
	cfg.Duration = 30 * 24 * time.Hour
	if testing.Short() {
		cfg.Cards = 200
		cfg.Duration = 10 * 24 * time.Hour
	}
	g, err := synth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var txs []schemas.Transaction
	var labels []schemas.Label
	var it synth.Item
	for g.Next(&it) {
		if it.Kind == synth.KindTransaction {
			txs = append(txs, it.Tx)
		} else {
			labels = append(labels, it.Label)
		}
	}
	odd := schemas.Transaction{TransactionID: "tx-\"odd\",\n\\ \u2028 é \x01", CardID: "c", MerchantID: "m", MCC: -1, Amount: 1e-9, Currency: "EUR", EventTime: -62167219200001, Channel: "x", Lat: ptr(math.Copysign(0, -1)), Lon: ptr(1e300)}
	txs = append(txs, odd)
	if len(labels) == 0 {
		t.Fatal("no labels")
	}
	dir := t.TempDir()
	for _, name := range []string{"tx.csv", "tx.csv.gz", "tx.jsonl", "tx.ndjson.gz"} {
		for _, tf := range []txfile.TimeFormat{txfile.TimeRFC3339, txfile.TimeEpochMillis} {
			path := filepath.Join(dir, name)
			w, err := txfile.CreateTransactions(path, txfile.WithTimeFormat(tf))
			if err != nil {
				t.Fatal(err)
			}
			for i := range txs {
				if err := w.Write(&txs[i]); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			got, _ := readAllTx(t, path)
			if len(got) != len(txs) {
				t.Fatalf("%s: %d of %d transactions", name, len(got), len(txs))
			}
			for i := range got {
				if !reflect.DeepEqual(got[i], txs[i]) {
					t.Fatalf("%s (time format %d): record %d\ngot  %s\nwant %s", name, tf, i, dump(got[i:i+1]), dump(txs[i:i+1]))
				}
			}

			lpath := filepath.Join(dir, strings.Replace(name, "tx", "labels", 1))
			lw, err := txfile.CreateLabels(lpath, txfile.WithTimeFormat(tf))
			if err != nil {
				t.Fatal(err)
			}
			for i := range labels {
				if err := lw.Write(&labels[i]); err != nil {
					t.Fatal(err)
				}
			}
			if err := lw.Close(); err != nil {
				t.Fatal(err)
			}
			lr, err := txfile.OpenLabels(lpath)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; ; i++ {
				var l schemas.Label
				err := lr.Next(&l)
				if err == io.EOF {
					if i != len(labels) {
						t.Fatalf("%s: %d of %d labels", lpath, i, len(labels))
					}
					break
				}
				if err != nil || l != labels[i] {
					t.Fatalf("%s: label %d: %+v (%v), want %+v", lpath, i, l, err, labels[i])
				}
			}
			lr.Close()
		}
	}
}

func TestWriterRejectsNonFinite(t *testing.T) {
	var buf bytes.Buffer
	w, err := txfile.NewTxWriter(&buf, txfile.FormatJSONL)
	if err != nil {
		t.Fatal(err)
	}
	nan := schemas.Transaction{TransactionID: "t", Amount: math.NaN()}
	if err := w.Write(&nan); !errors.Is(err, txfile.ErrNotRepresentable) {
		t.Errorf("NaN amount: %v, want ErrNotRepresentable", err)
	}
	if _, err := txfile.NewTxWriter(&buf, "xml"); err == nil {
		t.Error("unknown format accepted")
	}
}

func TestWriterOutput(t *testing.T) {
	tx := schemas.Transaction{TransactionID: "tx-1", CardID: "card-1", MerchantID: "m-1", MCC: 5411, Amount: 12.5, Currency: "EUR", EventTime: t0, Channel: "pos", Country: ptr("FR"), Lat: ptr(48.8566), Lon: ptr(2.3522)}
	for _, tc := range []struct {
		format txfile.Format
		tf     txfile.TimeFormat
		want   string
	}{
		{txfile.FormatCSV, txfile.TimeRFC3339, "transaction_id,card_id,merchant_id,mcc,amount,currency,event_time,channel,country,device_id,ip,lat,lon\n" +
			"tx-1,card-1,m-1,5411,12.5,EUR,2026-01-01T10:00:00.250Z,pos,FR,,,48.8566,2.3522\n"},
		{txfile.FormatJSONL, txfile.TimeEpochMillis, `{"transaction_id":"tx-1","card_id":"card-1","merchant_id":"m-1","mcc":5411,"amount":12.5,"currency":"EUR","event_time":1767261600250,"channel":"pos","country":"FR","lat":48.8566,"lon":2.3522}` + "\n"},
	} {
		var buf bytes.Buffer
		w, err := txfile.NewTxWriter(&buf, tc.format, txfile.WithTimeFormat(tc.tf))
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(&tx); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if buf.String() != tc.want {
			t.Errorf("%s:\ngot  %q\nwant %q", tc.format, buf.String(), tc.want)
		}
	}
}

func dump(txs []schemas.Transaction) string {
	var b strings.Builder
	for _, tx := range txs {
		b.WriteString("{")
		b.WriteString(strings.Join([]string{tx.TransactionID, tx.CardID, tx.MerchantID, tx.Currency, tx.Channel}, " "))
		b.WriteString(" mcc=" + itoa(int64(tx.MCC)) + " amount=" + ftoa(tx.Amount) + " t=" + itoa(tx.EventTime))
		for _, p := range []struct {
			n string
			v *string
		}{{"country", tx.Country}, {"device", tx.DeviceID}, {"ip", tx.IP}} {
			if p.v != nil {
				b.WriteString(" " + p.n + "=" + *p.v)
			}
		}
		if tx.Lat != nil {
			b.WriteString(" lat=" + ftoa(*tx.Lat))
		}
		if tx.Lon != nil {
			b.WriteString(" lon=" + ftoa(*tx.Lon))
		}
		b.WriteString("}\n")
	}
	return b.String()
}

func itoa(n int64) string   { return strconv.FormatInt(n, 10) }
func ftoa(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
