package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fraudstream/fraudstream/pipeline"
	"github.com/fraudstream/fraudstream/pipeline/registry"
	"github.com/fraudstream/fraudstream/pipeline/synth"
	"github.com/fraudstream/fraudstream/schemas"
)

func init() {
	register("dev", "embedded Kafka + schema registry + synthetic traffic + the pipeline, with live progress (make run)", cmdDev)
}

// devState is kept in the data dir so that a restarted dev continues the
// simulated history instead of replaying it (which would make every event
// too late for the cards' existing state).
type devState struct {
	Runs      int   `json:"runs"`
	NextStart int64 `json:"next_start_ms"`
	Seed      int64 `json:"seed"`
}

// Summary is what dev prints at exit and writes with --summary-json.
type Summary struct {
	EventsIn     int64   `json:"events_in"`
	DecisionsOut int64   `json:"decisions_out"`
	DLQ          int64   `json:"dlq"`
	P99Latency   float64 `json:"p99_latency_ms"`
	Approve      int64   `json:"approve"`
	Decline      int64   `json:"decline"`
	Review       int64   `json:"review"`
	Explored     int64   `json:"explored"`
	Seconds      float64 `json:"seconds"`
	EventsPerSec float64 `json:"events_per_second"`
	ModelVersion string  `json:"model_version"`
	Drained      bool    `json:"drained"`
}

func cmdDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flagSet("dev", stderr)
	duration := fs.Duration("duration", 0, "stop after this long (0 = until Ctrl-C)")
	summaryJSON := fs.String("summary-json", "", "write {events_in, decisions_out, dlq, p99_latency_ms, ...} to this file at exit")
	dataDir := fs.String("data-dir", "data/dev", "directory for the embedded broker's data, the registry and the state (kept across restarts)")
	fresh := fs.Bool("fresh", false, "delete --data-dir first")
	port := fs.Int("port", 9092, "embedded Kafka port on 127.0.0.1 (0 = any free port)")
	regPort := fs.Int("registry-port", 8081, "embedded schema registry port on 127.0.0.1 (0 = any free port)")
	metricsAddr := fs.String("metrics-addr", "127.0.0.1:9100", "listen address of /metrics, /healthz, /readyz (\"\" = off)")
	partitions := fs.Int("partitions", 8, "partitions of the input topics")
	rate := fs.Float64("rate", 20000, "synthetic transactions per second (0 = as fast as possible)")
	cards := fs.Int("cards", 20000, "simulated cards")
	seed := fs.Int64("seed", 1, "simulator seed")
	badFraction := fs.Float64("bad-fraction", 0.001, "share of records deliberately malformed or out of range, to show the dead-letter topic")
	modelDir := fs.String("model", "models/default", "model bundle directory")
	logLevel := fs.String("log-level", "warn", "pipeline log level: debug, info, warn, error")
	quiet := fs.Bool("quiet", false, "no live progress line")
	drift := fs.Bool("drift", false, "inject a drift scenario 20 days (event time) into the run: legitimate amounts double and a new fraud pattern takes over; watch PSI rise and the performance estimates fall")
	drainTimeout := fs.Duration("drain-timeout", 60*time.Second, "after --duration, how long to wait for the pipeline to process what was produced")
	traffic := fs.Bool("traffic", true, "produce synthetic traffic (false: only the broker, registry and pipeline, for your own producers)")
	batchMax := fs.Int("batch-max-records", pipeline.DefaultConfig().Batch.MaxRecords, "input records per Kafka transaction (smaller: lower latency, more commits)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log, err := newLogger(stderr, *logLevel, "text")
	if err != nil {
		return err
	}
	if *fresh {
		if err := os.RemoveAll(*dataDir); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(*dataDir, 0o755); err != nil {
		return fmt.Errorf("--data-dir: %w", err)
	}
	st := loadDevState(*dataDir, *seed)
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	// Embedded broker and registry.
	kopts := []kfake.Opt{kfake.NumBrokers(1), kfake.DataDir(filepath.Join(*dataDir, "kafka")),
		kfake.Ports(*port)}
	cluster, err := kfake.NewCluster(kopts...)
	if err != nil {
		return fmt.Errorf("start embedded Kafka on 127.0.0.1:%d: %w (is the port in use? try --port 0)", *port, err)
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	reg := registry.New(registry.WithDataFile(filepath.Join(*dataDir, "registry.json")))
	regURL, err := reg.Start(ctx, net.JoinHostPort("127.0.0.1", strconv.Itoa(*regPort)))
	if err != nil {
		return fmt.Errorf("start embedded schema registry on port %d: %w (try --registry-port 0)", *regPort, err)
	}
	defer reg.Close()

	cfg := pipeline.DefaultConfig()
	cfg.Brokers = brokers
	cfg.Registry.URL = regURL
	cfg.State.Dir = filepath.Join(*dataDir, "state")
	cfg.Model.Dir = *modelDir
	cfg.Metrics.Addr = *metricsAddr
	cfg.InstanceID = "dev"
	cfg.Batch.MaxRecords = *batchMax
	if err := createTopics(ctx, brokers, int32(*partitions), cfg.Topics.Transactions, cfg.Topics.Labels); err != nil {
		return err
	}
	runner, err := pipeline.NewRunner(ctx, cfg, pipeline.WithLogger(log))
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "fraudstream dev\n  kafka:    %s   (fraudstream tail --brokers %s --topic decisions)\n  registry: %s\n  metrics:  %s\n  state:    %s\n  model:    %s\n",
		brokers[0], brokers[0], regURL, orOff(runner.MetricsURL()), cfg.State.Dir, runner.Env().Serving().Version())

	runCtx, stopRun := context.WithCancel(context.Background())
	defer stopRun()
	runErr := make(chan error, 1)
	runner.WatchModel(runCtx, 2*time.Second)
	go func() { runErr <- runner.Run(runCtx) }()

	prodCtx := ctx
	if *duration > 0 {
		var cancel context.CancelFunc
		prodCtx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	start := time.Now()
	producer, err := pipeline.NewEventProducer(ctx, pipeline.ProducerConfig{Brokers: brokers,
		TransactionsTopic: cfg.Topics.Transactions, LabelsTopic: cfg.Topics.Labels, Format: schemas.FormatConfluent, RegistryURL: regURL})
	if err != nil {
		return err
	}
	defer producer.Close()
	var prodWG sync.WaitGroup
	var produced, lastEvent int64
	var prodErr error
	prodWG.Add(1)
	go func() {
		defer prodWG.Done()
		if !*traffic {
			<-prodCtx.Done()
			return
		}
		produced, lastEvent, prodErr = runSynthetic(prodCtx, producer, st, *cards, *rate, *badFraction, *drift, stderr)
	}()

	// Live progress until the producer stops (duration or Ctrl-C).
	prodDone := make(chan struct{})
	go func() { prodWG.Wait(); close(prodDone) }()
	progress(prodDone, runErr, runner, stderr, *quiet, start)
	if prodErr != nil && !errors.Is(prodErr, context.Canceled) && !errors.Is(prodErr, context.DeadlineExceeded) {
		return fmt.Errorf("synthetic producer: %w", prodErr)
	}
	st.Runs++
	if lastEvent > 0 {
		st.NextStart = lastEvent + 60_000
	}
	saveDevState(*dataDir, st)

	// Drain: wait until the pipeline has committed a decision or a dead
	// letter for every produced transaction.
	drained := false
	deadline := time.Now().Add(*drainTimeout)
	if ctx.Err() != nil {
		deadline = time.Now().Add(10 * time.Second) // Ctrl-C: drain briefly
	}
	for time.Now().Before(deadline) {
		if !*traffic || runner.Progress.EventsIn.Load() >= produced {
			drained = true
			break
		}
		select {
		case err := <-runErr:
			return fmt.Errorf("pipeline stopped: %w", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	elapsed := time.Since(start)
	stopRun()
	if err := <-runErr; err != nil {
		return fmt.Errorf("pipeline: %w", err)
	}
	p := &runner.Progress
	sum := Summary{EventsIn: produced, DecisionsOut: p.Decisions.Load(), DLQ: p.DLQ.Load(),
		P99Latency: round3(p.Latency.Quantile(0.99)), Approve: p.Approve.Load(), Decline: p.Decline.Load(),
		Review: p.Review.Load(), Explored: p.Explored.Load(), Seconds: round3(elapsed.Seconds()),
		EventsPerSec: math.Round(float64(p.EventsIn.Load()) / elapsed.Seconds()), ModelVersion: runner.Env().Serving().Version(),
		Drained: drained}
	if !*quiet {
		fmt.Fprintln(stderr)
	}
	fmt.Fprintf(stderr, "summary: events_in=%d decisions_out=%d dlq=%d p99_latency_ms=%.1f approve=%d decline=%d (explored %d) review=%d events/s=%.0f drained=%v\n",
		sum.EventsIn, sum.DecisionsOut, sum.DLQ, sum.P99Latency, sum.Approve, sum.Decline, sum.Explored, sum.Review, sum.EventsPerSec, drained)
	if *summaryJSON != "" {
		b, _ := json.MarshalIndent(sum, "", "  ")
		if err := os.WriteFile(*summaryJSON, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("--summary-json: %w", err)
		}
	}
	if !drained {
		printLag(stderr, brokers, cfg.Group, cfg.Topics.Transactions)
		return fmt.Errorf("pipeline did not catch up with the producer in time: %d of %d transactions processed", p.EventsIn.Load(), produced)
	}
	return nil
}

func orOff(s string) string {
	if s == "" {
		return "off"
	}
	return s
}

func round3(v float64) float64 {
	if math.IsNaN(v) {
		return 0
	}
	return math.Round(v*1000) / 1000
}

func loadDevState(dir string, seed int64) devState {
	st := devState{Seed: seed}
	if b, err := os.ReadFile(filepath.Join(dir, "dev-state.json")); err == nil {
		_ = json.Unmarshal(b, &st)
	}
	return st
}

func saveDevState(dir string, st devState) {
	b, _ := json.Marshal(st)
	_ = os.WriteFile(filepath.Join(dir, "dev-state.json"), b, 0o644)
}

// createTopics creates the input topics if missing.
func createTopics(ctx context.Context, brokers []string, partitions int32, topics ...string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	existing, err := adm.ListTopics(ctx, topics...)
	if err != nil {
		return fmt.Errorf("list topics: %w", err)
	}
	for _, t := range topics {
		if d, ok := existing[t]; ok && d.Err == nil {
			continue
		}
		if _, err := adm.CreateTopic(ctx, partitions, 1, nil, t); err != nil {
			return fmt.Errorf("create topic %s: %w", t, err)
		}
	}
	return nil
}

// runSynthetic produces simulator traffic at rate transactions/s until ctx
// ends, injecting bad records at badFraction. It returns the number of
// transaction records produced (valid and bad) and the last event time.
func runSynthetic(ctx context.Context, p *pipeline.EventProducer, st devState, cards int, rate, badFraction float64, drift bool, stderr io.Writer) (int64, int64, error) {
	sc := synth.DefaultConfig()
	sc.Seed = st.Seed + int64(st.Runs)
	sc.Cards = cards
	sc.Unbounded = true
	if st.NextStart > 0 {
		sc.Start = time.UnixMilli(st.NextStart).UTC()
	}
	if drift {
		sc.DriftAt = sc.Start.Add(20 * 24 * time.Hour)
		fmt.Fprintf(stderr, "  drift:    from event time %s (about %.0fs in at %.0f tx/s)\n", sc.DriftAt.Format(time.RFC3339),
			20*1.43*float64(cards)/max(rate, 1), rate)
	}
	gen, err := synth.New(sc)
	if err != nil {
		return 0, 0, err
	}
	bad := rand.New(rand.NewPCG(uint64(sc.Seed), 0xbad))
	var it synth.Item
	var n, last int64
	pace := newPacer(rate)
	// Records are produced with a background context: ctx only decides
	// when to stop, so no record is half-sent when the run ends.
	bg := context.Background()
	for ctx.Err() == nil {
		if !gen.Next(&it) {
			break
		}
		switch it.Kind {
		case synth.KindTransaction:
			if badFraction > 0 && bad.Float64() < badFraction {
				injectBad(bg, p, "transactions", &it.Tx, it.ArrivalMillis, bad)
			} else if err := p.Transaction(bg, &it.Tx, it.ArrivalMillis); err != nil {
				return p.Transactions.Load(), last, err
			}
			n++
			last = it.Tx.EventTime
			pace.wait(ctx, n)
		case synth.KindLabel:
			if err := p.Label(bg, &it.Label, it.ArrivalMillis); err != nil {
				return p.Transactions.Load(), last, err
			}
		}
	}
	flushCtx, cancel := context.WithTimeout(bg, 30*time.Second)
	defer cancel()
	if err := p.Flush(flushCtx); err != nil {
		return p.Transactions.Load(), last, err
	}
	// The acknowledged count, not the issued one: it is what the pipeline
	// must account for.
	return p.Transactions.Load(), last, ctx.Err()
}

// injectBad writes one malformed or invalid transaction, so that a user of
// `make run` sees the dead-letter path work.
func injectBad(ctx context.Context, p *pipeline.EventProducer, topic string, tx *schemas.Transaction, ts int64, rng *rand.Rand) {
	switch rng.IntN(3) {
	case 0: // not Avro at all
		p.Raw(ctx, topic, []byte(tx.CardID), []byte("{\"not\":\"avro\"}"), ts, &p.Transactions)
	case 1: // valid Avro, amount out of range
		bad := *tx
		bad.Amount = -bad.Amount - 1
		_ = p.Transaction(ctx, &bad, ts)
	default: // valid Avro, currency outside the allowed set
		bad := *tx
		bad.Currency = "XXX"
		_ = p.Transaction(ctx, &bad, ts)
	}
}

// pacer spreads n events over time at a fixed rate (0 = unlimited).
type pacer struct {
	rate  float64
	start time.Time
}

func newPacer(rate float64) *pacer { return &pacer{rate: rate, start: time.Now()} }

func (p *pacer) wait(ctx context.Context, n int64) {
	if p.rate <= 0 || n%64 != 0 {
		return
	}
	due := p.start.Add(time.Duration(float64(n) / p.rate * float64(time.Second)))
	if d := time.Until(due); d > 0 {
		select {
		case <-ctx.Done():
		case <-time.After(d):
		}
	}
}

// progress prints a live line every second until done closes.
func progress(done <-chan struct{}, runErr <-chan error, r *pipeline.Runner, w io.Writer, quiet bool, start time.Time) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var lastN int64
	lastT := start
	for {
		select {
		case <-done:
			return
		case <-tick.C:
		}
		if quiet {
			continue
		}
		p := &r.Progress
		n := p.EventsIn.Load()
		now := time.Now()
		rate := float64(n-lastN) / now.Sub(lastT).Seconds()
		lastN, lastT = n, now
		ms := r.MonitorSummary()
		fmt.Fprintf(w, "\r%5.0fs %7.0f ev/s in=%d approve=%d decline=%d review=%d explored=%d dlq=%d p99=%.1fms | psi amount %.2f max %.2f (%s) score %.2f | outcomes %d recall ipw %.2f naive %.2f   ",
			now.Sub(start).Seconds(), rate, n, p.Approve.Load(), p.Decline.Load(), p.Review.Load(), p.Explored.Load(),
			p.DLQ.Load(), p.Latency.Quantile(0.99), ms.AmountPSI, ms.MaxPSI, ms.MaxPSIFeature, ms.ScorePSI, ms.Outcomes, ms.IPWRecall, ms.NaiveRecall)
	}
}

var _ = slog.Default

// printLag prints the group's committed offset and the end offset of every
// input partition (why a drain did not finish).
func printLag(w io.Writer, brokers []string, group, topic string) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	lags, err := adm.Lag(ctx, group)
	if err != nil {
		fmt.Fprintf(w, "lag: %v\n", err)
		return
	}
	lags.Each(func(l kadm.DescribedGroupLag) {
		for _, p := range l.Lag.Sorted() {
			if p.Topic == topic {
				fmt.Fprintf(w, "  %s/%d committed=%d end=%d lag=%d\n", p.Topic, p.Partition, p.Commit.At, p.End.Offset, p.Lag)
			}
		}
	})
}
