package txfile

import (
	"bufio"
	"compress/gzip"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/fraudstream/fraudstream/schemas"
)

// ErrNotRepresentable: a value cannot be written (a NaN or infinite
// number, which neither JSON nor this package's reader accepts).
var ErrNotRepresentable = errors.New("txfile: value not representable")

// recordWriter writes rows of values (one per field, in field order) as CSV
// with a header, or as JSONL objects.
type recordWriter struct {
	name    string
	format  Format
	fields  []field
	timeFmt TimeFormat
	bw      *bufio.Writer
	csv     *csv.Writer
	row     []string // CSV row being built
	line    []byte   // JSONL line being built
	closers []io.Closer
	err     error // first write error; sticky
}

// value is one field of a row to write.
type value struct {
	null bool
	s    string  // kString, kOptString
	n    int64   // kInt32, kTime
	f    float64 // kFloat, kOptFloat
	b    bool    // kBool
}

func createRecords(path string, fields []field, opts []Option) (*recordWriter, error) {
	o := buildOptions(opts)
	format, gz, err := resolveFormat(&o, path)
	if err != nil {
		return nil, err
	}
	var dst io.Writer
	var closers []io.Closer
	if path == "-" {
		dst = os.Stdout
	} else {
		f, err := os.Create(path)
		if err != nil {
			return nil, fmt.Errorf("txfile: create %w", err)
		}
		dst = f
		closers = append(closers, f)
	}
	if gz {
		zw := gzip.NewWriter(dst)
		dst = zw
		closers = append([]io.Closer{zw}, closers...) // gzip first, then the file
	}
	w := newRecordWriter(dst, path, format, fields, &o)
	w.closers = closers
	if w.err != nil {
		err := w.err
		w.close()
		return nil, err
	}
	return w, nil
}

func newRecordWriter(dst io.Writer, name string, format Format, fields []field, o *options) *recordWriter {
	w := &recordWriter{name: name, format: format, fields: fields, timeFmt: o.timeFormat}
	w.bw = bufio.NewWriterSize(dst, 64<<10)
	switch format {
	case FormatCSV:
		w.csv = csv.NewWriter(w.bw)
		w.row = make([]string, len(fields))
		for i, f := range fields {
			w.row[i] = f.name
		}
		w.err = w.csv.Write(w.row)
	case FormatJSONL:
	default:
		w.err = fmt.Errorf("txfile: %s: %w", name, format.Validate())
	}
	return w
}

