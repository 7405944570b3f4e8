package pipeline

import (
	"io"
	"log/slog"
	"testing"
	"time"
)

// Partition state is found, and dropped, as a unit; a partition owned
// elsewhere for longer than the grace period loses its local state, an owned
// one keeps it.
func TestSweepUnownedDropsAfterGrace(t *testing.T) {
	st, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cfg := DefaultConfig()
	cfg.State.DropUnownedAfter = Duration(time.Hour)
	r := &Runner{cfg: cfg, env: &Env{store: st, metrics: NewMetrics()}, tasks: map[int32]*partitionTask{},
		unowned: map[int32]time.Time{}, partitions: 3, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for p := int32(0); p < 3; p++ {
		pfx := partitionPrefix(cfg.Topics.Transactions, p)
		b := st.newBatch()
		_ = b.Set(metaKey(pfx), partitionMeta{InputNext: 10, ChangelogNext: 5}.encode(), nil)
		_ = b.Set(headKey(nil, pfx, "card-1"), []byte("head"), nil)
		if err := st.commitBatch(b); err != nil {
			t.Fatal(err)
		}
	}
	r.tasks[1] = &partitionTask{partition: 1}
	r.sweepUnowned() // first sweep: finds partitions 0 and 2 unowned
	if len(r.unowned) != 2 {
		t.Fatalf("unowned after first sweep: %v", r.unowned)
	}
	for p := range r.unowned {
		r.unowned[p] = time.Now().Add(-2 * time.Hour)
	}
	r.lastSweep = time.Now().Add(-2 * time.Minute)
	r.sweepUnowned()
	for p, want := range map[int32]bool{0: false, 1: true, 2: false} {
		pfx := partitionPrefix(cfg.Topics.Transactions, p)
		_, have, err := st.loadMeta(pfx)
		if err != nil {
			t.Fatal(err)
		}
		_, card, _ := st.loadCard(pfx, "card-1", nil, func(uint64, []byte) error { return nil })
		if have != want || card != want {
			t.Errorf("partition %d: meta %v card %v, want %v", p, have, card, want)
		}
	}
	if v := metricValue(r.env.metrics.StateDropped); v != 2 {
		t.Fatalf("dropped counter %v", v)
	}
}
