package schemas

import (
	"context"
	"embed"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/hamba/avro/v2"
)

//go:embed *.avsc
var files embed.FS

// Schema file names, as embedded.
const (
	TransactionFile = "transaction.avsc"
	LabelFile       = "label.avsc"
	DecisionFile    = "decision.avsc"
	OutcomeFile     = "outcome.avsc"
)

// Text returns the embedded schema text of file (one of the *File constants).
func Text(file string) (string, error) {
	b, err := files.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("embedded schema %s: %w", file, err)
	}
	return string(b), nil
}

// Format is a wire format for Avro records on Kafka.
type Format string

const (
	// FormatConfluent is the Confluent wire format: 0x00, 4-byte big-endian
	// schema id, Avro binary. Needs a schema registry.
	FormatConfluent Format = "confluent"
	// FormatAvro is plain Avro binary with the writer schema known out of
	// band (a file named in the configuration).
	FormatAvro Format = "avro"
)

// Validate reports whether f is a known format.
func (f Format) Validate() error {
	switch f {
	case FormatConfluent, FormatAvro:
		return nil
	}
	return fmt.Errorf("unknown wire format %q (allowed: %q, %q)", string(f), FormatConfluent, FormatAvro)
}

// Errors a Decode may wrap. Callers branch on them: a malformed record goes
// to the dead-letter topic, anything else (a registry that is down) is
// retried, because it says nothing about the record.
var (
	// ErrMalformed: the bytes are not a valid record for any known schema.
	ErrMalformed = errors.New("malformed record")
	// ErrUnknownSchema: the record names a schema id the registry does not
	// have, or a writer schema that cannot be resolved against ours.
	ErrUnknownSchema = errors.New("unknown or incompatible writer schema")
)

// SchemaLookup returns the text of the schema registered under id. It must
// wrap ErrUnknownSchema when the registry answers that the id does not exist,
// and return other errors for transient failures.
type SchemaLookup func(ctx context.Context, id int) (string, error)

// Codec encodes and decodes one record type T in one wire format.
//
// Decoding resolves each writer schema against the reader schema compiled into
// this binary (Avro schema resolution), once per writer schema id; the
// resolved schemas are cached, so the steady state costs one map lookup.
// A Codec is safe for concurrent use.
type Codec[T any] struct {
	format Format
	reader avro.Schema
	lookup SchemaLookup
	compat *avro.SchemaCompatibility

	// plain is the resolved schema for FormatAvro.
	plain avro.Schema
	// ownID is the registry id of the reader schema, for encoding in
	// FormatConfluent (0 until SetSchemaID).
	ownID uint32

	mu   sync.RWMutex
	byID map[uint32]avro.Schema
}

// NewCodec returns a codec for T whose reader (and encoding) schema is the
// embedded file. For FormatAvro, writerSchema is the text of the schema the
// producers write with ("" means the embedded one); for FormatConfluent,
// lookup fetches writer schemas by id.
func NewCodec[T any](file string, format Format, writerSchema string, lookup SchemaLookup) (*Codec[T], error) {
	if err := format.Validate(); err != nil {
		return nil, err
	}
	text, err := Text(file)
	if err != nil {
		return nil, err
	}
	reader, err := avro.Parse(text)
	if err != nil {
		return nil, fmt.Errorf("parse embedded schema %s: %w", file, err)
	}
	c := &Codec[T]{
		format: format,
		reader: reader,
		lookup: lookup,
		compat: avro.NewSchemaCompatibility(),
		byID:   make(map[uint32]avro.Schema),
	}
	switch format {
	case FormatAvro:
		c.plain = reader
		if writerSchema != "" {
			w, err := avro.Parse(writerSchema)
			if err != nil {
				return nil, fmt.Errorf("parse writer schema for %s: %w", file, err)
			}
			if c.plain, err = c.resolve(w); err != nil {
				return nil, fmt.Errorf("writer schema cannot be read as %s: %w", file, err)
			}
		}
	case FormatConfluent:
		if lookup == nil {
			return nil, fmt.Errorf("codec for %s: confluent format needs a schema registry", file)
		}
	}
	return c, nil
}

// Schema returns the reader schema.
func (c *Codec[T]) Schema() avro.Schema { return c.reader }

// SetSchemaID sets the registry id under which the reader schema is
// registered; Append writes it in the Confluent header.
func (c *Codec[T]) SetSchemaID(id int) { c.ownID = uint32(id) }

func (c *Codec[T]) resolve(writer avro.Schema) (avro.Schema, error) {
	if writer.Fingerprint() == c.reader.Fingerprint() {
		return c.reader, nil
	}
	return c.compat.Resolve(c.reader, writer)
}

// Decode decodes b into v. v is reset first.
func (c *Codec[T]) Decode(ctx context.Context, b []byte, v *T) error {
	var zero T
	*v = zero
	schema := c.plain
	body := b
	if c.format == FormatConfluent {
		if len(b) < 5 || b[0] != 0 {
			return fmt.Errorf("%w: no Confluent header (magic byte 0 + 4-byte schema id)", ErrMalformed)
		}
		id := binary.BigEndian.Uint32(b[1:5])
		body = b[5:]
		var err error
		if schema, err = c.writer(ctx, id); err != nil {
			return err
		}
	}
	if err := avro.Unmarshal(schema, body, v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return nil
}

func (c *Codec[T]) writer(ctx context.Context, id uint32) (avro.Schema, error) {
	c.mu.RLock()
	s, ok := c.byID[id]
	c.mu.RUnlock()
	if ok {
		return s, nil
	}
	text, err := c.lookup(ctx, int(id))
	if err != nil {
		return nil, fmt.Errorf("look up schema id %d: %w", id, err)
	}
	w, err := avro.Parse(text)
	if err != nil {
		return nil, fmt.Errorf("%w: schema id %d does not parse: %v", ErrUnknownSchema, id, err)
	}
	if s, err = c.resolve(w); err != nil {
		return nil, fmt.Errorf("%w: schema id %d cannot be read: %v", ErrUnknownSchema, id, err)
	}
	c.mu.Lock()
	c.byID[id] = s
	c.mu.Unlock()
	return s, nil
}

// Encoder appends encoded records to a caller's buffer, reusing its own
// scratch space. It is not safe for concurrent use: make one per goroutine.
type Encoder[T any] struct {
	c *Codec[T]
	w *avro.Writer
}

// NewEncoder returns an Encoder for c.
func (c *Codec[T]) NewEncoder() *Encoder[T] {
	return &Encoder[T]{c: c, w: avro.NewWriter(nil, 512)}
}

// Append appends the encoding of v (with the Confluent header in that format)
// to dst.
func (e *Encoder[T]) Append(dst []byte, v *T) ([]byte, error) {
	e.w.Reset(nil)
	e.w.Error = nil
	e.w.WriteVal(e.c.reader, v)
	if e.w.Error != nil {
		return dst, fmt.Errorf("encode %s: %w", e.c.reader.(avro.NamedSchema).FullName(), e.w.Error)
	}
	if e.c.format == FormatConfluent {
		if e.c.ownID == 0 {
			return dst, errors.New("encode: confluent format but no schema id set (register the schema first)")
		}
		dst = append(dst, 0)
		dst = binary.BigEndian.AppendUint32(dst, e.c.ownID)
	}
	return append(dst, e.w.Buffer()...), nil
}
