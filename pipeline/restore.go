package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// restore makes the task's Pebble state consistent with the group's
// committed input offset before the task processes anything.
//
// Pebble's partition meta says which input offset its state reflects. If it
// equals the committed offset, the local state is current. Otherwise (a
// crash between the Kafka commit and the Pebble write, a lost disk, a
// partition that moved here from another instance) the missing changes are
// read from the changelog partition, which holds, as part of every committed
// transaction, each state key the transaction changed: from the changelog
// offset the local state already includes (or from the start when there is
// no usable local state) to the changelog's end.
func (r *Runner) restore(ctx context.Context, t *partitionTask) error {
	committedOf := func(topic string) int64 {
		if offs, ok := r.sess.Client().CommittedOffsets()[topic]; ok {
			if eo, ok := offs[t.partition]; ok {
				return eo.Offset
			}
		}
		return -1
	}
	committed := committedOf(t.topic)
	committedLabels := int64(-1)
	if r.cfg.Topics.Labels != "" {
		committedLabels = committedOf(r.cfg.Topics.Labels)
	}
	meta, have, err := r.env.store.loadMeta(t.pfx)
	if err != nil {
		return err
	}
	if have && meta.InputNext == committed && meta.LabelsNext == committedLabels {
		t.next, t.changelogNext, t.labelsNext, t.restored = committed, meta.ChangelogNext, committedLabels, true
		return nil
	}
	from := int64(0)
	if have && meta.ChangelogNext >= 0 && meta.InputNext <= committed && meta.LabelsNext <= committedLabels {
		from = meta.ChangelogNext // local state is a prefix: catch up
	} else if err := r.env.store.dropPartition(t.pfx); err != nil {
		return err
	}
	start := time.Now()
	m := r.env.metrics
	m.Restoring.Inc()
	n, end, err := r.replayChangelog(ctx, t, from)
	m.Restoring.Dec()
	if err != nil {
		return err
	}
	m.Restores.Inc()
	m.RestoreSeconds.Observe(time.Since(start).Seconds())
	b := r.env.store.newBatch()
	if err := b.Set(metaKey(t.pfx), partitionMeta{InputNext: max(committed, 0), ChangelogNext: end, LabelsNext: committedLabels}.encode(), nil); err != nil {
		b.Close()
		return err
	}
	if err := r.env.store.commitBatch(b); err != nil {
		return err
	}
	clear(t.cards)
	if t.kv != nil {
		t.kv.waiting = nil
	}
	t.next, t.changelogNext, t.labelsNext, t.restored = max(committed, 0), end, committedLabels, true
	el := time.Since(start)
	r.log.Info("restored partition state from changelog", "partition", t.partition, "from_offset", from,
		"to_offset", end, "records", n, "seconds", el.Seconds(), "records_per_second", float64(n)/max(el.Seconds(), 1e-9),
		"local_meta", have, "local_input_offset", meta.InputNext, "committed_offset", committed)
	return nil
}

// replayChangelog copies changelog records of the task's partition, from
// offset from to the end, into Pebble under the task's prefix. It returns the
// number of records and the offset after the last one.
func (r *Runner) replayChangelog(ctx context.Context, t *partitionTask, from int64) (int, int64, error) {
	topic := r.cfg.Topics.Changelog
	// A topic created moments ago may not be in the broker's metadata yet:
	// ask a few times before giving up.
	var lo kadm.ListedOffset
	for attempt := 0; ; attempt++ {
		ends, err := r.admin.ListEndOffsets(ctx, topic)
		var ok bool
		if err == nil {
			lo, ok = ends.Lookup(topic, t.partition)
		}
		if err == nil && ok && lo.Err == nil {
			break
		}
		if attempt == 20 {
			return 0, 0, fmt.Errorf("changelog %s partition %d: end offset unknown (%v, %v)", topic, t.partition, err, lo.Err)
		}
		select {
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	end := lo.Offset
	if from >= end {
		return 0, end, nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(r.cfg.Brokers...), kgo.WithLogger(kgoLogger{r.log}),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {t.partition: kgo.NewOffset().At(from)}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords(),
		kgo.FetchMaxPartitionBytes(32<<20))
	if err != nil {
		return 0, 0, err
	}
	defer cl.Close()
	n := 0
	b := r.env.store.newBatch()
	var key []byte
	pos := from
	for pos < end {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			b.Close()
			return n, pos, err
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil {
			b.Close()
			return n, pos, fmt.Errorf("read changelog: %w", ferr)
		}
		// Progress for /healthz and the restore metrics, per fetch (a
		// restore can take minutes).
		r.lastRun.Store(time.Now().UnixMilli())
		before := n
		fs.EachRecord(func(rec *kgo.Record) {
			pos = rec.Offset + 1
			if rec.Attrs.IsControl() {
				return
			}
			key = append(append(key[:0], t.pfx...), rec.Key...)
			if rec.Value == nil {
				_ = b.Delete(key, nil)
			} else {
				_ = b.Set(key, rec.Value, nil)
			}
			n++
		})
		r.env.metrics.RestoreRecords.Add(float64(n - before))
		if b.Len() > 16<<20 {
			if err := r.env.store.commitBatch(b); err != nil {
				return n, pos, err
			}
			b = r.env.store.newBatch()
		}
	}
	return n, end, r.env.store.commitBatch(b)
}
