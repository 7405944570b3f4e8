package txfile

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
)

// Format is a file format for records.
type Format string

const (
	// FormatCSV: RFC 4180 CSV with a header row naming the columns (the
	// Avro field names), in any order. Extension .csv.
	FormatCSV Format = "csv"
	// FormatJSONL: one JSON object per line, keys = the Avro field names.
	// Extensions .jsonl and .ndjson.
	FormatJSONL Format = "jsonl"
)

// Validate reports whether f is a known format.
func (f Format) Validate() error {
	switch f {
	case FormatCSV, FormatJSONL:
		return nil
	}
	return fmt.Errorf("unknown file format %q (allowed: %q, %q)", string(f), FormatCSV, FormatJSONL)
}

// ErrUnknownFormat: the format could not be inferred from the file name; pass
// WithFormat.
var ErrUnknownFormat = errors.New("txfile: unknown file format")

// FormatOf infers the format of a file from its name: .csv, .jsonl or
// .ndjson, case-insensitive, optionally followed by .gz. It also reports
// whether the name says the file is gzip-compressed (readers detect gzip by
// its magic bytes anyway; writers compress when the name ends in .gz).
func FormatOf(path string) (f Format, gz bool, err error) {
	name := strings.ToLower(filepath.Base(path))
	if strings.HasSuffix(name, ".gz") {
		gz = true
		name = strings.TrimSuffix(name, ".gz")
	}
	switch filepath.Ext(name) {
	case ".csv":
		return FormatCSV, gz, nil
	case ".jsonl", ".ndjson":
		return FormatJSONL, gz, nil
	}
	return "", gz, fmt.Errorf("%w: %s: name must end in .csv, .jsonl or .ndjson (optionally + .gz), or give the format explicitly", ErrUnknownFormat, path)
}

// TimeFormat is how writers write event_time and label_time.
type TimeFormat uint8

const (
	// TimeRFC3339 writes UTC RFC 3339 with milliseconds,
	// e.g. 2026-01-01T09:30:00.250Z (the default).
	TimeRFC3339 TimeFormat = iota
	// TimeEpochMillis writes integer Unix milliseconds.
	TimeEpochMillis
)

// Option configures a reader or a writer. Options that do not apply to the
// thing being opened are ignored.
type Option func(*options)

type options struct {
	format     Format
	logger     *slog.Logger
	timeFormat TimeFormat
}

// WithFormat sets the format instead of inferring it from the file name
// (required for names without a known extension, and for "-", standard input
// or output).
func WithFormat(f Format) Option { return func(o *options) { o.format = f } }

// WithLogger sets where readers report unknown columns (once per column, at
// Warn level). Default: slog.Default().
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithTimeFormat sets how writers write times (default TimeRFC3339).
func WithTimeFormat(t TimeFormat) Option { return func(o *options) { o.timeFormat = t } }

func buildOptions(opts []Option) options {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.logger == nil {
		o.logger = slog.Default()
	}
	return o
}

// resolveFormat returns the explicit format, or the one the name implies,
// and whether the name ends in .gz.
func resolveFormat(o *options, name string) (Format, bool, error) {
	f, gz, err := FormatOf(name)
	if o.format != "" {
		if err := o.format.Validate(); err != nil {
			return "", gz, fmt.Errorf("txfile: %s: %w", name, err)
		}
		return o.format, gz, nil
	}
	return f, gz, err
}
