package eostest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/fraudstream/fraudstream/pipeline"
	"github.com/fraudstream/fraudstream/pipeline/registry"
	"github.com/fraudstream/fraudstream/schemas"
)

// World is what the pipelines of one test share: a Kafka cluster, a schema
// registry, the input topic and the binary.
type World struct {
	T          testing.TB
	Ctx        context.Context // ends before the test's deadline
	Dir        string          // work directory: configs, state, logs
	Cluster    *Cluster
	Registry   string // schema registry URL
	Bin        string // fraudstream binary
	Model      string // model bundle directory
	InputTopic string
	Partitions int32
	RF         int16
	Admin      *kadm.Client
	// Input is the input topic as read back, set by ReadInput.
	Input *Input

	lookup   schemas.SchemaLookup
	txCodec  *schemas.Codec[schemas.Transaction]
	expected map[string]string // input identity → expected DLQ reason ("" = valid)
	logMu    sync.Mutex
	over     bool
}

// WorldOpts configures NewWorld.
type WorldOpts struct {
	Cluster    ClusterOpts
	Partitions int32
	// RF is the replication factor of every topic (input and, through the
	// config file, the pipeline's outputs); -1 = broker default.
	RF int16
}

var workDirs sync.Map // test name → dir

// WorkDir returns the test's work directory. It is removed at the end of a
// passing test unless FRAUDSTREAM_EOS_KEEP=1; a failing test keeps it (its
// path is logged) for the instance logs.
func WorkDir(t testing.TB) string {
	if d, ok := workDirs.Load(t.Name()); ok {
		return d.(string)
	}
	name := regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(t.Name(), "_")
	dir, err := os.MkdirTemp("", "eostest-"+name+"-")
	if err != nil {
		t.Fatal(err)
	}
	workDirs.Store(t.Name(), dir)
	t.Cleanup(func() {
		workDirs.Delete(t.Name())
		if t.Failed() || os.Getenv("FRAUDSTREAM_EOS_KEEP") == "1" {
			t.Logf("work directory kept: %s", dir)
			return
		}
		_ = os.RemoveAll(dir)
	})
	return dir
}

