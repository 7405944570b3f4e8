package txfile

import (
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/fraudstream/fraudstream/schemas"
)

// The fields of each record type: the Avro field names of schemas.Transaction
// and schemas.Label, in schema order (writers use this order).
var (
	txFields = []field{
		{"transaction_id", kString},
		{"card_id", kString},
		{"merchant_id", kString},
		{"mcc", kInt32},
		{"amount", kFloat},
		{"currency", kString},
		{"event_time", kTime},
		{"channel", kString},
		{"country", kOptString},
		{"device_id", kOptString},
		{"ip", kOptString},
		{"lat", kOptFloat},
		{"lon", kOptFloat},
	}
	labelFields = []field{
		{"transaction_id", kString},
		{"card_id", kString},
		{"is_fraud", kBool},
		{"label_time", kTime},
		{"source", kString},
	}
)

// Indexes into txFields / labelFields.
const (
	txID = iota
	txCard
	txMerchant
	txMCC
	txAmount
	txCurrency
	txEventTime
	txChannel
	txCountry
	txDevice
	txIP
	txLat
	txLon
)

const (
	lbTxID = iota
	lbCard
	lbIsFraud
	lbLabelTime
	lbSource
)

// TxReader reads transactions from a CSV or JSONL file, one record at a time
// (the file is never loaded whole). Not safe for concurrent use.
type TxReader struct{ rr *recordReader }

// OpenTransactions opens a file of transactions. The format comes from the
// name (see FormatOf) unless WithFormat is given; gzip-compressed files are
// recognised by their content. path "-" reads standard input (WithFormat is
// then required). A CSV header lacking a required column is reported here.
func OpenTransactions(path string, opts ...Option) (*TxReader, error) {
	rr, err := openRecords(path, txFields, opts)
	if err != nil {
		return nil, err
	}
	return &TxReader{rr}, nil
}

// NewTxReader reads transactions from r in the given format (gzip is
// recognised by its content); name is used in error messages.
func NewTxReader(r io.Reader, name string, format Format, opts ...Option) (*TxReader, error) {
	o := buildOptions(opts)
	rr, err := newRecords(r, name, format, txFields, &o)
	if err != nil {
		return nil, err
	}
	return &TxReader{rr}, nil
}

// Next reads the next transaction into *tx. It returns io.EOF at the end of
// the file, a *ParseError for a record that cannot be read (*tx is then
// unchanged, and Next may be called again to skip it), or another error,
// which is final.
//
// Every field is parsed from its Avro name: optional fields (country,
// device_id, ip, lat, lon) absent, null or empty become nil; event_time is
// RFC 3339 (any offset, converted to UTC; fractional seconds truncated to
// the millisecond) or integer Unix milliseconds. Numbers must be finite.
// Values are not validated beyond their type: that is the validate
// operator's job, so that bad records can reach the dead-letter topic.
func (r *TxReader) Next(tx *schemas.Transaction) error {
	if err := r.rr.next(); err != nil {
		return err
	}
	p := parser{rr: r.rr}
	t := schemas.Transaction{
		TransactionID: p.str(txID),
		CardID:        p.str(txCard),
		MerchantID:    p.str(txMerchant),
		MCC:           p.int32(txMCC),
		Amount:        p.float(txAmount),
		Currency:      p.str(txCurrency),
		EventTime:     p.time(txEventTime),
		Channel:       p.str(txChannel),
		Country:       p.optStr(txCountry),
		DeviceID:      p.optStr(txDevice),
		IP:            p.optStr(txIP),
		Lat:           p.optFloat(txLat),
		Lon:           p.optFloat(txLon),
	}
	if p.err != nil {
		return p.err
	}
	*tx = t
	return nil
}

// Line returns the line number of the record Next last read (for CSV, the
// line where it starts).
func (r *TxReader) Line() int { return r.rr.line }

// UnknownColumns returns the columns (CSV) or keys (JSONL) seen so far that
// are not fields of the record, in order of first sight. They are ignored,
// and each is logged once (WithLogger).
func (r *TxReader) UnknownColumns() []string { return append([]string(nil), r.rr.unknown...) }

// Close closes the file (not an io.Reader given to NewTxReader).
func (r *TxReader) Close() error { return r.rr.Close() }

// LabelReader reads fraud labels from a CSV or JSONL file, one record at a
// time. Not safe for concurrent use.
type LabelReader struct{ rr *recordReader }

// OpenLabels opens a file of labels, like OpenTransactions. All label fields
// (transaction_id, card_id, is_fraud, label_time, source) are required.
func OpenLabels(path string, opts ...Option) (*LabelReader, error) {
	rr, err := openRecords(path, labelFields, opts)
	if err != nil {
		return nil, err
	}
	return &LabelReader{rr}, nil
}

// NewLabelReader reads labels from r in the given format, like NewTxReader.
func NewLabelReader(r io.Reader, name string, format Format, opts ...Option) (*LabelReader, error) {
	o := buildOptions(opts)
	rr, err := newRecords(r, name, format, labelFields, &o)
	if err != nil {
		return nil, err
	}
	return &LabelReader{rr}, nil
}

// Next reads the next label into *l, with the same contract as
// TxReader.Next. is_fraud accepts true/false (any case) and 1/0, as JSON
// booleans, numbers or strings; label_time is parsed like event_time.
func (r *LabelReader) Next(l *schemas.Label) error {
	if err := r.rr.next(); err != nil {
		return err
	}
	p := parser{rr: r.rr}
	v := schemas.Label{
		TransactionID: p.str(lbTxID),
		CardID:        p.str(lbCard),
		IsFraud:       p.bool(lbIsFraud),
		LabelTime:     p.time(lbLabelTime),
		Source:        p.str(lbSource),
	}
	if p.err != nil {
		return p.err
	}
	*l = v
	return nil
}

