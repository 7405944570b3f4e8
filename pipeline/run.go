package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fraudstream/fraudstream/operators/features"
	"github.com/fraudstream/fraudstream/schemas"
)

// Progress counts what an instance has committed, for the terminal and
// summaries. All counts are of committed work only.
type Progress struct {
	EventsIn  atomic.Int64 // transactions consumed (valid or not)
	Decisions atomic.Int64
	DLQ       atomic.Int64
	Approve   atomic.Int64
	Decline   atomic.Int64
	Review    atomic.Int64
	Explored  atomic.Int64
	Outcomes  atomic.Int64
	// Latency is poll → committed, per record.
	Latency LatencyHistogram
}

// Runner runs the pipeline: a consumer-group member processing its
// partitions in Kafka transactions.
type Runner struct {
	cfg      Config
	env      *Env
	sess     *kgo.GroupTransactSession
	admin    *kadm.Client
	adminCl  *kgo.Client
	log      *slog.Logger
	Progress Progress

	mu      sync.Mutex // guards tasks against rebalance callbacks
	tasks   map[int32]*partitionTask
	joined  atomic.Bool  // a first assignment arrived
	lastRun atomic.Int64 // unix ms of the last loop iteration

	httpSrv  *http.Server
	httpAddr string

	// stepDelay slows the loop down; restoreHook runs at the start of
	// every restore (tests only).
	stepDelay   time.Duration
	restoreHook func(ctx context.Context, partition int32) error

	// partitions is the input topic's partition count; unowned maps a
	// partition with local state that this instance does not own to the
	// time it stopped owning it (guarded by mu).
	partitions int32
	unowned    map[int32]time.Time
	lastSweep  time.Time

	monitoring *Monitoring

	// parked holds tasks revoked by an eager rebalance, reused (with their
	// warm card cache) if the partition comes straight back; restoring
	// counts tasks not restored yet (readiness). Guarded by mu.
	parked     map[int32]*partitionTask
	restoring  atomic.Int32
	restoreWG  sync.WaitGroup
	restoreSem chan struct{}
	// pollCancel interrupts the current poll (a restore finished, or
	// partitions were assigned and need a restore started).
	wakeMu     sync.Mutex
	pollCancel context.CancelFunc
}

// Option configures a Runner.
type Option func(*runnerOpts)

type runnerOpts struct {
	log         *slog.Logger
	kgoOpts     []kgo.Opt
	serving     *Serving
	listener    net.Listener
	stepDelay   time.Duration
	restoreHook func(ctx context.Context, partition int32) error
}

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *runnerOpts) { o.log = l } }

// WithKafkaOpts appends franz-go options to every client the runner makes
// (tests use it for short timeouts).
func WithKafkaOpts(opts ...kgo.Opt) Option {
	return func(o *runnerOpts) { o.kgoOpts = append(o.kgoOpts, opts...) }
}

// WithServing uses an already loaded model instead of cfg.Model.Dir.
func WithServing(s *Serving) Option { return func(o *runnerOpts) { o.serving = s } }

