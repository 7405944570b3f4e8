package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fraudstream/fraudstream/operators/labeljoin"
	"github.com/fraudstream/fraudstream/operators/validate"
	"github.com/fraudstream/fraudstream/operators/windows"
	"github.com/fraudstream/fraudstream/schemas"
)

// DLQ record headers (Kafka Connect style): the value and key stay the
// original bytes, so a dead letter can be fixed and re-produced as it is.
const (
	HeaderReason    = "fraudstream.dlq.reason"
	HeaderDetail    = "fraudstream.dlq.detail"
	HeaderTopic     = "fraudstream.dlq.topic"
	HeaderPartition = "fraudstream.dlq.partition"
	HeaderOffset    = "fraudstream.dlq.offset"
	HeaderTimestamp = "fraudstream.dlq.timestamp"
)

// cardEntry is one card's state in the hot cache.
type cardEntry struct {
	id    string
	state windows.CardState
	// dirty: changed in the current (uncommitted) batch.
	dirty bool
	// lastUsed is the batch number that last touched the card (eviction).
	lastUsed uint64
}

// batchStats are one task's counts for one batch, published to metrics only
// after the batch's transaction committed (so aborted work is not counted
// twice).
type batchStats struct {
	consumed  int
	decisions [3]int // approve, decline, review
	explored  int
	late      int
	dlq       map[string]int
	scores    []float64
	eventMs   []int64 // event times, for end-to-end latency
	loads     int
	labels    int
	badLabels int
	outcomes  []labeljoin.Outcome
	// per decision, for monitoring: features (features.Count each), input
	// nulls (monitor.InputFields() each), flagged, declined.
	features []float64
	nulls    []bool
	flagged  []bool
	declined []bool
}

func (s *batchStats) reset() {
	*s = batchStats{dlq: s.dlq, scores: s.scores[:0], eventMs: s.eventMs[:0], outcomes: s.outcomes[:0],
		features: s.features[:0], nulls: s.nulls[:0], flagged: s.flagged[:0], declined: s.declined[:0]}
	for k := range s.dlq {
		delete(s.dlq, k)
	}
}

// partitionTask processes one input partition: single-threaded and
// deterministic. The same records in the same order, with the same model and
// config, give the same state and the same decisions (all fields but
// decided_at), whatever the batching, restarts or the instance.
type partitionTask struct {
	env       *Env
	topic     string
	partition int32
	pfx       []byte

	cards    map[string]*cardEntry
	dirty    []*cardEntry
	batchNum uint64

	// next is the next input offset to process; changelogNext the
	// changelog offset after the last record included in Pebble.
	next          int64
	changelogNext int64
	// restored is set once the partition's state is known to match the
	// committed offsets; job is the restore in flight (both guarded by
	// Runner.mu). retryAt delays a restore that failed.
	restored bool
	job      *restoreJob
	retryAt  time.Time

	stats batchStats
	out   []*kgo.Record
	arena []byte
	// recs are the batch's output records, carved in chunks so that a
	// record costs no allocation in steady state; reused once the batch's
	// transaction has ended (every record acknowledged).
	recs  [][]kgo.Record
	recsN int

	// scratch, reused per event
	tx   schemas.Transaction
	eval *Evaluator
	// serving is the model of the current batch.
	serving *Serving
	// Label join (nil when no labels topic is configured).
	join       *labeljoin.Joiner
	kv         *joinKV
	outEnc     *schemas.Encoder[schemas.Outcome]
	labelsNext int64 // next labels-topic offset to process
	watermark  int64 // newest transaction event time seen (ms)
	// watermarkCommitted is the watermark as of the last committed batch.
	watermarkCommitted int64
	ev                 Evaluation
	dec                schemas.Decision
	enc                *schemas.Encoder[schemas.Decision]
	key                []byte
}

