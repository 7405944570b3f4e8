package pipeline

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fraudstream/fraudstream/operators/labeljoin"
	"github.com/fraudstream/fraudstream/schemas"
)

// Label-join state keys, under the partition prefix (see Store):
//
//	D/<transaction_id>                      → decision (labeljoin.AppendDecision)
//	E/<event_time:8 BE>/<transaction_id>    → "" (expiry index of decisions)
//	L/<transaction_id>                      → waiting label (labeljoin.AppendLabel)
//	F/<label_time:8 BE>/<transaction_id>    → "" (expiry index of labels)
//	W                                       → the partition's event-time watermark (8 BE)
//
// Like card state, these are written to the changelog in the batch's
// transaction and to Pebble after it commits.

// joinKV is the label join's view of the task's state: Pebble plus the
// batch's uncommitted writes (an overlay; nil value = deleted). It
// implements labeljoin.Store.
type joinKV struct {
	t *partitionTask
	// writes are the batch's writes in first-write order (a key written
	// twice keeps its first place and its last value): the processing order
	// is deterministic, so the changelog order is too, without sorting.
	writes []kvWrite
	index  map[string]int
	key    []byte
	// waiting holds the ids of waiting labels (few: labels rarely come
	// before their decision), so that recording a decision does not cost a
	// Pebble read to learn that no label waits for it. nil = not loaded;
	// loaded from Pebble on first use and dropped when a batch aborts.
	waiting map[string]struct{}
}

func (kv *joinKV) loadWaiting() error {
	if kv.waiting != nil {
		return nil
	}
	kv.waiting = map[string]struct{}{}
	lo := append(bytes.Clone(kv.t.pfx), "L/"...)
	it, err := kv.t.env.store.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: prefixEnd(lo)})
	if err != nil {
		return err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		kv.waiting[string(it.Key()[len(lo):])] = struct{}{}
	}
	return it.Error()
}

var errStop = errors.New("stop")

type kvWrite struct {
	k string
	v []byte // nil = delete
}

func (kv *joinKV) reset() {
	clear(kv.writes)
	kv.writes = kv.writes[:0]
	clear(kv.index)
}

// overlay returns the batch's write of k, if any.
func (kv *joinKV) overlay(k string) ([]byte, bool) {
	if i, ok := kv.index[k]; ok {
		return kv.writes[i].v, true
	}
	return nil, false
}

func (kv *joinKV) get(k string) ([]byte, bool, error) {
	if v, ok := kv.overlay(k); ok {
		return v, v != nil, nil
	}
	kv.key = append(append(kv.key[:0], kv.t.pfx...), k...)
	v, closer, err := kv.t.env.store.db.Get(kv.key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read label-join state: %w", err)
	}
	defer closer.Close()
	return bytes.Clone(v), true, nil
}

// indexValue is the value of expiry-index keys: not empty, so that it can
// never be mistaken for a changelog tombstone.
var indexValue = []byte{1}

func (kv *joinKV) set(k string, v []byte) {
	if i, ok := kv.index[k]; ok {
		kv.writes[i].v = v
		return
	}
	kv.index[k] = len(kv.writes)
	kv.writes = append(kv.writes, kvWrite{k, v})
}

func (kv *joinKV) del(k string) { kv.set(k, nil) }

func timeKey(prefix string, ms int64, id string) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(ms))
	return prefix + string(b[:]) + id
}

func (kv *joinKV) GetDecision(id string) (labeljoin.Decision, bool, error) {
	v, ok, err := kv.get("D/" + id)
	if !ok || err != nil {
		return labeljoin.Decision{}, false, err
	}
	d, err := labeljoin.DecodeDecision(v)
	return d, err == nil, err
}

func (kv *joinKV) PutDecision(d *labeljoin.Decision) error {
	kv.set("D/"+d.TransactionID, labeljoin.AppendDecision(nil, d))
	kv.set(timeKey("E/", d.EventTime, d.TransactionID), indexValue)
	return nil
}

func (kv *joinKV) DeleteDecision(d *labeljoin.Decision) error {
	kv.del("D/" + d.TransactionID)
	kv.del(timeKey("E/", d.EventTime, d.TransactionID))
	return nil
}

func (kv *joinKV) GetLabel(id string) (labeljoin.Label, bool, error) {
	if err := kv.loadWaiting(); err != nil {
		return labeljoin.Label{}, false, err
	}
	if _, ok := kv.waiting[id]; !ok {
		return labeljoin.Label{}, false, nil
	}
	v, ok, err := kv.get("L/" + id)
	if !ok || err != nil {
		return labeljoin.Label{}, false, err
	}
	l, err := labeljoin.DecodeLabel(v)
	return l, err == nil, err
}

func (kv *joinKV) PutLabel(l *labeljoin.Label) error {
	if err := kv.loadWaiting(); err != nil {
		return err
	}
	kv.waiting[l.TransactionID] = struct{}{}
	kv.set("L/"+l.TransactionID, labeljoin.AppendLabel(nil, l))
	kv.set(timeKey("F/", l.LabelTime, l.TransactionID), indexValue)
	return nil
}

func (kv *joinKV) DeleteLabel(l *labeljoin.Label) error {
	if kv.waiting != nil {
		delete(kv.waiting, l.TransactionID)
	}
	kv.del("L/" + l.TransactionID)
	kv.del(timeKey("F/", l.LabelTime, l.TransactionID))
	return nil
}