// NewRunner validates cfg, loads the model, opens the state store, connects
// to Kafka and the registry, checks co-partitioning and creates missing
// output topics. Every failure says what is wrong and how to fix it.
func NewRunner(ctx context.Context, cfg Config, opts ...Option) (*Runner, error) {
	var o runnerOpts
	for _, f := range opts {
		f(&o)
	}
	if o.log == nil {
		o.log = slog.Default()
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	if cfg.InstanceID == "" {
		h, _ := os.Hostname()
		cfg.InstanceID = h
	}
	serving := o.serving
	if serving == nil {
		var err error
		if serving, err = LoadServing(cfg.Model.Dir, cfg.Decision); err != nil {
			return nil, err
		}
	}
	r := &Runner{cfg: cfg, log: o.log, tasks: map[int32]*partitionTask{}, stepDelay: o.stepDelay, restoreHook: o.restoreHook, unowned: map[int32]time.Time{},
		parked: map[int32]*partitionTask{}, restoreSem: make(chan struct{}, restoreConcurrency)}
	env := &Env{cfg: &r.cfg, rules: cfg.Rules(), windows: cfg.WindowsConfig(), metrics: NewMetrics(),
		log: o.log, now: time.Now, emitFeatures: cfg.Decision.EmitFeatures == nil || *cfg.Decision.EmitFeatures}
	if err := env.rules.Compile(); err != nil {
		return nil, err
	}
	if err := env.windows.Validate(); err != nil {
		return nil, err
	}
	env.serving.Store(serving)
	mon, err := NewMonitoring(env.metrics)
	if err != nil {
		return nil, err
	}
	r.monitoring = mon
	env.metrics.ModelInfo.WithLabelValues(serving.version, features.SetVersion).Set(1)
	r.env = env

	base := append([]kgo.Opt{kgo.SeedBrokers(cfg.Brokers...), kgo.WithLogger(kgoLogger{o.log})}, o.kgoOpts...)
	if r.adminCl, err = kgo.NewClient(base...); err != nil {
		return nil, fmt.Errorf("kafka client for %v: %w", cfg.Brokers, err)
	}
	r.admin = kadm.NewClient(r.adminCl)
	if err := r.ensureTopics(ctx); err != nil {
		r.adminCl.Close()
		return nil, err
	}
	if err = newCodecs(ctx, &r.cfg, env); err != nil {
		r.adminCl.Close()
		return nil, err
	}
	if env.store, err = OpenStore(cfg.State.Dir); err != nil {
		r.adminCl.Close()
		return nil, err
	}
	sessOpts := append(base,
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(r.inputTopics()...),
		kgo.TransactionalID(cfg.Group+"-"+cfg.InstanceID),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.RequireStableFetchOffsets(),
		kgo.BlockRebalanceOnPoll(),
		// Partition p of every input topic goes to the same member (the
		// task for p joins labels into p's decisions), sticky across
		// rebalances and restarts; see balancer.go.
		kgo.Balancers(newCopartitionBalancer(r.localPartitions)),
		// A partition resumed after its restore is fetched at the next
		// fetch: do not let an idle fetch hold it back for long.
		kgo.FetchMaxWait(time.Second),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.RecordPartitioner(changelogPartitioner{changelog: cfg.Topics.Changelog}),
		kgo.OnPartitionsAssigned(r.onAssigned),
		kgo.OnPartitionsRevoked(r.onRevoked),
		kgo.OnPartitionsLost(r.onLost),
		kgo.MaxBufferedRecords(200_000),
		kgo.SessionTimeout(time.Duration(cfg.Kafka.SessionTimeout)),
		kgo.RebalanceTimeout(time.Duration(cfg.Kafka.RebalanceTimeout)),
		kgo.TransactionTimeout(time.Duration(cfg.Kafka.TransactionTimeout)),
	)
	sessOpts = append(sessOpts, o.kgoOpts...) // the caller's options win
	if r.sess, err = kgo.NewGroupTransactSession(sessOpts...); err != nil {
		r.close()
		return nil, fmt.Errorf("kafka transactional session: %w", err)
	}
	// Initialise the transactional producer now rather than at the first
	// batch: this fences a previous incarnation of this instance (same
	// transactional id, e.g. killed with a transaction open) and aborts its
	// open transaction, which would otherwise hold back every
	// read_committed reader of the changelog, our restores first, until
	// the transaction timeout.
	pidCtx, pidCancel := context.WithTimeout(ctx, 30*time.Second)
	if _, _, err := r.sess.Client().ProducerID(pidCtx); err != nil {
		o.log.Warn("initialising the transactional producer failed; retried at the first batch", "err", err)
	}
	pidCancel()
	if o.listener != nil || cfg.Metrics.Addr != "" {
		if err := r.startHTTP(o.listener); err != nil {
			r.close()
			return nil, err
		}
	}
	o.log.Info("pipeline ready to run", "brokers", cfg.Brokers, "group", cfg.Group, "instance", cfg.InstanceID,
		"model_version", serving.version, "policy", serving.policy.String(), "state_dir", cfg.State.Dir,
		"metrics_url", r.MetricsURL())
	return r, nil
}

// Env returns the shared environment (tests, hot reload).
func (r *Runner) Env() *Env { return r.env }

// Metrics returns the runner's metrics.
func (r *Runner) Metrics() *Metrics { return r.env.metrics }

// MetricsURL returns the URL of /metrics, or "" when disabled.
func (r *Runner) MetricsURL() string {
	if r.httpAddr == "" {
		return ""
	}
	return "http://" + r.httpAddr + "/metrics"
}

func (r *Runner) startHTTP(l net.Listener) error {
	if l == nil {
		var err error
		if l, err = net.Listen("tcp", r.cfg.Metrics.Addr); err != nil {
			return fmt.Errorf("metrics.addr %s: %w (choose a free port, or \"\" to disable)", r.cfg.Metrics.Addr, err)
		}
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(r.env.metrics.Registry, promhttp.HandlerOpts{Registry: r.env.metrics.Registry}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if last := r.lastRun.Load(); last != 0 && time.Since(time.UnixMilli(last)) > 60*time.Second {
			http.Error(w, "processing loop stalled", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !r.Ready() {
			http.Error(w, "not ready: joining the group or restoring state", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	r.httpAddr = l.Addr().String()
	r.httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = r.httpSrv.Serve(l) }()
	return nil
}

// ensureTopics checks that the input topics exist and are co-partitioned,
// and creates the changelog and output topics when missing.
func (r *Runner) ensureTopics(ctx context.Context) error {
	t := r.cfg.Topics
	want := []string{t.Transactions, t.Decisions, t.DLQ, t.Changelog}
	if t.Labels != "" {
		want = append(want, t.Labels, t.Outcomes)
	}
	details, err := r.admin.ListTopics(ctx, want...)
	if err != nil {
		return fmt.Errorf("list topics on %v: %w (is Kafka reachable?)", r.cfg.Brokers, err)
	}
	in, ok := details[t.Transactions]
	if !ok || in.Err != nil {
		return fmt.Errorf("input topic %q does not exist: create it (partitions = the parallelism you want) or fix topics.transactions", t.Transactions)
	}
	n := int32(len(in.Partitions))
	r.partitions = n
	create := r.cfg.CreateTopics == nil || *r.cfg.CreateTopics
	for _, name := range []string{t.Labels, t.Changelog} {
		if name == "" {
			continue
		}
		d, ok := details[name]
		if ok && d.Err == nil {
			if got := int32(len(d.Partitions)); got != n {
				return fmt.Errorf("topic %q has %d partitions but %q has %d: inputs and the changelog must be co-partitioned by card_id (same partition count, key = card_id); repartition one of them", name, got, t.Transactions, n)
			}
			continue
		}
		if name == t.Labels {
			return fmt.Errorf("labels topic %q does not exist: create it with %d partitions, or set topics.labels to \"\"", name, n)
		}
	}
	if !create {
		return nil
	}
	outputs := []string{t.Changelog, t.Decisions, t.DLQ}
	if t.Labels != "" {
		outputs = append(outputs, t.Outcomes)
	}
	for _, name := range outputs {
		if d, ok := details[name]; ok && d.Err == nil {
			continue
		}
		var configs map[string]*string
		if name == t.Changelog {
			// Compacted: the changelog keeps the latest value of each state
			// key; pruned events are tombstones, so it stays bounded.
			configs = map[string]*string{"cleanup.policy": kadm.StringPtr("compact"), "min.compaction.lag.ms": kadm.StringPtr("60000")}
		}
		resp, err := r.admin.CreateTopic(ctx, n, r.cfg.ReplicationFactor, configs, name)
		if err != nil && !errors.Is(err, errTopicExists(resp)) {
			return fmt.Errorf("create topic %q: %w", name, err)
		}
		r.log.Info("created topic", "topic", name, "partitions", n)
	}
	return nil
}

func errTopicExists(resp kadm.CreateTopicResponse) error { return resp.Err }

// changelogPartitioner sends changelog records to the partition set on the
// record (the input partition whose state they hold) and everything else by
// key hash (Kafka's murmur2, like the Java client).
type changelogPartitioner struct{ changelog string }

func (p changelogPartitioner) ForTopic(topic string) kgo.TopicPartitioner {
	if topic == p.changelog {
		return kgo.ManualPartitioner().ForTopic(topic)
	}
	return kgo.StickyKeyPartitioner(nil).ForTopic(topic)
}

// onAssigned creates (or takes back from parked) the task of every newly
// assigned partition and pauses its fetches: the loop starts its restore,
// in the background, and resumes it when the state is current.
func (r *Runner) onAssigned(_ context.Context, cl *kgo.Client, assigned map[string][]int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var paused []int32
	for _, p := range assigned[r.cfg.Topics.Transactions] {
		delete(r.unowned, p)
		if _, ok := r.tasks[p]; ok {
			continue
		}
		t, ok := r.parked[p]
		if !ok {
			t = newPartitionTask(r.env, r.cfg.Topics.Transactions, p)
		}
		t.restored, t.retryAt = false, time.Time{}
		r.tasks[p] = t
		paused = append(paused, p)
	}
	clear(r.parked) // not reassigned: their caches are not needed
	if len(paused) > 0 {
		// cl, not r.sess: the first assignment can come before
		// NewGroupTransactSession has returned.
		cl.PauseFetchPartitions(r.partitionsOf(paused))
	}
	r.joined.Store(true)
	r.updateRestoring()
	r.env.metrics.Rebalances.WithLabelValues("assigned").Inc()
	r.env.metrics.PartitionsOwned.Set(float64(len(r.tasks)))
	r.log.Info("partitions assigned", "partitions", assigned[r.cfg.Topics.Transactions], "owned", len(r.tasks), "to_restore", len(paused))
	if len(paused) > 0 {
		r.wake()
	}
}

// partitionsOf maps input partitions to the fetch partitions of a task:
// the same partition of every input topic.
func (r *Runner) partitionsOf(parts []int32) map[string][]int32 {
	m := map[string][]int32{}
	for _, topic := range r.inputTopics() {
		m[topic] = parts
	}
	return m
}

func (r *Runner) countRestoring() int {
	n := 0
	for _, t := range r.tasks {
		if !t.restored {
			n++
		}
	}
	return n
}

func (r *Runner) onRevoked(_ context.Context, _ *kgo.Client, revoked map[string][]int32) {
	r.dropTasks("revoked", revoked[r.cfg.Topics.Transactions])
}

func (r *Runner) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	r.dropTasks("lost", lost[r.cfg.Topics.Transactions])
}

// dropTasks forgets tasks of partitions this instance no longer owns. A
// restore in flight is cancelled and waited for (it writes the partition's
// keys, which a later restore here must find consistent). The task is
// parked, in case the partition comes straight back (eager rebalances revoke
// everything). Callbacks do not touch a task's batch state: the loop may
// still be ending a transaction that used it (GroupTransactSession aborts
// it, and the loop then forgets its changes). The Pebble state stays: it is
// checked against the committed offsets if the partition comes back.
func (r *Runner) dropTasks(kind string, parts []int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range parts {
		if t, ok := r.tasks[p]; ok {
			if t.job != nil {
				t.job.cancel()
				<-t.job.done
				t.job = nil
			}
			t.restored = false
			r.parked[p] = t
			delete(r.tasks, p)
		}
		r.unowned[p] = time.Now()
	}
	r.updateRestoring()
	r.env.metrics.Rebalances.WithLabelValues(kind).Inc()
	r.env.metrics.PartitionsOwned.Set(float64(len(r.tasks)))
	r.log.Info("partitions "+kind, "partitions", parts, "owned", len(r.tasks))
}

// wake interrupts the loop's current poll.
func (r *Runner) wake() {
	r.wakeMu.Lock()
	defer r.wakeMu.Unlock()
	if r.pollCancel != nil {
		r.pollCancel()
	}
}

// manageRestores, run by the loop before each poll, starts the restore of
// every owned partition that needs one and applies finished restores:
// their tasks take the restored offsets and the partitions are resumed.
func (r *Runner) manageRestores(ctx context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var resume []int32
	now := time.Now()
	for p, t := range r.tasks {
		if t.restored {
			continue
		}
		if t.job == nil {
			if now.After(t.retryAt) {
				r.startRestore(ctx, t)
			}
			continue
		}
		select {
		case <-t.job.done:
		default:
			continue
		}
		job := t.job
		t.job = nil
		if job.err != nil {
			if ctx.Err() == nil {
				r.log.Warn("restore failed; retrying", "partition", p, "err", job.err)
				r.env.metrics.RestoreFailures.Inc()
			}
			t.retryAt = now.Add(time.Second)
			continue
		}
		t.next, t.changelogNext, t.labelsNext = job.res.next, job.res.changelogNext, job.res.labelsNext
		t.watermark, t.watermarkCommitted = job.res.watermark, job.res.watermark
		if job.res.replayed {
			clear(t.cards)
			if t.kv != nil {
				t.kv.waiting = nil
			}
		}
		t.restored = true
		resume = append(resume, p)
	}
	if len(resume) > 0 {
		r.sess.Client().ResumeFetchPartitions(r.partitionsOf(resume))
	}
	r.updateRestoring()
}

// Run processes until ctx is cancelled, then ends the open transaction,
// leaves the group and closes the store. It returns nil on a clean stop.
func (r *Runner) Run(ctx context.Context) error {
	defer r.close()
	var backoff time.Duration
	for {
		if ctx.Err() != nil {
			return nil
		}
		r.lastRun.Store(time.Now().UnixMilli())
		r.sweepUnowned()
		err := r.step(ctx)
		if err == nil {
			backoff = 0
			if r.stepDelay > 0 {
				time.Sleep(r.stepDelay)
			}
			continue
		}
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, errFatal) {
			return err
		}
		backoff = min(max(2*backoff, 100*time.Millisecond), 10*time.Second)
		r.log.Warn("batch failed; retrying from the last committed offsets", "err", err, "backoff", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
	}
}

var errFatal = errors.New("fatal")

// idlePoll bounds a poll that returns no records.
const idlePoll = 2 * time.Second

// step runs one consume → process → produce → commit cycle.
func (r *Runner) step(ctx context.Context) error {
	// Whatever path the cycle takes (commit, abort, an error before the
	// transaction began), it must end by allowing the rebalance that
	// BlockRebalanceOnPoll holds while polled records are in hand:
	// otherwise a revoke or loss waits forever and the member never rejoins.
	defer r.sess.AllowRebalance()
	// The poll is interrupted when a restore finishes or partitions are
	// assigned (wake), so that restores start and end without waiting for
	// records of other partitions, and ends after idlePoll without records
	// (the loop turns: /healthz, restore retries, the unowned-state sweep).
	pollCtx, cancel := context.WithTimeout(ctx, idlePoll)
	r.wakeMu.Lock()
	r.pollCancel = cancel
	r.wakeMu.Unlock()
	defer func() {
		r.wakeMu.Lock()
		r.pollCancel = nil
		r.wakeMu.Unlock()
		cancel()
	}()
	r.manageRestores(ctx)
	pollStart := time.Now()
	fetches := r.sess.PollRecords(pollCtx, r.cfg.Batch.MaxRecords)
	pollTime := time.Now()
	if fetches.IsClientClosed() {
		return fmt.Errorf("%w: kafka client closed", errFatal)
	}
	fetches.EachError(func(t string, p int32, err error) {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return
		}
		r.log.Warn("fetch error", "topic", t, "partition", p, "err", err)
	})
	if fetches.NumRecords() == 0 {
		r.sess.AllowRebalance()
		return nil
	}
	cancel() // the poll is over: a wake now has nothing to interrupt

	// Group records by partition; each partition is one task, processed
	// by one goroutine in offset order.
	type work struct {
		task   *partitionTask
		recs   []*kgo.Record // transactions, in offset order
		labels []*kgo.Record // labels, in offset order
	}
	// One poll can hold several fetches of the same partition (buffered
	// fetch responses): merge them, in offset order, so that each task is
	// run by exactly one goroutine.
	var works []work
	var lags []lagAt
	var unexpected error
	index := map[int32]int{}
	r.mu.Lock()
	fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
		if len(fp.Records) == 0 {
			return
		}
		t, ok := r.tasks[fp.Partition]
		if !ok || !t.restored {
			// Rebalance callbacks run only between polls
			// (BlockRebalanceOnPoll) and a partition is paused from
			// its assignment until its restore ends, so this cannot
			// happen; if it does, the batch must not commit
			// past these records.
			unexpected = fmt.Errorf("records of partition %s/%d that is not owned or not restored (owned %v)", fp.Topic, fp.Partition, ok)
			if ok {
				r.sess.Client().PauseFetchPartitions(r.partitionsOf([]int32{fp.Partition}))
			}
			return
		}
		i, ok := index[fp.Partition]
		if !ok {
			i = len(works)
			index[fp.Partition] = i
			works = append(works, work{task: t})
		}
		if n := len(fp.Records); n > 0 {
			lags = append(lags, lagAt{fp.Topic, fp.Partition, fp.HighWatermark - fp.Records[n-1].Offset - 1})
		}
		if fp.Topic == r.cfg.Topics.Labels {
			works[i].labels = append(works[i].labels, fp.Records...)
		} else {
			works[i].recs = append(works[i].recs, fp.Records...)
		}
	})
	r.mu.Unlock()
	if unexpected != nil {
		// Abort: the consumer rewinds to the committed offsets.
		_, _ = r.sess.End(ctx, kgo.TryAbort)
		return unexpected
	}
	for _, w := range works {
		if len(w.recs) > 0 && w.recs[0].Offset < w.task.next {
			return fmt.Errorf("%w: partition %d: record offset %d is before the restored state's offset %d", errFatal, w.task.partition, w.recs[0].Offset, w.task.next)
		}
		for _, recs := range [][]*kgo.Record{w.recs, w.labels} {
			for i := 1; i < len(recs); i++ {
				if recs[i].Offset <= recs[i-1].Offset {
					return fmt.Errorf("%w: partition %d: records out of offset order (%d after %d)", errFatal, w.task.partition, recs[i].Offset, recs[i-1].Offset)
				}
			}
		}
	}
	sort.Slice(works, func(i, j int) bool { return works[i].task.partition < works[j].task.partition })

	if err := r.sess.Begin(); err != nil {
		return fmt.Errorf("%w: begin transaction: %v", errFatal, err)
	}
	for _, w := range works {
		w.task.beginBatch()
	}

	// Process partitions in parallel, at most GOMAXPROCS at a time.
	var (
		wg       sync.WaitGroup
		procErr  atomic.Pointer[error]
		prodErr  atomic.Pointer[error]
		sem      = make(chan struct{}, runtime.GOMAXPROCS(0))
		clOffset = make([]atomic.Int64, len(works))
	)
	for i, w := range works {
		clOffset[i].Store(-1)
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			t := w.task
			// Transactions first, then labels: within a batch the order
			// between the two topics is fixed, so a replay joins alike.
			for _, rec := range w.recs {
				if err := t.process(ctx, rec); err != nil {
					procErr.CompareAndSwap(nil, &err)
					return
				}
			}
			for _, rec := range w.labels {
				t.stats.labels++
				if err := t.processLabel(ctx, rec); err != nil {
					procErr.CompareAndSwap(nil, &err)
					return
				}
			}
			t.appendChangelog()
			if err := t.appendJoinChangelog(); err != nil {
				procErr.CompareAndSwap(nil, &err)
				return
			}
			changelog := r.cfg.Topics.Changelog
			for _, rec := range t.out {
				r.sess.Produce(ctx, rec, func(rec *kgo.Record, err error) {
					if err != nil {
						prodErr.CompareAndSwap(nil, &err)
						return
					}
					if rec.Topic == changelog {
						for {
							cur := clOffset[i].Load()
							if rec.Offset+1 <= cur || clOffset[i].CompareAndSwap(cur, rec.Offset+1) {
								break
							}
						}
					}
				})
			}
		}()
	}
	wg.Wait()
	// Processing is over: let a pending rebalance go on while the
	// transaction ends. A revoke or loss now makes End abort
	// (GroupTransactSession), and the callbacks do not touch the tasks'
	// batch state. Holding the rebalance through End would deadlock when
	// the member was dropped from the group (a long GC or a frozen
	// process): End waits for a heartbeat or the loss callback, and the
	// group's manage loop waits for AllowRebalance before calling it.
	r.sess.AllowRebalance()
	procTime := time.Now()
	flushErr := r.sess.Client().Flush(ctx)
	flushTime := time.Now()
	var failure error
	switch {
	case procErr.Load() != nil:
		failure = *procErr.Load()
	case prodErr.Load() != nil:
		failure = fmt.Errorf("produce: %w", *prodErr.Load())
	case flushErr != nil:
		failure = fmt.Errorf("flush: %w", flushErr)
	}
	committed, endErr := r.sess.End(ctx, kgo.TransactionEndTry(failure == nil))
	doneTime := time.Now()
	r.log.Debug("batch", "records", fetches.NumRecords(), "partitions", len(works), "poll_ms", pollTime.Sub(pollStart).Milliseconds(),
		"process_ms", procTime.Sub(pollTime).Milliseconds(), "flush_ms", flushTime.Sub(procTime).Milliseconds(),
		"end_ms", doneTime.Sub(flushTime).Milliseconds(), "committed", committed)
	if !committed {
		for _, w := range works {
			w.task.aborted()
		}
		r.env.metrics.TxnAborted.Inc()
		r.sess.AllowRebalance()
		if failure == nil && endErr != nil {
			failure = fmt.Errorf("end transaction: %w", endErr)
		}
		if failure == nil {
			r.log.Info("transaction aborted (rebalance); its records are processed again by their owner")
		}
		return failure
	}

	// Committed: bring Pebble up to date, then publish counts.
	b := r.env.store.newBatch()
	for i, w := range works {
		if err := w.task.committed(b, clOffset[i].Load()); err != nil {
			b.Close()
			return fmt.Errorf("%w: stage state: %v", errFatal, err)
		}
	}
	if err := r.env.store.commitBatch(b); err != nil {
		return fmt.Errorf("%w: %v", errFatal, err)
	}
	r.sess.AllowRebalance()
	r.publish(works2tasks(works, func(w work) *partitionTask { return w.task }), pollTime, doneTime)
	for _, l := range lags {
		r.env.metrics.ConsumerLag.WithLabelValues(l.topic, strconv.Itoa(int(l.partition))).Set(float64(max(l.lag, 0)))
	}
	return nil
}

func works2tasks[W any](ws []W, f func(W) *partitionTask) []*partitionTask {
	out := make([]*partitionTask, len(ws))
	for i, w := range ws {
		out[i] = f(w)
	}
	return out
}

// Ready reports what /readyz does: the group is joined (a first
// assignment arrived) and every owned partition is restored.
func (r *Runner) Ready() bool { return r.joined.Load() && r.restoring.Load() == 0 }

// updateRestoring recounts the partitions not restored yet (caller holds
// r.mu) and logs when the instance becomes ready or not ready.
func (r *Runner) updateRestoring() {
	was := r.Ready()
	r.restoring.Store(int32(r.countRestoring()))
	switch now := r.Ready(); {
	case now && !was:
		r.log.Info("ready: group joined, state restored", "partitions", len(r.tasks))
	case !now && was:
		r.log.Info("not ready: restoring partition state", "partitions", r.restoring.Load())
	}
}

// publish records the committed batch in metrics and progress, and evicts
// cold cards.
func (r *Runner) publish(tasks []*partitionTask, pollTime, doneTime time.Time) {
	m := r.env.metrics
	lat := doneTime.Sub(pollTime)
	total := 0
	r.mu.Lock()
	owned := max(len(r.tasks), 1)
	r.mu.Unlock()
	limit := max(r.cfg.State.CacheCards/owned, 1000)
	cached := 0
	version := r.env.serving.Load().version
	scores := m.Scores.WithLabelValues(version)
	for _, t := range tasks {
		s := &t.stats
		total += s.consumed
		r.Progress.EventsIn.Add(int64(s.consumed))
		m.RecordsConsumed.WithLabelValues(r.cfg.Topics.Transactions).Add(float64(s.consumed))
		nd := s.decisions[0] + s.decisions[1] + s.decisions[2]
		r.Progress.Decisions.Add(int64(nd))
		r.Progress.Approve.Add(int64(s.decisions[0]))
		r.Progress.Decline.Add(int64(s.decisions[1]))
		r.Progress.Review.Add(int64(s.decisions[2]))
		r.Progress.Explored.Add(int64(s.explored))
		m.Decisions.WithLabelValues(schemas.ActionApprove).Add(float64(s.decisions[0]))
		m.Decisions.WithLabelValues(schemas.ActionDecline).Add(float64(s.decisions[1]))
		m.Decisions.WithLabelValues(schemas.ActionReview).Add(float64(s.decisions[2]))
		m.Explored.Add(float64(s.explored))
		m.LateEvents.Add(float64(s.late))
		m.CardLoads.Add(float64(s.loads))
		for reason, n := range s.dlq {
			r.Progress.DLQ.Add(int64(n))
			m.DLQ.WithLabelValues(reason).Add(float64(n))
		}
		for _, sc := range s.scores {
			scores.Observe(sc)
		}
		for _, ms := range s.eventMs {
			m.EndToEndLatency.Observe(doneTime.Sub(time.UnixMilli(ms)).Seconds())
		}
		if t.join != nil {
			for k, n := range t.join.Counts {
				m.Labels.WithLabelValues(k).Add(float64(n))
			}
			m.Labels.WithLabelValues("malformed").Add(float64(s.badLabels))
			presumed := strconv.FormatBool(r.cfg.Labels.PresumeLegit)
			m.DecisionsExpired.WithLabelValues(presumed).Add(float64(t.join.ExpiredDecisions))
			for i := range s.outcomes {
				o := &s.outcomes[i]
				m.Outcomes.WithLabelValues(o.Kind).Inc()
				if o.Kind == "label" {
					m.LabelDelay.Observe(float64(o.DelayMillis) / 1000)
				}
			}
			r.Progress.Outcomes.Add(int64(len(s.outcomes)))
		}
		if len(s.scores) > 0 || len(s.outcomes) > 0 {
			r.monitoring.observe(t.serving, s)
		}
		t.evict(limit)
		cached += len(t.cards)
	}
	r.Progress.Latency.ObserveN(lat, int64(total))
	for range total {
		m.ProcessingLatency.Observe(lat.Seconds())
	}
	m.BatchRecords.Observe(float64(total))
	m.TxnCommitted.Inc()
	m.CardsCached.Set(float64(cached))
	r.monitoring.export(false)
}

// closeTimeout bounds the graceful shutdown: end the open transaction,
// leave the group, close Pebble. Kubernetes' termination grace period must
// be longer (deploy/kubernetes uses 60 s). A leave that cannot finish in
// time is safe to abandon: the session times out and the open transaction
// is aborted (or fenced by the successor), so nothing is lost or doubled.
const closeTimeout = 5 * time.Second

func (r *Runner) close() {
	if r.sess != nil {
		// End any open transaction (abort: its records are redone by the
		// next owner), allow the rebalance our leaving causes (with
		// BlockRebalanceOnPoll, a poll that returned records holds
		// rebalances until then), and leave the group. franz-go's Close
		// waits for an in-flight join of a pending rebalance, which can
		// take the whole rebalance timeout; past closeTimeout we stop
		// waiting: abandoning the session is safe (see closeTimeout).
		done := make(chan struct{})
		go func() {
			defer close(done)
			ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
			defer cancel()
			_, _ = r.sess.End(ctx, kgo.TryAbort)
			r.sess.AllowRebalance()
			if err := r.sess.Client().LeaveGroupContext(ctx); err != nil {
				r.log.Warn("leave group", "err", err)
			}
			r.sess.CloseAllowingRebalance()
		}()
		select {
		case <-done:
		case <-time.After(closeTimeout + time.Second):
			r.log.Warn("Kafka client did not close in time; exiting without waiting for the group leave", "waited", closeTimeout+time.Second)
		}
	}
	// Restores write Pebble: stop them before it closes.
	r.mu.Lock()
	for _, t := range r.tasks {
		if t.job != nil {
			t.job.cancel()
		}
	}
	r.mu.Unlock()
	r.restoreWG.Wait()
	if r.adminCl != nil {
		r.adminCl.Close()
	}
	if r.env != nil && r.env.store != nil {
		if err := r.env.store.Close(); err != nil {
			r.log.Error("close state store", "err", err)
		}
		r.env.store = nil
	}
	if r.httpSrv != nil {
		_ = r.httpSrv.Close()
	}
}

// kgoLogger adapts slog to franz-go, at warn level and above.
type kgoLogger struct{ l *slog.Logger }

func (k kgoLogger) Level() kgo.LogLevel { return kgo.LogLevelWarn }
func (k kgoLogger) Log(level kgo.LogLevel, msg string, kv ...any) {
	switch level {
	case kgo.LogLevelError:
		k.l.Error("kafka: "+msg, kv...)
	case kgo.LogLevelWarn:
		k.l.Warn("kafka: "+msg, kv...)
	default:
		k.l.Debug("kafka: "+msg, kv...)
	}
}

// sweepUnowned deletes the local state of partitions this instance has not
// owned for State.DropUnownedAfter (checked at most once a minute). At the
// first sweep, local states of partitions not owned are found by probing the
// meta key of every input partition.
func (r *Runner) sweepUnowned() {
	after := time.Duration(r.cfg.State.DropUnownedAfter)
	if after <= 0 || time.Since(r.lastSweep) < time.Minute {
		return
	}
	first := r.lastSweep.IsZero()
	r.lastSweep = time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if first {
		for p := int32(0); p < r.partitions; p++ {
			if _, owned := r.tasks[p]; owned {
				continue
			}
			if _, ok := r.unowned[p]; ok {
				continue
			}
			if _, have, err := r.env.store.loadMeta(partitionPrefix(r.cfg.Topics.Transactions, p)); err == nil && have {
				r.unowned[p] = time.Now()
			}
		}
	}
	for p, since := range r.unowned {
		if _, owned := r.tasks[p]; owned {
			delete(r.unowned, p)
			continue
		}
		if time.Since(since) < after {
			continue
		}
		if err := r.env.store.dropPartition(partitionPrefix(r.cfg.Topics.Transactions, p)); err != nil {
			r.log.Error("drop state of an unowned partition", "partition", p, "err", err)
			continue
		}
		delete(r.unowned, p)
		r.env.metrics.StateDropped.Inc()
		r.log.Info("dropped local state of a partition owned elsewhere", "partition", p, "unowned_for", time.Since(since).Round(time.Second))
	}
}

func (r *Runner) inputTopics() []string {
	if r.cfg.Topics.Labels != "" {
		return []string{r.cfg.Topics.Transactions, r.cfg.Topics.Labels}
	}
	return []string{r.cfg.Topics.Transactions}
}

type lagAt struct {
	topic     string
	partition int32
	lag       int64
}