func newPartitionTask(env *Env, topic string, partition int32) *partitionTask {
	t := &partitionTask{
		env: env, topic: topic, partition: partition, pfx: partitionPrefix(topic, partition),
		cards: make(map[string]*cardEntry), next: -1, changelogNext: -1, labelsNext: -1,
		stats: batchStats{dlq: map[string]int{}},
		enc:   env.decisions.NewEncoder(),
		eval:  NewEvaluator(env.windows),
	}
	if env.labels != nil {
		t.kv = &joinKV{t: t, index: map[string]int{}}
		t.join, _ = labeljoin.New(env.joinCfg, t.kv) // config validated at start
		t.outEnc = env.outcomes.NewEncoder()
	}
	return t
}

// beginBatch resets per-batch buffers. Records handed out by the previous
// batch must have been produced (the transaction ended) before.
func (t *partitionTask) beginBatch() {
	t.batchNum++
	// The model is fixed for the whole batch: a hot reload takes effect
	// between batches, so a batch (one Kafka transaction) is decided by
	// exactly one model version.
	t.serving = t.env.serving.Load()
	t.recsN = 0
	t.out = t.out[:0]
	if t.join != nil {
		clear(t.join.Counts)
		t.join.ExpiredDecisions = 0
	}
	t.arena = t.arena[:0]
	t.stats.reset()
}

const recChunk = 1024

// record returns a zeroed record from the batch's slab.
func (t *partitionTask) record() *kgo.Record {
	c, i := t.recsN/recChunk, t.recsN%recChunk
	if c == len(t.recs) {
		t.recs = append(t.recs, make([]kgo.Record, recChunk))
	}
	t.recsN++
	r := &t.recs[c][i]
	*r = kgo.Record{}
	return r
}

// emit appends an output record.
func (t *partitionTask) emit(topic string, partition int32, key, value []byte, ts time.Time) *kgo.Record {
	r := t.record()
	r.Topic, r.Partition, r.Key, r.Value, r.Timestamp = topic, partition, key, value, ts
	t.out = append(t.out, r)
	return r
}

// copyBytes returns n bytes of the batch arena. Slices handed out stay valid for
// the batch even when the arena grows (old backing arrays stay alive).
func (t *partitionTask) copyBytes(b []byte) []byte {
	if cap(t.arena)-len(t.arena) < len(b) {
		t.arena = make([]byte, 0, max(64<<10, 2*cap(t.arena), len(b)))
	}
	start := len(t.arena)
	t.arena = append(t.arena, b...)
	return t.arena[start:len(t.arena):len(t.arena)]
}

