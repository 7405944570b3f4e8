package pipeline

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// restoreResult is what a finished restore tells the loop: the offsets the
// partition's Pebble state reflects.
type restoreResult struct {
	next, changelogNext, labelsNext int64
	watermark                       int64 // label-join event-time watermark
	// replayed is set when changelog records were copied into Pebble: the
	// task's card cache (if any) is then stale.
	replayed bool
}

// restoreJob is one restore of one partition, run in its own goroutine while
// the partition is paused and the loop goes on with the other partitions.
type restoreJob struct {
	cancel context.CancelFunc
	done   chan struct{} // closed when res/err are set
	res    restoreResult
	err    error
}

// startRestore starts restoring t in the background. The caller holds r.mu
// and has paused the partition's fetches (onAssigned does).
func (r *Runner) startRestore(ctx context.Context, t *partitionTask) {
	ctx, cancel := context.WithCancel(ctx)
	job := &restoreJob{cancel: cancel, done: make(chan struct{})}
	t.job = job
	r.restoreWG.Add(1)
	go func() {
		defer r.restoreWG.Done()
		defer cancel()
		// At most restoreConcurrency partitions replay at once: each
		// replay has its own fetch session and Pebble batches.
		select {
		case r.restoreSem <- struct{}{}:
			job.res, job.err = r.restore(ctx, t)
			<-r.restoreSem
		case <-ctx.Done():
			job.err = ctx.Err()
		}
		close(job.done)
		r.wake()
	}()
}

// restoreConcurrency bounds the partitions restoring at once.
const restoreConcurrency = 4

// restore makes the partition's Pebble state consistent with the group's
// committed offsets before the task processes anything. It runs outside the
// rebalance callbacks and the loop, with the partition paused; it writes
// only the partition's own keys and never touches the task's in-memory
// state (the loop applies the result).
//
// Pebble's partition meta says which input (and labels) offsets its state
// reflects. If they equal the committed offsets, the local state is current.
// Otherwise (a crash between the Kafka commit and the Pebble write, a lost
// disk, a partition that moved here from another instance) the missing
// changes are read from the changelog partition, which holds, as part of
// every committed transaction, each state key the transaction changed: from
// the changelog offset the local state already includes (or from the start
// when there is no usable local state) to the changelog's end.
func (r *Runner) restore(ctx context.Context, t *partitionTask) (restoreResult, error) {
	if r.restoreHook != nil {
		if err := r.restoreHook(ctx, t.partition); err != nil {
			return restoreResult{}, err
		}
	}
	committed, committedLabels, err := r.committedOffsets(ctx, t.partition)
	if err != nil {
		return restoreResult{}, err
	}
	meta, have, err := r.env.store.loadMeta(t.pfx)
	if err != nil {
		return restoreResult{}, err
	}
	if have && meta.InputNext == max(committed, 0) && meta.LabelsNext == committedLabels {
		wm, err := r.env.store.loadWatermark(t.pfx)
		return restoreResult{next: meta.InputNext, changelogNext: meta.ChangelogNext, labelsNext: committedLabels, watermark: wm}, err
	}
	from := int64(0)
	if have && meta.ChangelogNext >= 0 && meta.InputNext <= committed && meta.LabelsNext <= committedLabels {
		from = meta.ChangelogNext // local state is a prefix: catch up
	} else if err := r.env.store.dropPartition(t.pfx); err != nil {
		return restoreResult{}, err
	}
	start := time.Now()
	m := r.env.metrics
	m.Restoring.Inc()
	r.log.Info("restoring partition state from changelog", "partition", t.partition, "from_offset", from,
		"local_meta", have, "local_input_offset", meta.InputNext, "committed_offset", committed)
	n, end, err := r.replayChangelog(ctx, t, from)
	m.Restoring.Dec()
	if err != nil {
		return restoreResult{}, err
	}
	m.Restores.Inc()
	m.RestoreSeconds.Observe(time.Since(start).Seconds())
	res := restoreResult{next: max(committed, 0), changelogNext: end, labelsNext: committedLabels, replayed: true}
	if res.watermark, err = r.env.store.loadWatermark(t.pfx); err != nil {
		return restoreResult{}, err
	}
	b := r.env.store.newBatch()
	if err := b.Set(metaKey(t.pfx), partitionMeta{InputNext: res.next, ChangelogNext: end, LabelsNext: committedLabels}.encode(), nil); err != nil {
		b.Close()
		return restoreResult{}, err
	}
	if err := r.env.store.commitBatch(b); err != nil {
		return restoreResult{}, err
	}
	el := time.Since(start)
	r.log.Info("restored partition state from changelog", "partition", t.partition, "from_offset", from,
		"to_offset", end, "records", n, "seconds", el.Seconds(), "records_per_second", float64(n)/max(el.Seconds(), 1e-9),
		"local_meta", have, "local_input_offset", meta.InputNext, "committed_offset", committed)
	return res, nil
}

// committedOffsets returns the group's committed offsets of the input (and
// labels) partition, -1 where none. It asks for stable offsets
// (RequireStable): while a previous owner's transaction that commits
// offsets of the partition is still open, the coordinator answers
// UNSTABLE_OFFSET_COMMIT and we ask again, so the offsets we restore to are
// the ones the consumer will start from.
func (r *Runner) committedOffsets(ctx context.Context, p int32) (input, labels int64, err error) {
	topics := []string{r.cfg.Topics.Transactions}
	if r.cfg.Topics.Labels != "" {
		topics = append(topics, r.cfg.Topics.Labels)
	}
	for attempt := 0; ; attempt++ {
		// Only this partition's errors matter: other partitions are
		// unstable whenever their owners have a transaction open.
		resp, err := r.admin.FetchOffsetsForTopics(kadm.RequireStable(ctx), r.cfg.Group, topics...)
		input, labels = -1, -1
		for _, topic := range topics {
			if err != nil {
				break
			}
			o, ok := resp.Lookup(topic, p)
			switch {
			case !ok:
				err = fmt.Errorf("no offset for %s partition %d in the group's offsets", topic, p)
			case o.Err != nil:
				err = fmt.Errorf("%s partition %d: %w", topic, p, o.Err)
			case topic == r.cfg.Topics.Transactions:
				input = o.At
			default:
				labels = o.At
			}
		}
		if err == nil {
			return input, labels, nil
		}
		if ctx.Err() != nil {
			return 0, 0, ctx.Err()
		}
		if attempt%20 == 19 {
			r.log.Warn("committed offsets not available yet; retrying", "partition", p, "err", err)
		}
		select {
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		case <-time.After(min(time.Duration(attempt+1)*50*time.Millisecond, time.Second)):
		}
	}
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
	part := strconv.Itoa(int(t.partition))
	remaining := r.env.metrics.RestoreRemaining.WithLabelValues(part)
	defer r.env.metrics.RestoreRemaining.DeleteLabelValues(part)
	start, lastLog := time.Now(), time.Now()
	for pos < end {
		remaining.Set(float64(end - pos))
		if time.Since(lastLog) >= 5*time.Second {
			lastLog = time.Now()
			el := time.Since(start).Seconds()
			r.log.Info("restoring partition state: progress", "partition", t.partition, "offset", pos, "end_offset", end,
				"records", n, "records_per_second", float64(n)/max(el, 1e-9))
		}
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
