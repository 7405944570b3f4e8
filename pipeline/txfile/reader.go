package txfile

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ParseError is a record (line) that cannot be read. After one, Next may be
// called again: it goes on with the following record. Any other error from
// Next (I/O, gzip) is final.
type ParseError struct {
	File   string // the name given to Open…/New…
	Line   int    // 1-based; for CSV the line where the record starts
	Format Format
	Field  string // the column (CSV) or key (JSONL); "" if about the whole line
	Reason string // what is wrong, e.g. `"abc" is not a number`
}

func (e *ParseError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Reason)
	}
	word := "column"
	if e.Format == FormatJSONL {
		word = "key"
	}
	return fmt.Sprintf("%s:%d: %s %q: %s", e.File, e.Line, word, e.Field, e.Reason)
}

// fieldKind is how a field's text is parsed.
type fieldKind uint8

const (
	kString    fieldKind = iota // required string
	kOptString                  // optional string: absent, null or "" → nil
	kInt32
	kFloat    // finite float64
	kOptFloat // optional finite float64
	kTime     // RFC 3339 or integer epoch ms → Unix ms UTC
	kBool     // true/false/1/0
)

type field struct {
	name string
	kind fieldKind
}

func (f field) optional() bool { return f.kind == kOptString || f.kind == kOptFloat }

// rawKind is what a record holds for a field, before parsing.
type rawKind uint8

const (
	rawAbsent rawKind = iota // JSONL: key missing
	rawNull                  // JSONL: null
	rawEmpty                 // CSV: empty cell; JSONL: ""
	rawString                // text is the (unescaped) string
	rawNumber                // JSONL: text is the number literal
	rawBool                  // JSONL: text is true or false
	rawOther                 // JSONL: object or array; text is the JSON
)

type raw struct {
	kind rawKind
	text string
}

// recordReader reads records of a known set of fields from CSV or JSONL,
// leaving one raw value per field; TxReader and LabelReader parse them.
type recordReader struct {
	name   string
	format Format
	fields []field
	log    *slog.Logger
	close  []io.Closer
	vals   []raw // per field, for the current record
	line   int   // line of the current record

	unknown     []string // unknown columns/keys, in order of first sight
	unknownSeen map[string]bool

	// CSV
	csv   *csv.Reader
	colOf []int // per field: column index, -1 if the header lacks it
	ncols int

	// JSONL
	br      *bufio.Reader
	buf     []byte // a line longer than br's buffer
	nextLn  int    // number of the next line to read
	newUnkn []string
}

// openRecords opens path ("-" = standard input) for reading records.
func openRecords(path string, fields []field, opts []Option) (*recordReader, error) {
	o := buildOptions(opts)
	format, _, err := resolveFormat(&o, path)
	if err != nil {
		return nil, err
	}
	var src io.Reader
	var closers []io.Closer
	if path == "-" {
		src = os.Stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("txfile: open %w", err)
		}
		src = f
		closers = append(closers, f)
	}
	rr, err := newRecords(src, path, format, fields, &o)
	if err != nil {
		for _, c := range closers {
			c.Close()
		}
		return nil, err
	}
	rr.close = append(rr.close, closers...)
	return rr, nil
}

// newRecords reads records from r; name is used in errors.
func newRecords(r io.Reader, name string, format Format, fields []field, o *options) (*recordReader, error) {
	rr := &recordReader{
		name:        name,
		format:      format,
		fields:      fields,
		log:         o.logger,
		vals:        make([]raw, len(fields)),
		unknownSeen: map[string]bool{},
	}
	br := bufio.NewReaderSize(r, 64<<10)
	// gzip is recognised by its magic bytes, whatever the name says.
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("txfile: %s: gzip: %w", name, err)
		}
		rr.close = append(rr.close, zr)
		br = bufio.NewReaderSize(zr, 64<<10)
	}
	switch format {
	case FormatCSV:
		if err := rr.initCSV(br); err != nil {
			return nil, err
		}
	case FormatJSONL:
		rr.br = br
		rr.nextLn = 1
	default:
		return nil, fmt.Errorf("txfile: %s: %w", name, format.Validate())
	}
	return rr, nil
}