// Line returns the line number of the record Next last read.
func (r *LabelReader) Line() int { return r.rr.line }

// UnknownColumns is like TxReader.UnknownColumns.
func (r *LabelReader) UnknownColumns() []string { return append([]string(nil), r.rr.unknown...) }

// Close closes the file (not an io.Reader given to NewLabelReader).
func (r *LabelReader) Close() error { return r.rr.Close() }

// parser converts the raw values of the current record, keeping the first
// error (fields are parsed in schema order, so that is the error reported).
type parser struct {
	rr  *recordReader
	err *ParseError
}

func (p *parser) fail(i int, format string, args ...any) {
	if p.err == nil {
		p.err = p.rr.errorf(p.rr.fields[i].name, format, args...)
	}
}

// show renders a raw value for an error message.
func show(v raw) string {
	switch v.kind {
	case rawString:
		return strconv.Quote(truncate(v.text))
	case rawEmpty:
		return `""`
	case rawNull:
		return "null"
	}
	return truncate(v.text)
}

// present returns the field's raw value, or reports a missing required one.
func (p *parser) present(i int) (raw, bool) {
	v := p.rr.vals[i]
	switch v.kind {
	case rawAbsent:
		p.fail(i, "required but missing")
	case rawNull:
		p.fail(i, "required but null")
	case rawEmpty:
		p.fail(i, "required but empty")
	default:
		return v, true
	}
	return v, false
}

// scalar returns the text of a string or number (numbers may be written as
// JSON strings, as some exporters do).
func (p *parser) scalar(i int, v raw, what string) (string, bool) {
	if v.kind == rawString || v.kind == rawNumber {
		return strings.TrimSpace(v.text), true
	}
	p.fail(i, "%s is not %s", show(v), what)
	return "", false
}

func (p *parser) str(i int) string {
	v, ok := p.present(i)
	if !ok {
		return ""
	}
	if v.kind != rawString {
		p.fail(i, "%s is not a string", show(v))
		return ""
	}
	return v.text
}

func (p *parser) optStr(i int) *string {
	v := p.rr.vals[i]
	switch v.kind {
	case rawAbsent, rawNull, rawEmpty:
		return nil
	case rawString:
		s := v.text
		return &s
	}
	p.fail(i, "%s is not a string", show(v))
	return nil
}

func (p *parser) int32(i int) int32 {
	v, ok := p.present(i)
	if !ok {
		return 0
	}
	s, ok := p.scalar(i, v, "an integer")
	if !ok {
		return 0
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		if ne, _ := err.(*strconv.NumError); ne != nil && ne.Err == strconv.ErrRange {
			p.fail(i, "%s is out of range for a 32-bit integer", show(v))
		} else {
			p.fail(i, "%s is not an integer", show(v))
		}
		return 0
	}
	return int32(n)
}

func (p *parser) parseFloat(i int, v raw) (float64, bool) {
	s, ok := p.scalar(i, v, "a number")
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !isRange(err) || s == "" {
		p.fail(i, "%s is not a number", show(v))
		return 0, false
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		p.fail(i, "%s is not a finite number", show(v))
		return 0, false
	}
	return f, true
}

func isRange(err error) bool {
	ne, _ := err.(*strconv.NumError)
	return ne != nil && ne.Err == strconv.ErrRange
}

func (p *parser) float(i int) float64 {
	v, ok := p.present(i)
	if !ok {
		return 0
	}
	f, _ := p.parseFloat(i, v)
	return f
}

func (p *parser) optFloat(i int) *float64 {
	v := p.rr.vals[i]
	switch v.kind {
	case rawAbsent, rawNull, rawEmpty:
		return nil
	}
	f, ok := p.parseFloat(i, v)
	if !ok {
		return nil
	}
	return &f
}

func (p *parser) time(i int) int64 {
	v, ok := p.present(i)
	if !ok {
		return 0
	}
	s, ok := p.scalar(i, v, "a time")
	if !ok {
		return 0
	}
	ms, ok := parseTime(s)
	if !ok {
		p.fail(i, "%s is neither an RFC 3339 time nor integer epoch milliseconds", show(v))
	}
	return ms
}

// parseTime parses RFC 3339 (T, t or a space between date and time; Z, z or
// any offset; any fraction of seconds, truncated to the millisecond) into
// Unix ms UTC, or an integer as Unix ms.
func parseTime(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	if c := s[0]; c == '-' || c == '+' || (c >= '0' && c <= '9') {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n, true
		}
	}
	if len(s) > 10 && (s[10] == ' ' || s[10] == 't') {
		s = s[:10] + "T" + s[11:]
	}
	if strings.HasSuffix(s, "z") {
		s = s[:len(s)-1] + "Z"
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, false
	}
	return t.UnixMilli(), true
}

func (p *parser) bool(i int) bool {
	v, ok := p.present(i)
	if !ok {
		return false
	}
	switch v.kind {
	case rawBool, rawString, rawNumber:
		switch strings.ToLower(strings.TrimSpace(v.text)) {
		case "true", "1":
			return true
		case "false", "0":
			return false
		}
	}
	p.fail(i, "%s is not a boolean (true, false, 1 or 0)", show(v))
	return false
}