// scanIndex visits committed index entries (prefix E/ or F/) with time <
// before, oldest first, skipping entries the batch already deleted.
func (kv *joinKV) scanIndex(prefix string, before int64, max int, fn func(id string) error) error {
	lo := append(bytes.Clone(kv.t.pfx), prefix...)
	var hb [8]byte
	binary.BigEndian.PutUint64(hb[:], uint64(max64(before, 0)))
	hi := append(bytes.Clone(lo), hb[:]...)
	it, err := kv.t.env.store.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return err
	}
	defer it.Close()
	n := 0
	for it.First(); it.Valid() && n < max; it.Next() {
		k := string(it.Key()[len(kv.t.pfx):])
		if v, ok := kv.overlay(k); ok && v == nil {
			continue
		}
		n++
		if err := fn(k[len(prefix)+8:]); err != nil {
			return err
		}
	}
	return it.Error()
}

func max64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

func (kv *joinKV) ExpiredDecisions(before int64, max int, fn func(*labeljoin.Decision) error) error {
	return kv.scanIndex("E/", before, max, func(id string) error {
		d, ok, err := kv.GetDecision(id)
		if err != nil || !ok {
			return err
		}
		return fn(&d)
	})
}

func (kv *joinKV) ExpiredLabels(before int64, max int, fn func(*labeljoin.Label) error) error {
	return kv.scanIndex("F/", before, max, func(id string) error {
		l, ok, err := kv.GetLabel(id)
		if err != nil || !ok {
			return err
		}
		return fn(&l)
	})
}

// processLabel joins one label record.
func (t *partitionTask) processLabel(ctx context.Context, r *kgo.Record) error {
	t.labelsNext = r.Offset + 1
	var l schemas.Label
	if err := t.env.labels.Decode(ctx, r.Value, &l); err != nil {
		if errors.Is(err, schemas.ErrMalformed) || errors.Is(err, schemas.ErrUnknownSchema) {
			t.stats.badLabels++
			return nil
		}
		return fmt.Errorf("decode label %s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err)
	}
	return t.join.Labelled(labeljoin.Label{TransactionID: l.TransactionID, CardID: l.CardID, IsFraud: l.IsFraud,
		LabelTime: l.LabelTime, Source: l.Source}, t.emitOutcome)
}

// recordDecision keeps a decision for the label join.
func (t *partitionTask) recordDecision(d *schemas.Decision) error {
	if t.join == nil {
		return nil
	}
	if d.EventTime > t.watermark {
		t.watermark = d.EventTime
	}
	return t.join.Decided(labeljoin.Decision{TransactionID: d.TransactionID, CardID: d.CardID, EventTime: d.EventTime,
		ModelVersion: d.ModelVersion, Action: d.Action, Score: d.Score, Threshold: d.Threshold, Propensity: d.Propensity,
		Flagged: d.Flagged, Explored: d.Explored}, t.emitOutcome)
}

func (t *partitionTask) emitOutcome(o labeljoin.Outcome) error {
	out := schemas.Outcome{TransactionID: o.TransactionID, CardID: o.CardID, EventTime: o.EventTime,
		ModelVersion: o.ModelVersion, Action: o.Action, Score: o.Score, Threshold: o.Threshold, Flagged: o.Flagged,
		Explored: o.Explored, Propensity: o.Propensity, IsFraud: o.IsFraud, LabelTime: o.LabelTime,
		LabelDelayMs: o.DelayMillis, LabelSource: o.LabelSource, Weight: o.Weight, Kind: o.Kind}
	start := len(t.arena)
	var err error
	if t.arena, err = t.outEnc.Append(t.arena, &out); err != nil {
		return err
	}
	t.emit(t.env.cfg.Topics.Outcomes, 0, t.copyBytes([]byte(o.CardID)), t.arena[start:len(t.arena):len(t.arena)], time.Time{})
	t.stats.outcomes = append(t.stats.outcomes, o)
	return nil
}

// appendJoinChangelog expires old entries, then writes the batch's label-join
// changes to the changelog.
func (t *partitionTask) appendJoinChangelog() error {
	if t.join == nil {
		return nil
	}
	if t.watermark > 0 {
		if err := t.join.Expire(t.watermark, t.emitOutcome); err != nil {
			return err
		}
	}
	// The watermark drives expiry: it is state, and moves with the
	// partition like the rest.
	if t.watermark != t.watermarkCommitted {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(t.watermark))
		t.kv.set(watermarkKey, b[:])
	}
	topic := t.env.cfg.Topics.Changelog
	for _, w := range t.kv.writes {
		t.emit(topic, t.partition, t.copyBytes([]byte(w.k)), t.copyBytesNil(w.v), time.Time{})
	}
	return nil
}

const watermarkKey = "W"

func (t *partitionTask) copyBytesNil(b []byte) []byte {
	if b == nil {
		return nil
	}
	return t.copyBytes(b)
}

// commitJoin stages the batch's label-join writes into the Pebble batch.
func (t *partitionTask) commitJoin(b *pebble.Batch) error {
	if t.join == nil {
		return nil
	}
	for _, w := range t.kv.writes {
		key := append(append(t.key[:0], t.pfx...), w.k...)
		var err error
		if w.v == nil {
			err = b.Delete(key, nil)
		} else {
			err = b.Set(key, w.v, nil)
		}
		if err != nil {
			return err
		}
	}
	t.kv.reset()
	return nil
}