func (rr *recordReader) Close() error {
	var errs []error
	for _, c := range rr.close {
		errs = append(errs, c.Close())
	}
	rr.close = nil
	return errors.Join(errs...)
}

func (rr *recordReader) errorf(field string, format string, args ...any) *ParseError {
	return &ParseError{File: rr.name, Line: rr.line, Format: rr.format, Field: field, Reason: fmt.Sprintf(format, args...)}
}

func (rr *recordReader) initCSV(br *bufio.Reader) error {
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1 // checked here, with a better message
	cr.ReuseRecord = true
	rr.csv = cr
	rr.colOf = make([]int, len(rr.fields))
	for i := range rr.colOf {
		rr.colOf[i] = -1
	}
	header, err := cr.Read()
	if err == io.EOF {
		return nil // empty file: no records
	}
	rr.line = 1
	if err != nil {
		return rr.csvError(err)
	}
	rr.ncols = len(header)
	var unknown []string
	for col, h := range header {
		if col == 0 {
			h = strings.TrimPrefix(h, "\ufeff") // byte order mark
		}
		h = strings.TrimSpace(h)
		i := slices.IndexFunc(rr.fields, func(f field) bool { return f.name == h })
		if i < 0 {
			if !rr.unknownSeen[h] {
				rr.unknownSeen[h] = true
				unknown = append(unknown, h)
			}
			continue
		}
		if rr.colOf[i] >= 0 {
			return rr.errorf("", "column %q appears twice in the header (columns %d and %d)", h, rr.colOf[i]+1, col+1)
		}
		rr.colOf[i] = col
	}
	var missing []string
	for i, f := range rr.fields {
		if rr.colOf[i] < 0 && !f.optional() {
			missing = append(missing, strconv.Quote(f.name))
		}
	}
	if len(missing) > 0 {
		return rr.errorf("", "header lacks required column(s) %s (header: %s)", strings.Join(missing, ", "), strings.Join(header, ","))
	}
	rr.reportUnknown(unknown)
	return nil
}

func (rr *recordReader) reportUnknown(names []string) {
	if len(names) == 0 {
		return
	}
	rr.unknown = append(rr.unknown, names...)
	word := "columns"
	if rr.format == FormatJSONL {
		word = "keys"
	}
	rr.log.Warn("txfile: ignoring unknown "+word, "file", rr.name, "line", rr.line, word, names)
}

func (rr *recordReader) csvError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		rr.line = pe.Line
		return rr.errorf("", "invalid CSV at byte %d: %v", pe.Column, pe.Err)
	}
	return fmt.Errorf("txfile: read %s: %w", rr.name, err)
}

// next reads the next record into rr.vals; io.EOF at the end.
func (rr *recordReader) next() error {
	if rr.format == FormatCSV {
		return rr.nextCSV()
	}
	return rr.nextJSONL()
}

func (rr *recordReader) nextCSV() error {
	if rr.csv == nil || rr.ncols == 0 {
		return io.EOF
	}
	rec, err := rr.csv.Read()
	if err == io.EOF {
		return io.EOF
	}
	if err != nil {
		return rr.csvError(err)
	}
	rr.line, _ = rr.csv.FieldPos(0)
	if len(rec) != rr.ncols {
		return rr.errorf("", "%d fields, but the header has %d", len(rec), rr.ncols)
	}
	for i, col := range rr.colOf {
		switch {
		case col < 0:
			rr.vals[i] = raw{kind: rawAbsent}
		case rec[col] == "":
			rr.vals[i] = raw{kind: rawEmpty}
		default:
			rr.vals[i] = raw{kind: rawString, text: rec[col]}
		}
	}
	return nil
}

