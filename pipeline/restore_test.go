package pipeline

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fraudstream/fraudstream/schemas"
)

// TestRestoreInBackground: a partition restoring from the changelog is
// paused while the other partitions are processed; the instance is not
// ready until the restore ends; then the partition resumes from exactly
// the committed offset (no decision lost or doubled).
func TestRestoreInBackground(t *testing.T) {
	w := newTestWorld(t, 4, 150, 40)
	cfg := w.config("bg")
	cfg.Batch.MaxRecords = 200

	// Run 1 commits about half the input, then stops.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r1, err := NewRunner(ctx, cfg, WithLogger(testLogger(t)), func(o *runnerOpts) { o.stepDelay = 5 * time.Millisecond })
	if err != nil {
		t.Fatal(err)
	}
	ctx1, stop1 := context.WithCancel(ctx)
	done1 := make(chan error, 1)
	go func() { done1 <- r1.Run(ctx1) }()
	waitFor(t, 60*time.Second, "run 1 to commit half the input", func() bool { return r1.Progress.EventsIn.Load() >= w.produced/2 })
	stop1()
	if err := <-done1; err != nil {
		t.Fatal(err)
	}
	first := r1.Progress.EventsIn.Load()
	if first >= w.produced {
		t.Fatalf("run 1 committed all %d records; the test needs some left", first)
	}
	perPartition := func() map[int32]int {
		n := map[int32]int{}
		for _, rec := range w.readAll(cfg.Topics.Decisions) {
			n[rec.Partition]++
		}
		return n
	}
	before := perPartition()
	// Hold the restore of a partition that has input left.
	held0 := int32(-1)
	{
		cl, err := kgo.NewClient(kgo.SeedBrokers(w.brokers...))
		if err != nil {
			t.Fatal(err)
		}
		adm := kadm.NewClient(cl)
		ends, err := adm.ListEndOffsets(ctx, "transactions")
		if err != nil {
			t.Fatal(err)
		}
		committed, err := adm.FetchOffsetsForTopics(ctx, cfg.Group, "transactions")
		if err != nil {
			t.Fatal(err)
		}
		most := int64(0)
		for p := int32(0); p < 4; p++ {
			e, _ := ends.Lookup("transactions", p)
			c, _ := committed.Lookup("transactions", p)
			if left := e.Offset - max(c.At, 0); left > most {
				held0, most = p, left
			}
		}
		cl.Close()
		t.Logf("run 1 committed %d of %d records; holding the restore of partition %d (%d records left)", first, w.produced, held0, most)
	}

	// Run 2 on an empty state directory: every partition restores from the
	// changelog; partition held0's restore is held until released.
	cfg.State.Dir = t.TempDir()
	release := make(chan struct{})
	held := make(chan struct{}, 1)
	r2, err := NewRunner(ctx, cfg, WithLogger(testLogger(t)), func(o *runnerOpts) {
		o.restoreHook = func(ctx context.Context, p int32) error {
			if p != held0 {
				return nil
			}
			select {
			case held <- struct{}{}:
			default:
			}
			select {
			case <-release:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	done2 := make(chan error, 1)
	go func() { done2 <- r2.Run(ctx) }()
	<-held
	// The other partitions get through their backlog meanwhile.
	waitFor(t, 60*time.Second, "the other partitions to be restored and processed while one restores", func() bool {
		return r2.Progress.EventsIn.Load() > 0 && r2.restoring.Load() == 1
	})
	if r2.Ready() {
		t.Error("instance ready while a partition is restoring")
	}
	during := perPartition()
	if during[held0] != before[held0] {
		t.Errorf("partition %d produced decisions while restoring: %d before, %d during", held0, before[held0], during[held0])
	}
	grew := false
	for p := int32(0); p < 4; p++ {
		grew = grew || (p != held0 && during[p] > before[p])
	}
	if !grew {
		t.Errorf("no other partition made progress while partition %d restored: %v → %v", held0, before, during)
	}

	close(release)
	waitFor(t, 60*time.Second, "all input committed after the restore", func() bool {
		return first+r2.Progress.EventsIn.Load() >= w.produced
	})
	waitFor(t, 10*time.Second, "readiness after the restore", r2.Ready)
	cancel()
	if err := <-done2; err != nil {
		t.Fatal(err)
	}
	if got := first + r2.Progress.EventsIn.Load(); got != w.produced {
		t.Errorf("committed %d records in the two runs, want %d", got, w.produced)
	}
	families, err := r2.Metrics().Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		switch f.GetName() {
		case "fraudstream_state_restore_remaining_records":
			if len(f.GetMetric()) != 0 {
				t.Errorf("%d restore_remaining_records series left after the restores ended", len(f.GetMetric()))
			}
		case "fraudstream_state_restore_records_total":
			if f.GetMetric()[0].GetCounter().GetValue() == 0 {
				t.Error("restore_records_total is 0 after restores from the changelog")
			}
		}
	}
	after := perPartition()
	if after[held0] <= before[held0] {
		t.Errorf("partition %d made no progress after its restore: %d → %d", held0, before[held0], after[held0])
	}
	dec := w.decisions(cfg.Topics.Decisions) // fails on a duplicate
	dlq := w.readAll(cfg.Topics.DLQ)
	if got := int64(len(dec) + len(dlq)); got != w.produced {
		t.Errorf("%d decisions + %d dead letters != %d produced", len(dec), len(dlq), w.produced)
	}
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timeout after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRestoreCarriesWatermark: the label join's event-time watermark (it
// decides when decisions and labels expire) is state like the rest: an
// instance restoring from the changelog on an empty disk gets the value the
// previous owner committed.
func TestRestoreCarriesWatermark(t *testing.T) {
	w := newTestWorld(t, 2, 80, 20)
	cfg := w.config("wm")
	r1 := w.runUntil(cfg, w.produced)
	want := map[int32]int64{}
	for p, task := range r1.parked { // the stop revoked every partition
		want[p] = task.watermarkCommitted
	}
	if len(want) != 2 || want[0] == 0 || want[1] == 0 {
		t.Fatalf("watermarks after run 1: %v", want)
	}

	cfg.State.Dir = t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r2, err := NewRunner(ctx, cfg, WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r2.Run(ctx) }()
	waitFor(t, 30*time.Second, "run 2 to restore its partitions", func() bool {
		r2.mu.Lock()
		defer r2.mu.Unlock()
		return r2.Ready() && len(r2.tasks) == 2
	})
	r2.mu.Lock()
	for p, task := range r2.tasks {
		if task.watermark != want[p] || task.watermarkCommitted != want[p] {
			t.Errorf("partition %d: watermark %d/%d after the restore, want %d", p, task.watermark, task.watermarkCommitted, want[p])
		}
	}
	r2.mu.Unlock()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestLabelsJoinAcrossInstances: three instances share the group; every
// label of a decided transaction must still join its decision into exactly
// one outcome, which needs partition p of transactions and of labels on the
// same instance (the group's balancer; franz-go's default cooperative-sticky
// balancer splits them).
func TestLabelsJoinAcrossInstances(t *testing.T) {
	w := newTestWorld(t, 6, 150, 40)
	base := w.config("multi")
	// Small, slowed batches: the three members are in the group long before
	// the input is processed.
	base.Batch.MaxRecords = 50
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var runners []*Runner
	done := make(chan error, 3)
	for _, name := range []string{"a", "b", "c"} {
		cfg := base
		cfg.InstanceID = name
		cfg.State.Dir = t.TempDir()
		r, err := NewRunner(ctx, cfg, WithLogger(testLogger(t)), func(o *runnerOpts) { o.stepDelay = 10 * time.Millisecond })
		if err != nil {
			t.Fatal(err)
		}
		runners = append(runners, r)
		go func() { done <- r.Run(ctx) }()
	}
	sum := func(f func(*Runner) int64) int64 {
		n := int64(0)
		for _, r := range runners {
			n += f(r)
		}
		return n
	}
	waitFor(t, 90*time.Second, "all input committed", func() bool {
		return sum(func(r *Runner) int64 { return r.Progress.EventsIn.Load() }) >= w.produced
	})
	dec := w.decisions(base.Topics.Decisions)
	want := 0
	for id := range w.labels {
		if _, ok := dec[id]; ok {
			want++
		}
	}
	waitFor(t, 60*time.Second, "every label joined", func() bool {
		return sum(func(r *Runner) int64 { return r.Progress.Outcomes.Load() }) >= int64(want)
	})
	owners := 0
	for _, r := range runners {
		r.mu.Lock()
		if len(r.tasks) > 0 {
			owners++
		}
		r.mu.Unlock()
	}
	cancel()
	for range runners {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if owners != 3 {
		t.Errorf("%d of 3 instances owned partitions at the end", owners)
	}
	ocodec, err := schemas.NewCodec[schemas.Outcome](schemas.OutcomeFile, schemas.FormatConfluent, "", registryLookup(w.registry))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, rec := range w.readAll(base.Topics.Outcomes) {
		var o schemas.Outcome
		if err := ocodec.Decode(context.Background(), rec.Value, &o); err != nil {
			t.Fatal(err)
		}
		if got[o.TransactionID] {
			t.Fatalf("two outcomes for %s", o.TransactionID)
		}
		got[o.TransactionID] = true
		if _, ok := dec[o.TransactionID]; !ok || o.Kind != "label" {
			t.Errorf("outcome %+v without a decision", o)
		}
	}
	if want == 0 || len(got) != want {
		t.Fatalf("%d outcomes, want %d (one per label of a decided transaction)", len(got), want)
	}
	t.Logf("3 instances: %d decisions, %d labels joined", len(dec), len(got))
}

// TestRestoreRetryWhileIdle: a failed restore is retried even when no
// record arrives to wake the loop, and an idle loop keeps turning (the
// liveness probe watches it).
func TestRestoreRetryWhileIdle(t *testing.T) {
	w := newTestWorld(t, 2, 80, 20)
	cfg := w.config("retry")
	w.runUntil(cfg, w.produced) // all input committed: run 2 stays idle

	cfg.State.Dir = t.TempDir()
	var failed sync.Map
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, err := NewRunner(ctx, cfg, WithLogger(testLogger(t)), func(o *runnerOpts) {
		o.restoreHook = func(_ context.Context, p int32) error {
			if _, again := failed.LoadOrStore(p, true); !again {
				return fmt.Errorf("injected failure of partition %d's first restore", p)
			}
			return nil
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	waitFor(t, 20*time.Second, "both partitions restored after a failed first attempt", r.Ready)
	if got := metricValue(r.Metrics().RestoreFailures); got != 2 {
		t.Errorf("restore failures = %v, want 2", got)
	}
	turned := r.lastRun.Load()
	waitFor(t, 3*idlePoll, "the idle loop to turn", func() bool { return r.lastRun.Load() > turned })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
