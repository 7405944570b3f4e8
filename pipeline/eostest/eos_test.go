package eostest

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// bin is the fraudstream binary TestMain builds.
var bin string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "eostest-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "fraudstream")
	goCmd := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goCmd); err != nil {
		goCmd = "go"
	}
	build := exec.Command(goCmd, "build", "-o", bin, "./cmd/fraudstream")
	build.Dir = RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "eostest: go build ./cmd/fraudstream: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func realKafka() bool { return os.Getenv("FRAUDSTREAM_REAL_KAFKA") == "1" }

// full says whether to run the full sizes: real Kafka or
// FRAUDSTREAM_EOS_FULL=1, and not -short.
func full() bool {
	return !testing.Short() && (realKafka() || os.Getenv("FRAUDSTREAM_EOS_FULL") == "1")
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// size returns the input size: FRAUDSTREAM_EOS_RECORDS, else big when
// full(), else small.
func size(big, small int) int {
	if full() {
		return envInt("FRAUDSTREAM_EOS_RECORDS", big)
	}
	return envInt("FRAUDSTREAM_EOS_RECORDS", small)
}

func seed() uint64 { return uint64(envInt("FRAUDSTREAM_EOS_SEED", 20260101)) }

// testContext ends 2 minutes before the test binary's -timeout, so that
// cleanups (killing instances, stopping Kafka) always run.
func testContext(t *testing.T) context.Context {
	d := 30 * time.Minute
	if dl, ok := t.Deadline(); ok {
		d = time.Until(dl) - 2*time.Minute
	}
	if d < time.Minute {
		t.Fatalf("not enough time left before the -timeout (%v): run with -timeout 40m", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// timing holds the per-backend durations of the scenarios.
type timing struct {
	chaosFeed time.Duration // how long the chaos input is produced for
	feed      time.Duration // how long the other scenarios' input is produced for
	stall     time.Duration // no progress for this long fails the test
	stop      time.Duration // bound on a graceful stop (SIGTERM → exit)
}

func timings() timing {
	if realKafka() {
		// A SIGKILLed member holds its partitions for the session timeout
		// (kafka.session_timeout, 10 s in these tests) before the group
		// moves on; each kill waits for the group to recover from the
		// previous one, so the input keeps arriving for longer than the
		// ten kills take.
		return timing{chaosFeed: 240 * time.Second, feed: 60 * time.Second, stall: 4 * time.Minute, stop: 30 * time.Second}
	}
	if full() {
		return timing{chaosFeed: 40 * time.Second, feed: 20 * time.Second, stall: time.Minute, stop: 30 * time.Second}
	}
	return timing{chaosFeed: 25 * time.Second, feed: 10 * time.Second, stall: time.Minute, stop: 30 * time.Second}
}

// newWorld starts the test's cluster (kfake, or real Kafka with
// FRAUDSTREAM_REAL_KAFKA=1) and registry and creates the input topic. kfake
// gets its group session and transaction timeouts capped (see ClusterOpts).
func newWorld(ctx context.Context, t *testing.T, brokers int, partitions int32, rf int16) *World {
	t.Helper()
	return newWorldOpts(ctx, t, WorldOpts{
		Cluster:    ClusterOpts{Brokers: brokers, Real: realKafka(), SessionTimeout: 10 * time.Second, TxnTimeout: 15 * time.Second},
		Partitions: partitions, RF: rf,
	})
}

func newWorldOpts(ctx context.Context, t *testing.T, o WorldOpts) *World {
	t.Helper()
	start := time.Now()
	w := NewWorld(ctx, t, bin, o)
	partitions := o.Partitions
	t.Logf("world ready in %.1fs: brokers %v, registry %s, input %q with %d partitions, work dir %s",
		time.Since(start).Seconds(), w.Cluster.Brokers, w.Registry, w.InputTopic, partitions, w.Dir)
	return w
}

// scenarioInput generates the input of the multi-instance scenarios: n
// transactions from the simulator, every 997th record a bad one.
func scenarioInput(w *World, n int, synthSeed int64) []*Record {
	recs := w.Generate(InputSpec{Records: n, Seed: synthSeed, Cards: max(n/100, 500), BadEvery: 997})
	w.T.Logf("generated %d input records (seed %d)", len(recs), synthSeed)
	return recs
}

// baseline runs one uninterrupted instance with its own group and topics
// over the whole input (which must be complete), checks it, and returns
// what it committed.
func baseline(w *World, tm timing) *Outcome {
	w.T.Helper()
	p := w.NewPipeline("baseline")
	p.Instance("solo").Start()
	took := w.WaitDone(p, nil, tm.stall)
	p.StopAll(tm.stop)
	out := w.Collect(p)
	w.T.Logf("baseline: %d records in %.1fs (%.0f records/s including start-up)", w.Input.Total(), took.Seconds(), float64(w.Input.Total())/took.Seconds())
	if !CheckExactlyOnce(w.T, w.Input, out) {
		w.T.Fatal("the baseline itself is not exactly-once")
	}
	return out
}

// finish stops the pipeline, collects its outputs and checks them against
// the input and the baseline.
func finish(w *World, p *Pipeline, tm timing) {
	w.T.Helper()
	w.WaitGroupStable(p, tm.stall)
	p.StopAll(tm.stop)
	out := w.Collect(p)
	base := baseline(w, tm)
	once := CheckExactlyOnce(w.T, w.Input, out)
	same := CompareDecisions(w.T, base, out)
	var restores []Restore
	for _, in := range p.Instances() {
		restores = append(restores, Restores(in.Name, in.Logs()...)...)
	}
	var recs int64
	for _, r := range restores {
		recs += r.Records
	}
	w.T.Logf("%s: %d partition restores from the changelog (%d changelog records replayed); exactly once: %v, equal to baseline: %v",
		p.Name, len(restores), recs, once, same)
}

// TestChaosKill9: three instances consume the stream while a driver
// SIGKILLs a random instance at random moments (seeded) and restarts it on
// the same state directory. The committed decisions and dead letters must be
// exactly one per input record and equal to an uninterrupted run's.
func TestChaosKill9(t *testing.T) {
	ctx := testContext(t)
	tm := timings()
	w := newWorld(ctx, t, 1, 24, -1)
	n := size(200_000, 20_000)
	recs := scenarioInput(w, n, 11)
	kills := envInt("FRAUDSTREAM_EOS_KILLS", 10)
	rng := rand.New(rand.NewPCG(seed(), 1))

	p := w.NewPipeline("chaos")
	insts := []*Instance{p.Instance("a"), p.Instance("b"), p.Instance("c")}
	for _, in := range insts {
		in.Start()
	}
	start := time.Now()
	feed := w.StartFeed(recs, tm.chaosFeed)
	// Kill i is due when the group has committed about i/(kills+1) of
	// the input (±40% of the spacing) and at least a step more than when
	// the previous victim was restarted (so that the group has recovered
	// and is processing again), then after a random delay: every kill
	// lands mid-stream, while the group is working, however long the
	// previous kill stalled it.
	step := float64(n) / float64(8*(kills+1))
	var atRestart int64
	for i := 1; i <= kills; i++ {
		frac := (float64(i) + (rng.Float64()-0.5)*0.8) / float64(kills+1)
		frac = max(frac, (float64(atRestart)+step)/float64(n))
		note := ""
		if frac < 1 {
			w.WaitProgress(p, n, frac, tm.stall)
		} else {
			note = " (all input committed already)"
		}
		w.Sleep(p, time.Duration(rng.Float64()*float64(500*time.Millisecond)))
		victim := insts[rng.IntN(len(insts))]
		pr, _ := w.progress(p)
		owned := Owned(victim.LastLog())
		victim.Kill()
		t.Logf("kill %d/%d at %.1fs: %s (owned %d partitions %v), %d of %d records committed, feed at %d%s",
			i, kills, time.Since(start).Seconds(), victim.Name, len(owned), owned, pr.sum, n, feed.Sent.Load(), note)
		w.Sleep(p, 200*time.Millisecond+time.Duration(rng.Float64()*float64(1500*time.Millisecond)))
		victim.Start()
		pr, _ = w.progress(p)
		atRestart = pr.sum
	}
	took := w.WaitDone(p, feed, tm.stall)
	t.Logf("chaos: %d kills, all input committed %.1fs after the start (%.1fs after the last restart)",
		kills, time.Since(start).Seconds(), took.Seconds())
	finish(w, p, tm)
}

// TestElasticScaleOutIn: one instance, two more join mid-stream, then one is
// stopped gracefully (SIGTERM) and must exit within the bound. Same
// exactly-once and equality properties.
func TestElasticScaleOutIn(t *testing.T) {
	ctx := testContext(t)
	tm := timings()
	w := newWorld(ctx, t, 1, 24, -1)
	n := size(200_000, 20_000)
	recs := scenarioInput(w, n, 12)

	p := w.NewPipeline("elastic")
	a, b, c := p.Instance("a"), p.Instance("b"), p.Instance("c")
	a.Start()
	start := time.Now()
	feed := w.StartFeed(recs, tm.feed)
	w.WaitProgress(p, n, 0.2, tm.stall)
	b.Start()
	w.WaitProgress(p, n, 0.4, tm.stall)
	c.Start()
	w.WaitProgress(p, n, 0.65, tm.stall)
	owned := Owned(a.LastLog())
	took, err := a.Stop(tm.stop)
	if err != nil {
		t.Errorf("graceful stop of a: %v", err)
	}
	t.Logf("a (owning %d partitions %v) stopped with SIGTERM in %.2fs (bound %v)", len(owned), owned, took.Seconds(), tm.stop)
	w.WaitDone(p, feed, tm.stall)
	t.Logf("elastic: all input committed %.1fs after the start", time.Since(start).Seconds())
	finish(w, p, tm)
}

// TestLostDisk: an instance is SIGKILLed, its state directory deleted while
// it is down, and it is restarted: the state of the partitions it owned is
// rebuilt from the changelog (by whichever instance gets them), and the
// decisions go on identically.
func TestLostDisk(t *testing.T) {
	ctx := testContext(t)
	tm := timings()
	w := newWorld(ctx, t, 1, 24, -1)
	n := size(200_000, 20_000)
	recs := scenarioInput(w, n, 13)

	p := w.NewPipeline("lostdisk")
	a, b := p.Instance("a"), p.Instance("b")
	a.Start()
	b.Start()
	feed := w.StartFeed(recs, tm.feed)
	w.WaitProgress(p, n, 0.4, tm.stall)
	owned := Owned(a.LastLog())
	a.Kill()
	killedAt := time.Now()
	if err := a.WipeState(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(a.StateDir); !os.IsNotExist(err) {
		t.Fatalf("state dir still there: %v", err)
	}
	t.Logf("a killed and its state dir deleted; it owned %d partitions %v", len(owned), owned)
	if fc := w.Cluster.Fake(); fc != nil {
		// Restore from a compacted changelog, as it would be after a
		// while on a real cluster (kfake compacts on request, ignoring
		// min.compaction.lag.ms; Kafka's cleaner would not have run yet).
		fc.Compact()
		t.Logf("kfake: changelog %s compacted", p.Changelog)
	}
	w.Sleep(p, time.Second)
	a.Start()
	w.WaitDone(p, feed, tm.stall)

	// Every partition a owned was restored from the changelog after the
	// kill; a itself restored only from scratch (no local meta).
	restoredAfter := map[int32][]Restore{}
	for _, in := range p.Instances() {
		for _, r := range Restores(in.Name, in.Logs()...) {
			if r.Time.After(killedAt) {
				restoredAfter[r.Partition] = append(restoredAfter[r.Partition], r)
			}
		}
	}
	for _, r := range Restores(a.Name, a.LastLog()) {
		if r.LocalMeta || r.FromOffset != 0 {
			t.Errorf("a restored partition %d with local state (local_meta=%v, from_offset=%d) although its disk was wiped", r.Partition, r.LocalMeta, r.FromOffset)
		}
	}
	for _, part := range owned {
		rs := restoredAfter[part]
		if len(rs) == 0 {
			t.Errorf("partition %d (owned by a at the kill) was not restored from the changelog afterwards", part)
			continue
		}
		for _, r := range rs {
			t.Logf("  partition %2d restored by %s: changelog %d→%d, %d records in %.3fs (%.0f records/s), local meta %v",
				part, r.Instance, r.FromOffset, r.ToOffset, r.Records, r.Seconds, r.PerSecond, r.LocalMeta)
		}
	}
	finish(w, p, tm)
}

// TestRestoreThroughput measures how fast a partition's state is rebuilt
// from the changelog: one partition holding 100,000 cards (20,000 in the
// small size) is processed, then restored into an empty state directory.
// The decisions made after the restore must equal a baseline's.
func TestRestoreThroughput(t *testing.T) {
	ctx := testContext(t)
	tm := timings()
	w := newWorld(ctx, t, 1, 1, -1)
	cards := 20_000
	if full() {
		cards = 100_000
	}
	cards = envInt("FRAUDSTREAM_EOS_RESTORE_CARDS", cards)
	n1 := cards + cards/2
	recs := w.Generate(InputSpec{Records: n1 + 200, Seed: 14, Cards: 2000, CardSpace: cards})
	feed := w.StartFeed(recs[:n1], 0)
	p := w.NewPipeline("restore")
	a := p.Instance("a")
	a.Start()
	took := w.WaitDone(p, feed, tm.stall)
	t.Logf("processed %d records over %d cards in 1 partition in %.1fs", n1, cards, took.Seconds())
	if _, err := a.Stop(tm.stop); err != nil {
		t.Fatal(err)
	}
	if err := a.WipeState(); err != nil {
		t.Fatal(err)
	}
	// Restoring is lazy (at the first batch of the partition): give it
	// records to process.
	feed = w.StartFeed(recs[n1:], 0)
	restart := time.Now()
	a.Start()
	w.WaitDone(p, feed, tm.stall)
	rs := Restores(a.Name, a.LastLog())
	if len(rs) != 1 {
		t.Fatalf("want 1 restore line in %s, got %d: %+v", a.LastLog(), len(rs), rs)
	}
	r := rs[0]
	if r.LocalMeta || r.FromOffset != 0 || r.Records == 0 {
		t.Errorf("restore did not start from an empty state: %+v", r)
	}
	t.Logf("RESTORE: partition holding %d cards: %d changelog records (changelog %d→%d) in %.3fs = %.0f records/s (%.0f cards/s); restart to all committed %.1fs",
		cards, r.Records, r.FromOffset, r.ToOffset, r.Seconds, r.PerSecond, float64(cards)/r.Seconds, time.Since(restart).Seconds())
	finish(w, p, tm)
}

// TestZombiePause: an instance is frozen (SIGSTOP) while it works through a
// backlog, until the group has dropped it (session timeout), and its
// partitions have moved to the other instance; then it is woken up
// (SIGCONT): a zombie in the middle of a batch, holding an open transaction
// for partitions it no longer owns. Kafka must fence it (group generation in
// TxnOffsetCommit, producer epoch), none of its work may get through, and the
// woken instance must notice, rejoin the group and work again.
func TestZombiePause(t *testing.T) {
	ctx := testContext(t)
	tm := timings()
	w := newWorld(ctx, t, 1, 24, -1)
	// A backlog big enough that the instances are still busy when one is
	// frozen at 10% (kfake processes ~35,000 records/s).
	n := size(200_000, 100_000)
	recs := scenarioInput(w, n, 18)
	p := w.NewPipeline("zombie")
	a, b := p.Instance("a"), p.Instance("b")
	a.Start()
	b.Start()
	w.WaitGroupStable(p, tm.stall)
	// All input at once: both instances work through a backlog in big
	// batches.
	feed := w.StartFeed(recs, 0)
	w.WaitProgress(p, n, 0.1, tm.stall)
	// Freeze it while it is using CPU, i.e. inside a batch (between the
	// poll that returned records and the commit), not in an idle poll.
	if !a.WaitBusy(10 * time.Second) {
		t.Log("a never looked busy; freezing it anyway")
	}
	owned := Owned(a.LastLog())
	logLines := len(ReadLog(a.LastLog()))
	a.Pause()
	frozen := time.Now()
	pr, _ := w.progress(p)
	t.Logf("a frozen (SIGSTOP) owning %v, %d of %d records committed", owned, pr.sum, n)
	// Wake it as soon as the group has dropped it (session timeout: kfake
	// capped at 10 s, Kafka franz-go's 45 s), so that with kfake its open
	// transaction (timeout capped at 15 s) is still alive: the zombie then
	// tries to commit, rather than finding its transaction aborted.
	for {
		dg, err := w.Admin.DescribeGroups(ctx, p.Group)
		if err == nil && dg[p.Group].State == "Stable" && len(dg[p.Group].Members) == 1 {
			break
		}
		if time.Since(frozen) > tm.stall {
			t.Fatalf("the group did not drop the frozen instance in %v", tm.stall)
		}
		w.Sleep(p, 100*time.Millisecond)
	}
	pr2, _ := w.progress(p)
	t.Logf("group dropped a after %.1fs; meanwhile b committed %d records", time.Since(frozen).Seconds(), pr2.sum-pr.sum)
	a.Resume()
	woke := time.Now()
	// The woken instance must notice it lost its partitions, abort, and
	// rejoin; a live process that never comes back is a stuck instance.
	// If it is stuck, dump its goroutines, restart it (as a liveness probe
	// would) and go on: the exactly-once checks still apply.
	if state, members, want := w.GroupStable(p, tm.stall); state != "" {
		st := w.status(p, progress{})
		a.Dump()
		t.Errorf("a is STUCK: %v after waking it has not rejoined the group (state %s, %d members, %d instances running); "+
			"goroutine dump (SIGQUIT) in %s\n%s", tm.stall, state, members, want, a.LastLog(), st)
		a.Start()
	} else {
		t.Logf("a back in a stable group %.1fs after waking", time.Since(woke).Seconds())
	}
	t.Logf("a's log after waking:")
	for _, e := range ReadLog(a.Logs()[0])[logLines:] {
		if e.Msg() != "restored partition state from changelog" {
			t.Logf("  a: %s %v", e.Msg(), e["err"])
		}
	}
	w.WaitDone(p, feed, tm.stall)
	finish(w, p, tm)
}

// TestBrokerRestart (real Kafka only): three brokers, replication factor 3;
// the group coordinator broker is stopped mid-stream and restarted. No
// decision may be lost or duplicated, and all must equal the baseline's.
func TestBrokerRestart(t *testing.T) {
	if !realKafka() {
		t.Skip("needs real Kafka: FRAUDSTREAM_REAL_KAFKA=1")
	}
	ctx := testContext(t)
	tm := timings()
	w := newWorld(ctx, t, 3, 24, 3)
	n := size(200_000, 20_000)
	recs := scenarioInput(w, n, 15)

	p := w.NewPipeline("brokers")
	insts := []*Instance{p.Instance("a"), p.Instance("b")}
	for _, in := range insts {
		in.Start()
	}
	start := time.Now()
	feed := w.StartFeed(recs, tm.feed)
	w.WaitProgress(p, n, 0.3, tm.stall)
	coord, ok := w.Admin.FindGroupCoordinators(ctx, p.Group)[p.Group]
	if !ok || coord.Err != nil {
		t.Fatalf("group coordinator of %s: %+v", p.Group, coord)
	}
	node := w.Cluster.NodeOf(coord.NodeID)
	stopAt := time.Now()
	if err := w.Cluster.StopBroker(ctx, node); err != nil {
		t.Fatal(err)
	}
	t.Logf("broker %d (group coordinator) stopped in %.1fs", node, time.Since(stopAt).Seconds())
	w.Sleep(p, 15*time.Second)
	if pr, err := w.progress(p); err != nil {
		t.Logf("with broker %d down: committed offsets unavailable (%v)", node, err)
	} else {
		t.Logf("with broker %d down: %d of %d records committed", node, pr.sum, n)
	}
	restartAt := time.Now()
	if err := w.Cluster.RestartBroker(ctx, node); err != nil {
		t.Fatal(err)
	}
	t.Logf("broker %d restarted and serving in %.1fs", node, time.Since(restartAt).Seconds())
	w.WaitDone(p, feed, tm.stall)
	t.Logf("broker restart: all input committed %.1fs after the start", time.Since(start).Seconds())
	finish(w, p, tm)
}

// TestDeadLetterRetention: dead letters must stay in the DLQ topic the
// pipeline creates. They keep their input record's timestamp, and the
// pipeline creates the DLQ with the broker's default time retention (7
// days), so the dead letters of any input older than that (a backlog after
// a long outage, a replayed history, here the simulator's 2026-01 stream)
// are deleted by the broker's next retention pass. kfake applies retention
// on request; with real Kafka the test waits for the broker's retention
// check (every 5 minutes).
func TestDeadLetterRetention(t *testing.T) {
	ctx := testContext(t)
	tm := timings()
	w := newWorld(ctx, t, 1, 4, -1)
	recs := w.Generate(InputSpec{Records: 20_000, Seed: 16, Cards: 500, BadEvery: 97})
	feed := w.StartFeed(recs, 0)
	p := w.NewPipeline("dlqret", RunnerCreatesDLQ())
	p.Instance("a").Start()
	w.WaitDone(p, feed, tm.stall)
	p.StopAll(tm.stop)
	written := time.Now()

	if fc := w.Cluster.Fake(); fc != nil {
		fc.ApplyRetention()
	} else {
		// The broker checks retention 30 s after it starts, then every
		// 5 minutes (log.retention.check.interval.ms): wait for the
		// first check after the dead letters were written.
		next := w.Cluster.Started.Add(30 * time.Second)
		for !next.After(written) {
			next = next.Add(5 * time.Minute)
		}
		t.Logf("waiting %.0fs for the broker's retention check", time.Until(next.Add(15*time.Second)).Seconds())
		w.Sleep(p, time.Until(next.Add(15*time.Second)))
	}
	starts, err := w.Admin.ListStartOffsets(ctx, p.DLQ)
	if err != nil {
		t.Fatal(err)
	}
	starts.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			t.Logf("DLQ %s partition %d: log start offset %d (dead letters deleted by retention)", p.DLQ, o.Partition, o.Offset)
		}
	})
	out := w.Collect(p)
	if !CheckExactlyOnce(t, w.Input, out) {
		t.Errorf("dead letters were deleted: the DLQ keeps each input record's timestamp (the simulated history's, "+
			"months before the wall clock %s) under the broker's default retention.ms of 7 days; produce dead letters with the "+
			"current time (the original is in the %s header) or create the DLQ with retention for them",
			time.Now().Format("2006-01-02"), "fraudstream.dlq.timestamp")
	}
}

// TestGracefulStopDuringRebalance: SIGTERM must stop an instance within the
// bound even while its group is rebalancing. Here another instance has just
// crashed and been restarted, so the group waits for the crashed member's
// session timeout (45 s, the pipeline's franz-go default) before the
// rebalance completes; the stopped instance's JoinGroup is parked until then.
// (kfake runs uncapped here, without the ghost reaper, like a real broker.)
func TestGracefulStopDuringRebalance(t *testing.T) {
	ctx := testContext(t)
	tm := timings()
	w := newWorldOpts(ctx, t, WorldOpts{Cluster: ClusterOpts{Brokers: 1, Real: realKafka()}, Partitions: 4, RF: -1})
	recs := w.Generate(InputSpec{Records: 2000, Seed: 17, Cards: 200})
	feed := w.StartFeed(recs, 0)
	p := w.NewPipeline("stop", NoGhostReaper())
	a, b := p.Instance("a"), p.Instance("b")
	a.Start()
	b.Start()
	w.WaitDone(p, feed, tm.stall)
	w.Sleep(p, 3*time.Second) // stable group, heartbeats flowing
	a.Kill()
	a.Start() // joins: the group rebalances and waits for the dead member
	w.Sleep(p, 4*time.Second)
	t.Logf("b owns %v; sending SIGTERM while the group waits for a's old member", Owned(b.LastLog()))
	took, err := b.Stop(3 * tm.stop)
	if err != nil {
		t.Errorf("b: %v", err)
	}
	if took > tm.stop {
		t.Errorf("b exited %.1fs after SIGTERM, more than the %v bound: Runner.close calls Client.LeaveGroup (then Close), "+
			"which waits for the in-flight JoinGroup of the rebalance to finish; the broker holds it until the crashed member's "+
			"session times out. Log tail:\n%s", took.Seconds(), tm.stop, tail(b.LastLog(), 6))
	} else {
		t.Logf("b exited %.2fs after SIGTERM (bound %v)", took.Seconds(), tm.stop)
	}
}
