// Package txfile reads and writes transactions and labels as CSV or JSONL
// files, for `fraudstream produce --input events.csv`, `fraudstream features
// export --input events.csv --labels labels.jsonl` and test fixtures.
//
// Start with [OpenTransactions] or [OpenLabels] and call Next until io.EOF:
//
//	r, err := txfile.OpenTransactions("events.csv.gz")
//	if err != nil { … }
//	defer r.Close()
//	var tx schemas.Transaction
//	for {
//		err := r.Next(&tx)
//		if err == io.EOF {
//			break
//		}
//		var pe *txfile.ParseError
//		if errors.As(err, &pe) {
//			// events.csv.gz:17: column "amount": "abc" is not a number
//			// (Next can go on with the next record)
//		} else if err != nil { … }
//	}
//
// # Formats
//
// The format comes from the file name (.csv, .jsonl, .ndjson, each optionally
// followed by .gz) unless [WithFormat] says otherwise; gzip is recognised by
// the file's first bytes. Columns (CSV, header row required, any order) and
// keys (JSONL, one object per line, blank lines skipped) are the Avro field
// names of [schemas.Transaction] and [schemas.Label]. Unknown columns are
// ignored and logged once each; optional fields (country, device_id, ip, lat,
// lon) may be absent, null or empty, which gives nil. Times (event_time,
// label_time) are RFC 3339 with any offset (converted to UTC milliseconds) or
// integer epoch milliseconds, as a JSON number or a string; is_fraud is
// true/false/1/0; numbers may be JSON numbers or strings.
//
// Files are read one record at a time, never loaded whole. The readers check
// types only: a negative amount or an unknown channel is read as is, so that
// the pipeline's validate operator and dead-letter topic see it.
//
// [TxWriter] and [LabelWriter] write the same formats (times in RFC 3339 with
// milliseconds, or epoch ms with [WithTimeFormat]); what they write reads back
// to equal values, except that an empty optional string reads back as nil.
package txfile