// readLine returns the next line without its line ending, valid until the
// next call.
func (rr *recordReader) readLine() ([]byte, error) {
	line, err := rr.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		rr.buf = append(rr.buf[:0], line...)
		for err == bufio.ErrBufferFull {
			line, err = rr.br.ReadSlice('\n')
			rr.buf = append(rr.buf, line...)
		}
		line = rr.buf
	}
	if err == io.EOF && len(line) > 0 {
		err = nil // last line without a newline
	}
	if err != nil {
		if err != io.EOF {
			err = fmt.Errorf("txfile: read %s: %w", rr.name, err)
		}
		return nil, err
	}
	line = bytes.TrimSuffix(line, []byte{'\n'})
	return bytes.TrimSuffix(line, []byte{'\r'}), nil
}

func (rr *recordReader) nextJSONL() error {
	var line []byte
	for {
		l, err := rr.readLine()
		if err != nil {
			return err
		}
		rr.line = rr.nextLn
		rr.nextLn++
		if l = bytes.TrimSpace(l); len(l) > 0 {
			line = l
			break
		}
	}
	if line[0] != '{' {
		return rr.errorf("", "not a JSON object: %s", truncate(string(line)))
	}
	if !json.Valid(line) {
		// Let encoding/json say what is wrong, and where.
		var v any
		err := json.Unmarshal(line, &v)
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return rr.errorf("", "invalid JSON at byte %d: %v", se.Offset, err)
		}
		return rr.errorf("", "invalid JSON: %v", err)
	}
	for i := range rr.vals {
		rr.vals[i] = raw{kind: rawAbsent}
	}
	// The line is valid JSON: walk the top-level object's members, keeping
	// the values of known keys (the last one wins if a key repeats, as with
	// encoding/json) without decoding the rest.
	rr.newUnkn = rr.newUnkn[:0]
	i := skipSpace(line, 1)
	for line[i] != '}' {
		kEnd := skipString(line, i)
		key := line[i+1 : kEnd-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			var k string
			json.Unmarshal(line[i:kEnd], &k) // valid JSON: cannot fail
			key = []byte(k)
		}
		i = skipSpace(line, kEnd)
		i = skipSpace(line, i+1) // after ':'
		vEnd := skipValue(line, i)
		if f := rr.fieldIndex(key); f >= 0 {
			rr.vals[f] = jsonRaw(line[i:vEnd])
		} else if !rr.unknownSeen[string(key)] {
			rr.unknownSeen[string(key)] = true
			rr.newUnkn = append(rr.newUnkn, string(key))
		}
		i = skipSpace(line, vEnd)
		if line[i] == ',' {
			i = skipSpace(line, i+1)
		}
	}
	if len(rr.newUnkn) > 0 {
		rr.reportUnknown(slices.Clone(rr.newUnkn))
	}
	return nil
}

func (rr *recordReader) fieldIndex(key []byte) int {
	for i := range rr.fields {
		if string(key) == rr.fields[i].name {
			return i
		}
	}
	return -1
}

// The skip functions walk valid JSON (checked with json.Valid first): each
// returns the index just after the token starting at i.

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	}
	for i < len(b) {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
		i++
	}
	return i
}

// jsonRaw classifies a JSON value.
func jsonRaw(v json.RawMessage) raw {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return raw{kind: rawNull}
	}
	switch c := v[0]; {
	case c == 'n':
		return raw{kind: rawNull}
	case c == 't' || c == 'f':
		return raw{kind: rawBool, text: string(v)}
	case c == '"':
		var s string
		if inner := v[1 : len(v)-1]; bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
			s = string(inner)
		} else if err := json.Unmarshal(v, &s); err != nil {
			return raw{kind: rawOther, text: string(v)}
		}
		if s == "" {
			return raw{kind: rawEmpty}
		}
		return raw{kind: rawString, text: s}
	case c == '-' || (c >= '0' && c <= '9'):
		return raw{kind: rawNumber, text: string(v)}
	}
	return raw{kind: rawOther, text: string(v)}
}

func truncate(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