// NewWorld starts the cluster and the registry and creates the input topic.
func NewWorld(ctx context.Context, t testing.TB, bin string, o WorldOpts) *World {
	t.Helper()
	w := &World{T: t, Ctx: ctx, Dir: WorkDir(t), Bin: bin, Model: filepath.Join(RepoRoot(), "models", "default"),
		InputTopic: "transactions", Partitions: o.Partitions, RF: o.RF, expected: map[string]string{}}
	t.Cleanup(func() { w.logMu.Lock(); w.over = true; w.logMu.Unlock() })
	w.Cluster = StartCluster(ctx, t, o.Cluster)
	w.Admin = kadm.NewClient(w.Cluster.Client())

	reg := registry.New()
	url, err := reg.Start(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	w.Registry = url
	w.lookup = registryLookup(url)
	if w.txCodec, err = schemas.NewCodec[schemas.Transaction](schemas.TransactionFile, schemas.FormatConfluent, "", w.lookup); err != nil {
		t.Fatal(err)
	}
	// The simulated history has record timestamps months before the wall
	// clock: with the broker's default time retention (7 days) the input
	// would be deleted as its segments roll.
	if err := w.Cluster.CreateTopic(ctx, w.InputTopic, o.Partitions, o.RF, map[string]string{"retention.ms": "-1"}); err != nil {
		t.Fatal(err)
	}
	return w
}

// logf logs from any goroutine, and not after the test is over.
func (w *World) logf(format string, args ...any) {
	w.T.Helper()
	w.logMu.Lock()
	defer w.logMu.Unlock()
	if !w.over {
		w.T.Logf(format, args...)
	}
}

func registryLookup(url string) schemas.SchemaLookup {
	reg, err := sr.NewClient(sr.URLs(url), sr.HTTPClient(&http.Client{Timeout: 10 * time.Second}))
	if err != nil {
		return func(context.Context, int) (string, error) { return "", err }
	}
	return func(ctx context.Context, id int) (string, error) {
		s, err := reg.SchemaByID(ctx, id)
		if err != nil {
			var re *sr.ResponseError
			if errors.As(err, &re) && re.StatusCode == http.StatusNotFound {
				return "", fmt.Errorf("%w: %v", schemas.ErrUnknownSchema, err)
			}
			return "", err
		}
		return s.Schema, nil
	}
}

// InputSpec describes a generated input stream.
type InputSpec struct {
	// Records is the number of input records (valid and bad).
	Records int
	// Seed and Cards configure the simulator (pipeline/synth).
	Seed  int64
	Cards int
	// BadEvery makes every BadEvery-th record a bad one (0: none), cycling
	// through decode_error, unknown_schema, amount_out_of_range,
	// currency_not_allowed, future_event_time, missing_field, key_mismatch.
	BadEvery int
	// CardSpace > 0 renames the cards so that the stream has exactly
	// min(CardSpace, Records) distinct cards, assigned round robin (restore
	// measurements).
	CardSpace int
}

// Record is one generated input record, not yet produced.
type Record struct {
	Tx     *schemas.Transaction // produced with EventProducer.Transaction
	Key    []byte               // else produced raw
	Value  []byte
	TsMs   int64
	ident  string
	Reason string // expected DLQ reason; "" for a valid transaction
}

// Generate builds the records of spec (deterministic in spec).
func (w *World) Generate(spec InputSpec) []*Record {
	w.T.Helper()
	sc := synthConfig(spec)
	gen, err := newSynth(sc)
	if err != nil {
		w.T.Fatal(err)
	}
	// An encoder for bad records that the EventProducer cannot write
	// (a key that is not the card id).
	regc, err := sr.NewClient(sr.URLs(w.Registry))
	if err != nil {
		w.T.Fatal(err)
	}
	id, err := pipeline.RegisterSchema(w.Ctx, regc, w.InputTopic+"-value", schemas.TransactionFile)
	if err != nil {
		w.T.Fatal(err)
	}
	codec, err := schemas.NewCodec[schemas.Transaction](schemas.TransactionFile, schemas.FormatConfluent, "", w.lookup)
	if err != nil {
		w.T.Fatal(err)
	}
	codec.SetSchemaID(id)
	enc := codec.NewEncoder()

	out := make([]*Record, 0, spec.Records)
	seen := map[string]bool{}
	for i := 1; len(out) < spec.Records; i++ {
		tx, ts, ok := gen.next()
		if !ok {
			w.T.Fatalf("simulator ended after %d records", len(out))
		}
		if spec.CardSpace > 0 {
			tx.CardID = fmt.Sprintf("rc-%07d", (i-1)%spec.CardSpace)
		}
		r := &Record{Tx: &tx, TsMs: ts}
		if spec.BadEvery > 0 && i%spec.BadEvery == spec.BadEvery/2 {
			tag := fmt.Sprintf("bad-%d", i)
			switch (i / spec.BadEvery) % 7 {
			case 0:
				r.Tx, r.Key, r.Value, r.Reason = nil, []byte(tag), []byte("not avro: "+tag), "decode_error"
			case 1:
				// Confluent framing with a schema id the registry does not know.
				r.Tx, r.Key, r.Reason = nil, []byte(tag), "unknown_schema"
				r.Value = append([]byte{0, 0x00, 0x0f, 0x42, 0x3f}, tag...)
			case 2:
				tx.Amount, r.Reason = 2_000_000, "amount_out_of_range"
			case 3:
				tx.Currency, r.Reason = "XXX", "currency_not_allowed"
			case 4:
				tx.EventTime, r.Reason = ts+3_600_000, "future_event_time"
			case 5:
				tx.TransactionID, tx.MerchantID, r.Reason = "", tag, "missing_field"
			case 6:
				v, err := enc.Append(nil, &tx)
				if err != nil {
					w.T.Fatal(err)
				}
				r.Tx, r.Key, r.Value, r.Reason = nil, []byte("not-"+tx.CardID), v, "key_mismatch"
			}
			if r.Tx != nil {
				r.Tx = &tx
			}
		}
		r.ident = identity(r.Key, r.Tx, r.Value, codec)
		if seen[r.ident] {
			w.T.Fatalf("generated input has two records with identity %s", r.ident)
		}
		seen[r.ident] = true
		out = append(out, r)
	}
	return out
}

// identity names an input record: its transaction id, else the tag bad
// records carry in the merchant id or the key.
func identity(key []byte, tx *schemas.Transaction, value []byte, codec *schemas.Codec[schemas.Transaction]) string {
	if tx == nil {
		var d schemas.Transaction
		if err := codec.Decode(context.Background(), value, &d); err != nil {
			return "key:" + string(key)
		}
		tx = &d
	}
	if tx.TransactionID == "" {
		return "merchant:" + tx.MerchantID
	}
	return "tx:" + tx.TransactionID
}

// Feed produces records to the input topic with the EventProducer, paced
// over a duration, in the background.
type Feed struct {
	Total int
	Sent  atomic.Int64
	done  chan struct{}
	err   error
	Took  time.Duration
}

// StartFeed produces recs over about d (0: as fast as possible).
func (w *World) StartFeed(recs []*Record, d time.Duration) *Feed {
	w.T.Helper()
	for _, r := range recs {
		if _, dup := w.expected[r.ident]; dup {
			w.T.Fatalf("record %s fed twice", r.ident)
		}
		w.expected[r.ident] = r.Reason
	}
	f := &Feed{Total: len(recs), done: make(chan struct{})}
	p, err := pipeline.NewEventProducer(w.Ctx, pipeline.ProducerConfig{Brokers: w.Cluster.Brokers,
		TransactionsTopic: w.InputTopic, Format: schemas.FormatConfluent, RegistryURL: w.Registry})
	if err != nil {
		w.T.Fatal(err)
	}
	go func() {
		defer close(f.done)
		defer p.Close()
		start := time.Now()
		ctx := w.Ctx
		for i, r := range recs {
			if d > 0 && i%50 == 0 {
				due := start.Add(time.Duration(float64(d) * float64(i) / float64(len(recs))))
				if wait := time.Until(due); wait > 0 {
					select {
					case <-ctx.Done():
						f.err = ctx.Err()
						return
					case <-time.After(wait):
					}
				}
			}
			if r.Tx != nil {
				if err := p.Transaction(ctx, r.Tx, r.TsMs); err != nil {
					f.err = err
					return
				}
			} else {
				p.Raw(ctx, w.InputTopic, r.Key, r.Value, r.TsMs, nil)
			}
			f.Sent.Add(1)
		}
		f.err = p.Flush(ctx)
		f.Took = time.Since(start)
	}()
	return f
}

// Done is closed when every record is acknowledged (or the feed failed).
func (f *Feed) Done() <-chan struct{} { return f.done }

// Err returns the feed's error once Done.
func (f *Feed) Err() error { <-f.done; return f.err }

// Loc is a record's place in its topic.
type Loc struct {
	Partition int32
	Offset    int64
}

func (l Loc) String() string { return fmt.Sprintf("%d@%d", l.Partition, l.Offset) }

// InputRecord is one record of the input topic as read back.
type InputRecord struct {
	Loc
	Key, Value []byte
	Ident      string
	TxID       string // "" for records without one
	Reason     string // expected DLQ reason, "" if valid
}

// Input indexes the input topic.
type Input struct {
	Topic   string
	Records map[Loc]*InputRecord
	ByTx    map[string]*InputRecord // valid transactions
	End     map[int32]int64         // end offset per partition
	Valid   int
	Bad     int
	Reasons map[string]int // bad records by expected reason
}

// Total is the number of input records.
func (in *Input) Total() int { return len(in.Records) }

// ReadInput reads the whole input topic back and checks that it holds every
// fed record exactly once; it sets w.Input.
func (w *World) ReadInput() *Input {
	w.T.Helper()
	recs, err := ReadTopic(w.Ctx, w.Cluster.Brokers, w.InputTopic)
	if err != nil {
		w.T.Fatalf("read input: %v", err)
	}
	in := &Input{Topic: w.InputTopic, Records: map[Loc]*InputRecord{}, ByTx: map[string]*InputRecord{}, End: recs.End, Reasons: map[string]int{}}
	seen := map[string]bool{}
	for _, r := range recs.Records {
		ir := &InputRecord{Loc: Loc{r.Partition, r.Offset}, Key: r.Key, Value: r.Value}
		ir.Ident = identity(r.Key, nil, r.Value, w.txCodec)
		reason, ok := w.expected[ir.Ident]
		if !ok {
			w.T.Fatalf("input %s holds a record that was not generated (%s)", ir.Loc, ir.Ident)
		}
		if seen[ir.Ident] {
			w.T.Fatalf("input holds record %s twice (producer duplicate)", ir.Ident)
		}
		seen[ir.Ident] = true
		ir.Reason = reason
		if tx, ok := strings.CutPrefix(ir.Ident, "tx:"); ok {
			ir.TxID = tx
		}
		in.Records[ir.Loc] = ir
		if reason == "" {
			in.Valid++
			in.ByTx[ir.TxID] = ir
		} else {
			in.Bad++
			in.Reasons[reason]++
		}
	}
	if len(seen) != len(w.expected) {
		w.T.Fatalf("input holds %d of the %d fed records", len(seen), len(w.expected))
	}
	w.Input = in
	return in
}
