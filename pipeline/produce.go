package pipeline

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/fraudstream/fraudstream/schemas"
)

// ProducerConfig configures an EventProducer.
type ProducerConfig struct {
	Brokers           []string
	TransactionsTopic string
	LabelsTopic       string // "" drops labels
	Format            schemas.Format
	RegistryURL       string // for FormatConfluent
	// KafkaOpts are extra franz-go options (tests).
	KafkaOpts []kgo.Opt
}

// EventProducer writes transactions and labels to Kafka the way payment
// systems are expected to: Avro in the configured wire format, key =
// card_id (Kafka's murmur2 partitioning, as the Java client), record
// timestamp = when the event reached the producer. Produce calls are
// asynchronous; Flush waits for them and reports the first error.
// Not safe for concurrent use.
type EventProducer struct {
	cfg    ProducerConfig
	cl     *kgo.Client
	txEnc  *schemas.Encoder[schemas.Transaction]
	lblEnc *schemas.Encoder[schemas.Label]
	slab   []byte
	err    atomic.Pointer[error]

	Transactions atomic.Int64 // acknowledged
	Labels       atomic.Int64 // acknowledged
}

// NewEventProducer connects and, for the Confluent format, registers the
// schemas under "<topic>-value" (TopicNameStrategy).
func NewEventProducer(ctx context.Context, cfg ProducerConfig) (*EventProducer, error) {
	if err := cfg.Format.Validate(); err != nil {
		return nil, err
	}
	var reg *sr.Client
	var lookup schemas.SchemaLookup
	if cfg.Format == schemas.FormatConfluent {
		var err error
		if reg, err = sr.NewClient(sr.URLs(cfg.RegistryURL), sr.HTTPClient(&http.Client{Timeout: 10 * time.Second})); err != nil {
			return nil, err
		}
		lookup = func(context.Context, int) (string, error) { return "", nil }
	}
	txc, err := schemas.NewCodec[schemas.Transaction](schemas.TransactionFile, cfg.Format, "", lookup)
	if err != nil {
		return nil, err
	}
	lc, err := schemas.NewCodec[schemas.Label](schemas.LabelFile, cfg.Format, "", lookup)
	if err != nil {
		return nil, err
	}
	if reg != nil {
		id, err := RegisterSchema(ctx, reg, cfg.TransactionsTopic+"-value", schemas.TransactionFile)
		if err != nil {
			return nil, err
		}
		txc.SetSchemaID(id)
		if cfg.LabelsTopic != "" {
			if id, err = RegisterSchema(ctx, reg, cfg.LabelsTopic+"-value", schemas.LabelFile); err != nil {
				return nil, err
			}
			lc.SetSchemaID(id)
		}
	}
	opts := append([]kgo.Opt{kgo.SeedBrokers(cfg.Brokers...), kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		kgo.ProducerLinger(5 * time.Millisecond), kgo.MaxBufferedRecords(100_000),
		kgo.ProducerBatchMaxBytes(1 << 20)}, cfg.KafkaOpts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka producer for %v: %w", cfg.Brokers, err)
	}
	return &EventProducer{cfg: cfg, cl: cl, txEnc: txc.NewEncoder(), lblEnc: lc.NewEncoder()}, nil
}

// bytes returns a stable copy of b carved from a slab (one allocation per
// ~1 MiB of records instead of one per record).
func (p *EventProducer) bytes(b []byte) []byte {
	if cap(p.slab)-len(p.slab) < len(b) {
		p.slab = make([]byte, 0, max(1<<20, len(b)))
	}
	start := len(p.slab)
	p.slab = append(p.slab, b...)
	return p.slab[start:len(p.slab):len(p.slab)]
}

func (p *EventProducer) promise(n *atomic.Int64) func(*kgo.Record, error) {
	return func(_ *kgo.Record, err error) {
		if err != nil {
			p.err.CompareAndSwap(nil, &err)
			return
		}
		n.Add(1)
	}
}

// Transaction produces tx with the given record timestamp (Unix ms).
func (p *EventProducer) Transaction(ctx context.Context, tx *schemas.Transaction, tsMillis int64) error {
	start := len(p.slab)
	var err error
	if p.slab, err = p.txEnc.Append(p.slab, tx); err != nil {
		p.slab = p.slab[:start]
		return err
	}
	v := p.slab[start:len(p.slab):len(p.slab)]
	if cap(p.slab)-len(p.slab) < 512 {
		p.slab = make([]byte, 0, 1<<20)
	}
	p.Raw(ctx, p.cfg.TransactionsTopic, []byte(tx.CardID), v, tsMillis, &p.Transactions)
	return nil
}

// Label produces a label with the given record timestamp (Unix ms).
func (p *EventProducer) Label(ctx context.Context, l *schemas.Label, tsMillis int64) error {
	if p.cfg.LabelsTopic == "" {
		return nil
	}
	start := len(p.slab)
	var err error
	if p.slab, err = p.lblEnc.Append(p.slab, l); err != nil {
		p.slab = p.slab[:start]
		return err
	}
	v := p.slab[start:len(p.slab):len(p.slab)]
	if cap(p.slab)-len(p.slab) < 512 {
		p.slab = make([]byte, 0, 1<<20)
	}
	p.Raw(ctx, p.cfg.LabelsTopic, []byte(l.CardID), v, tsMillis, &p.Labels)
	return nil
}

// Raw produces arbitrary bytes (tests and the bad-record injector use it to
// write malformed records). counter, if not nil, counts acknowledgements.
func (p *EventProducer) Raw(ctx context.Context, topic string, key, value []byte, tsMillis int64, counter *atomic.Int64) {
	var cb func(*kgo.Record, error)
	if counter != nil {
		cb = p.promise(counter)
	} else {
		var discard atomic.Int64
		cb = p.promise(&discard)
	}
	p.cl.Produce(ctx, &kgo.Record{Topic: topic, Key: key, Value: value, Timestamp: time.UnixMilli(tsMillis)}, cb)
}

// Flush waits for every produced record and returns the first error.
func (p *EventProducer) Flush(ctx context.Context) error {
	if err := p.cl.Flush(ctx); err != nil {
		return err
	}
	if e := p.err.Load(); e != nil {
		return fmt.Errorf("produce: %w", *e)
	}
	return nil
}

// Close flushes and closes the client.
func (p *EventProducer) Close() { p.cl.Close() }