// process handles one input record, appending its outputs to t.out. It
// returns an error only for failures that say nothing about the record (the
// schema registry is down, Pebble fails): the batch is then aborted and
// retried. Bad records never return an error; they go to the DLQ.
func (t *partitionTask) process(ctx context.Context, r *kgo.Record) error {
	t.stats.consumed++
	t.next = r.Offset + 1
	env := t.env
	if err := env.transactions.Decode(ctx, r.Value, &t.tx); err != nil {
		switch {
		case errors.Is(err, schemas.ErrMalformed):
			t.deadLetter(r, validate.ReasonDecode, err.Error())
			return nil
		case errors.Is(err, schemas.ErrUnknownSchema):
			t.deadLetter(r, validate.ReasonUnknownSchema, err.Error())
			return nil
		}
		return fmt.Errorf("decode %s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err)
	}
	if v := env.rules.Check(&t.tx, r.Key, r.Timestamp.UnixMilli()); v != nil {
		t.deadLetter(r, v.Reason, v.Detail)
		return nil
	}
	card, err := t.card(t.tx.CardID)
	if err != nil {
		return err
	}
	if err := t.eval.Observe(&card.state, &t.tx, &t.ev); err != nil {
		if errors.Is(err, windows.ErrTooLate) {
			t.deadLetter(r, validate.ReasonTooLate, fmt.Sprintf("event_time %d is more than the longest window plus allowed lateness (%dms) before the card's newest event",
				t.tx.EventTime, env.windows.AllowedLatenessMillis))
			return nil
		}
		if errors.Is(err, windows.ErrInvalidEvent) {
			t.deadLetter(r, validate.ReasonBadEventTime, err.Error())
			return nil
		}
		return fmt.Errorf("windows for card in %s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err)
	}
	if !card.dirty {
		card.dirty = true
		t.dirty = append(t.dirty, card)
	}
	if t.ev.Late {
		t.stats.late++
	}
	sm := t.serving
	t.eval.Decide(sm, &t.tx, &t.ev)
	score, o := t.ev.Score, t.ev.Outcome
	d := &t.dec
	FillDecision(d, sm, &t.tx, &t.ev, env.emitFeatures)
	d.DecidedAt = env.now().UnixMilli()
	d.SourcePartition, d.SourceOffset = r.Partition, r.Offset
	start := len(t.arena)
	var encErr error
	t.arena, encErr = t.enc.Append(t.arena, d)
	if encErr != nil {
		return encErr
	}
	val := t.arena[start:len(t.arena):len(t.arena)]
	t.emit(env.cfg.Topics.Decisions, 0, r.Key, val, time.UnixMilli(d.DecidedAt))
	if err := t.recordDecision(d); err != nil {
		return err
	}
	switch o.Action {
	case schemas.ActionApprove:
		t.stats.decisions[0]++
	case schemas.ActionDecline:
		t.stats.decisions[1]++
	default:
		t.stats.decisions[2]++
	}
	if o.Explored {
		t.stats.explored++
	}
	t.stats.scores = append(t.stats.scores, score)
	t.stats.eventMs = append(t.stats.eventMs, t.tx.EventTime)
	t.stats.features = append(t.stats.features, t.ev.Features...)
	// The order of monitor.InputFields(): country, device_id, ip, lat_lon.
	t.stats.nulls = append(t.stats.nulls, t.tx.Country == nil, t.tx.DeviceID == nil, t.tx.IP == nil, t.tx.Lat == nil || t.tx.Lon == nil)
	t.stats.flagged = append(t.stats.flagged, o.Flagged)
	t.stats.declined = append(t.stats.declined, o.Action == schemas.ActionDecline)
	return nil
}

func (t *partitionTask) deadLetter(r *kgo.Record, reason, detail string) {
	t.stats.dlq[reason]++
	// The dead letter is timestamped now, not with the input record's time
	// (kept in a header): a replayed or late input can be months old, and
	// time-based retention would delete its dead letter at once.
	dl := t.emit(t.env.cfg.Topics.DLQ, 0, r.Key, r.Value, t.env.now())
	dl.Headers = []kgo.RecordHeader{
		{Key: HeaderReason, Value: []byte(reason)},
		{Key: HeaderDetail, Value: []byte(detail)},
		{Key: HeaderTopic, Value: []byte(r.Topic)},
		{Key: HeaderPartition, Value: []byte(strconv.Itoa(int(r.Partition)))},
		{Key: HeaderOffset, Value: []byte(strconv.FormatInt(r.Offset, 10))},
		{Key: HeaderTimestamp, Value: []byte(strconv.FormatInt(r.Timestamp.UnixMilli(), 10))},
	}
}

// card returns the card's state from the cache, else from Pebble, else new.
func (t *partitionTask) card(id string) (*cardEntry, error) {
	if c, ok := t.cards[id]; ok {
		c.lastUsed = t.batchNum
		return c, nil
	}
	c := &cardEntry{id: id, lastUsed: t.batchNum}
	var events []windows.StoredEvent
	head, found, err := t.env.store.loadCard(t.pfx, id, t.key[:0], func(seq uint64, v []byte) error {
		e, err := windows.DecodeStoredEvent(seq, v)
		if err != nil {
			return err
		}
		events = append(events, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load card state: %w", err)
	}
	if found {
		t.stats.loads++
		if err := c.state.Restore(head, events); err != nil {
			return nil, fmt.Errorf("restore card state from Pebble: %w", err)
		}
	}
	t.cards[id] = c
	return c, nil
}

// appendChangelog produces, for every card changed in this batch, its head
// and its added and pruned events to the changelog partition of this task.
// Keys mirror the Pebble keys without the partition prefix, so a restore
// writes each changelog record straight back.
func (t *partitionTask) appendChangelog() {
	topic := t.env.cfg.Topics.Changelog
	for _, c := range t.dirty {
		added, pruned := c.state.Changes()
		for _, seq := range pruned {
			k := t.copyBytes(eventKey(t.key[:0], nil, c.id, seq))
			t.emit(topic, t.partition, k, nil, time.Time{})
		}
		for i := range added {
			k := t.copyBytes(eventKey(t.key[:0], nil, c.id, added[i].Seq))
			start := len(t.arena)
			t.arena = windows.AppendStoredEvent(t.arena, &added[i])
			t.emit(topic, t.partition, k, t.arena[start:len(t.arena):len(t.arena)], time.Time{})
		}
		k := t.copyBytes(headKey(t.key[:0], nil, c.id))
		start := len(t.arena)
		t.arena = c.state.AppendHead(t.arena)
		t.emit(topic, t.partition, k, t.arena[start:len(t.arena):len(t.arena)], time.Time{})
	}
}

// committed writes the batch's changes to Pebble, after its Kafka
// transaction committed, together with the offsets they reflect.
func (t *partitionTask) committed(b *pebble.Batch, changelogNext int64) error {
	for _, c := range t.dirty {
		added, pruned := c.state.Changes()
		for _, seq := range pruned {
			if err := b.Delete(eventKey(t.key[:0], t.pfx, c.id, seq), nil); err != nil {
				return err
			}
		}
		for i := range added {
			t.arena = windows.AppendStoredEvent(t.arena[:0], &added[i])
			if err := b.Set(eventKey(t.key[:0], t.pfx, c.id, added[i].Seq), t.arena, nil); err != nil {
				return err
			}
		}
		t.arena = c.state.AppendHead(t.arena[:0])
		if err := b.Set(headKey(t.key[:0], t.pfx, c.id), t.arena, nil); err != nil {
			return err
		}
		c.state.ResetChanges()
		c.dirty = false
	}
	t.dirty = t.dirty[:0]
	if changelogNext >= 0 {
		t.changelogNext = changelogNext
	}
	if err := t.commitJoin(b); err != nil {
		return err
	}
	t.watermarkCommitted = t.watermark
	return b.Set(metaKey(t.pfx), partitionMeta{InputNext: t.next, ChangelogNext: t.changelogNext, LabelsNext: t.labelsNext}.encode(), nil)
}

// aborted forgets the batch: changed cards are dropped from the cache (Pebble
// holds their committed state) and the offset is unknown until the consumer
// re-fetches from the committed offset.
func (t *partitionTask) aborted() {
	for _, c := range t.dirty {
		delete(t.cards, c.id)
	}
	t.dirty = t.dirty[:0]
	t.next, t.labelsNext = -1, -1
	t.watermark = t.watermarkCommitted
	if t.kv != nil {
		t.kv.reset()
		t.kv.waiting = nil // it saw the aborted batch's changes: reload
	}
}

// evict drops least recently used clean cards until at most limit remain.
func (t *partitionTask) evict(limit int) {
	if len(t.cards) <= limit+limit/8 {
		return
	}
	// Evict cards unused for the most batches: find the cut-off batch
	// number from the distinct last-used batch numbers, oldest first.
	counts := map[uint64]int{}
	for _, c := range t.cards {
		counts[c.lastUsed]++
	}
	used := make([]uint64, 0, len(counts))
	for n := range counts {
		used = append(used, n)
	}
	slices.Sort(used)
	excess := len(t.cards) - limit
	var cut uint64
	for _, n := range used {
		if excess <= 0 {
			break
		}
		excess -= counts[n]
		cut = n
	}
	for id, c := range t.cards {
		if !c.dirty && c.lastUsed <= cut {
			delete(t.cards, id)
		}
	}
}