func (w *recordWriter) write(vals []value) error {
	if w.err != nil {
		return w.err
	}
	for i, f := range w.fields {
		if (f.kind == kFloat || f.kind == kOptFloat) && !vals[i].null && (math.IsNaN(vals[i].f) || math.IsInf(vals[i].f, 0)) {
			return fmt.Errorf("%w: %s = %v", ErrNotRepresentable, f.name, vals[i].f)
		}
	}
	if w.format == FormatCSV {
		for i, f := range w.fields {
			w.row[i] = string(w.appendValue(nil, f.kind, vals[i], false))
		}
		w.err = w.csv.Write(w.row)
		return w.err
	}
	b := append(w.line[:0], '{')
	first := true
	for i, f := range w.fields {
		if vals[i].null {
			continue // optional and absent: omit the key, as the schema types' JSON tags do
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendJSONString(b, f.name)
		b = append(b, ':')
		b = w.appendValue(b, f.kind, vals[i], true)
	}
	b = append(b, '}', '\n')
	w.line = b
	_, w.err = w.bw.Write(b)
	return w.err
}

// appendValue appends v as text (CSV) or as a JSON value.
func (w *recordWriter) appendValue(b []byte, k fieldKind, v value, json bool) []byte {
	if v.null {
		if json {
			return append(b, "null"...)
		}
		return b
	}
	switch k {
	case kString, kOptString:
		if json {
			return appendJSONString(b, v.s)
		}
		return append(b, v.s...)
	case kInt32:
		return strconv.AppendInt(b, v.n, 10)
	case kFloat, kOptFloat:
		return appendFloat(b, v.f)
	case kBool:
		return strconv.AppendBool(b, v.b)
	case kTime:
		t := time.UnixMilli(v.n).UTC()
		if w.timeFmt == TimeEpochMillis || t.Year() < 0 || t.Year() > 9999 {
			return strconv.AppendInt(b, v.n, 10)
		}
		if json {
			b = append(b, '"')
		}
		b = t.AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
		if json {
			b = append(b, '"')
		}
		return b
	}
	panic("txfile: unknown field kind")
}

// appendFloat writes the shortest text that reads back as f: plain decimals
// for everyday magnitudes (amounts, coordinates), exponent form otherwise.
func appendFloat(b []byte, f float64) []byte {
	if a := math.Abs(f); a == 0 || (a >= 1e-6 && a < 1e21) {
		return strconv.AppendFloat(b, f, 'f', -1, 64)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD,
// as with encoding/json.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

func (w *recordWriter) flush() error {
	if w.csv != nil {
		w.csv.Flush()
		if err := w.csv.Error(); err != nil && w.err == nil {
			w.err = err
		}
	}
	if err := w.bw.Flush(); err != nil && w.err == nil {
		w.err = err
	}
	return w.err
}

func (w *recordWriter) close() error {
	errs := []error{w.flush()}
	for _, c := range w.closers {
		errs = append(errs, c.Close())
	}
	w.closers = nil
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("txfile: write %s: %w", w.name, err)
	}
	return nil
}

// TxWriter writes transactions as CSV (with a header row, columns in schema
// order) or JSONL (keys in schema order; nil optional fields omitted), in a
// form the readers read back to equal values. Not safe for concurrent use.
type TxWriter struct {
	w    *recordWriter
	vals []value
}

// CreateTransactions creates (truncates) a file of transactions; the format
// comes from the name unless WithFormat is given, and a name ending in .gz is
// gzip-compressed. "-" writes to standard output. Times are RFC 3339 unless
// WithTimeFormat(TimeEpochMillis). Close must be called.
func CreateTransactions(path string, opts ...Option) (*TxWriter, error) {
	w, err := createRecords(path, txFields, opts)
	if err != nil {
		return nil, err
	}
	return &TxWriter{w: w, vals: make([]value, len(txFields))}, nil
}

// NewTxWriter writes transactions to dst in the given format (not
// compressed). Close flushes but does not close dst.
func NewTxWriter(dst io.Writer, format Format, opts ...Option) (*TxWriter, error) {
	o := buildOptions(opts)
	w := newRecordWriter(dst, "output", format, txFields, &o)
	if w.err != nil {
		return nil, w.err
	}
	return &TxWriter{w: w, vals: make([]value, len(txFields))}, nil
}

// Write writes one transaction (buffered).
func (w *TxWriter) Write(tx *schemas.Transaction) error {
	v := w.vals
	v[txID] = value{s: tx.TransactionID}
	v[txCard] = value{s: tx.CardID}
	v[txMerchant] = value{s: tx.MerchantID}
	v[txMCC] = value{n: int64(tx.MCC)}
	v[txAmount] = value{f: tx.Amount}
	v[txCurrency] = value{s: tx.Currency}
	v[txEventTime] = value{n: tx.EventTime}
	v[txChannel] = value{s: tx.Channel}
	v[txCountry] = optString(tx.Country)
	v[txDevice] = optString(tx.DeviceID)
	v[txIP] = optString(tx.IP)
	v[txLat] = optFloat(tx.Lat)
	v[txLon] = optFloat(tx.Lon)
	if err := w.w.write(v); err != nil {
		return fmt.Errorf("txfile: write transaction %q: %w", tx.TransactionID, err)
	}
	return nil
}

// Flush writes buffered records to the underlying writer.
func (w *TxWriter) Flush() error { return w.w.flush() }

// Close flushes and closes what CreateTransactions opened.
func (w *TxWriter) Close() error { return w.w.close() }

// LabelWriter writes labels, like TxWriter.
type LabelWriter struct {
	w    *recordWriter
	vals []value
}

// CreateLabels creates a file of labels, like CreateTransactions.
func CreateLabels(path string, opts ...Option) (*LabelWriter, error) {
	w, err := createRecords(path, labelFields, opts)
	if err != nil {
		return nil, err
	}
	return &LabelWriter{w: w, vals: make([]value, len(labelFields))}, nil
}

// NewLabelWriter writes labels to dst, like NewTxWriter.
func NewLabelWriter(dst io.Writer, format Format, opts ...Option) (*LabelWriter, error) {
	o := buildOptions(opts)
	w := newRecordWriter(dst, "output", format, labelFields, &o)
	if w.err != nil {
		return nil, w.err
	}
	return &LabelWriter{w: w, vals: make([]value, len(labelFields))}, nil
}

// Write writes one label (buffered).
func (w *LabelWriter) Write(l *schemas.Label) error {
	v := w.vals
	v[lbTxID] = value{s: l.TransactionID}
	v[lbCard] = value{s: l.CardID}
	v[lbIsFraud] = value{b: l.IsFraud}
	v[lbLabelTime] = value{n: l.LabelTime}
	v[lbSource] = value{s: l.Source}
	if err := w.w.write(v); err != nil {
		return fmt.Errorf("txfile: write label for %q: %w", l.TransactionID, err)
	}
	return nil
}

// Flush writes buffered records to the underlying writer.
func (w *LabelWriter) Flush() error { return w.w.flush() }

// Close flushes and closes what CreateLabels opened.
func (w *LabelWriter) Close() error { return w.w.close() }

func optString(s *string) value {
	if s == nil {
		return value{null: true}
	}
	return value{s: *s}
}

func optFloat(f *float64) value {
	if f == nil {
		return value{null: true}
	}
	return value{f: *f}
}
