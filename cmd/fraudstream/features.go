package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"time"

	"github.com/fraudstream/fraudstream/pipeline"
	"github.com/fraudstream/fraudstream/pipeline/synth"
	"github.com/fraudstream/fraudstream/pipeline/txfile"
	"github.com/fraudstream/fraudstream/schemas"
)

func init() {
	register("features", "features export: point-in-time feature rows (and labels) for training and backtests", cmdFeatures)
	register("backtest", "replay history through a candidate model and score its decisions against the labels", cmdBacktest)
}

func cmdFeatures(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "export" {
		return errors.New("usage: fraudstream features export [--input events.csv --labels labels.jsonl | --synthetic | --topic T] --output features.csv")
	}
	return replayHistory(ctx, "features export", args[1:], stdout, stderr, false)
}

func cmdBacktest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return replayHistory(ctx, "backtest", args, stdout, stderr, true)
}

// replayHistory runs features export (backtest=false) or backtest over one
// history source: the same sources, the same operators, the same order.
func replayHistory(ctx context.Context, name string, args []string, stdout, stderr io.Writer, backtest bool) error {
	fs := flagSet(name, stderr)
	asJSON := fs.Bool("json", false, "backtest: print the result as JSON")
	input := fs.String("input", "", "transactions file (.csv or .jsonl, optionally .gz), in arrival order")
	labels := fs.String("labels", "", "labels file (.csv or .jsonl)")
	synthetic := fs.Bool("synthetic", false, "replay the simulator instead of a file (labels included)")
	seed := fs.Int64("seed", 1, "simulator seed (--synthetic)")
	cards := fs.Int("cards", 20000, "simulated cards (--synthetic)")
	days := fs.Int("days", 120, "simulated days of event time (--synthetic)")
	output := fs.String("output", "-", "output CSV file (- = stdout)")
	modelDir := fs.String("model", "", "also score each row with this model bundle (backtest columns)")
	cutoff := fs.String("label-cutoff", "", "attach only labels known by this time (RFC 3339 or Unix ms)")
	legit := fs.Bool("unlabelled-legit", false, "write is_fraud=0 for rows without a label (presumed legit) instead of empty")
	from := fs.String("from", "", "write only rows with event_time >= this (earlier rows warm the windows up)")
	to := fs.String("to", "", "write only rows with event_time < this")
	topic := fs.String("topic", "", "replay this Kafka transactions topic (each partition in offset order, record timestamps as the pipeline saw them)")
	labelsTopic := fs.String("labels-topic", "", "with --topic: read labels from this topic")
	var brokers stringList
	fs.Var(&brokers, "brokers", "with --topic: Kafka bootstrap servers (default $FRAUDSTREAM_BROKERS or 127.0.0.1:9092)")
	format := fs.String("format", "confluent", "with --topic: wire format, confluent or avro")
	registry := fs.String("registry", "", "with --topic: schema registry URL (default $FRAUDSTREAM_REGISTRY_URL or http://127.0.0.1:8081)")
	warmup := fs.String("warmup", "97d", "with --topic and --from: start reading this long before --from so that the 90d windows are full (longest window + allowed lateness)")
	configPath := fs.String("config", "", "pipeline config (validation rules, allowed lateness) — the same file `run` uses")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if backtest && *modelDir == "" {
		return errors.New("backtest needs --model BUNDLE_DIR")
	}
	if n := btoi(*input != "") + btoi(*synthetic) + btoi(*topic != ""); n != 1 {
		return errors.New("give exactly one source: --input FILE, --synthetic, or --topic TOPIC (with --brokers)")
	}
	cfg, err := pipeline.LoadConfig(*configPath)
	if err != nil {
		return err
	}
	opts := pipeline.ExportOptions{Windows: cfg.WindowsConfig(), Rules: cfg.Rules(), Labels: map[string]pipeline.LabelInfo{},
		UnlabelledAsLegit: *legit}
	if *cutoff != "" {
		if opts.LabelCutoff, err = parseTime(*cutoff); err != nil {
			return fmt.Errorf("--label-cutoff: %w", err)
		}
	}
	if *from != "" {
		if opts.FromMillis, err = parseTime(*from); err != nil {
			return fmt.Errorf("--from: %w", err)
		}
	}
	if *to != "" {
		if opts.ToMillis, err = parseTime(*to); err != nil {
			return fmt.Errorf("--to: %w", err)
		}
	}
	cfg.ApplyEnv(os.Getenv)
	if len(brokers) > 0 {
		cfg.Brokers = brokers
	}
	if *registry != "" {
		cfg.Registry.URL = *registry
	}
	replay := pipeline.ReplayOptions{Brokers: cfg.Brokers, Format: schemas.Format(*format), RegistryURL: cfg.Registry.URL, Topic: *topic}
	if *topic != "" && opts.FromMillis > 0 {
		w, err := pipeline.ParseDuration(*warmup)
		if err != nil {
			return fmt.Errorf("--warmup: %w", err)
		}
		replay.StartMillis = opts.FromMillis - w.Millis()
	}
	if *labelsTopic != "" {
		lo := replay
		lo.Topic, lo.StartMillis = *labelsTopic, 0
		err := pipeline.ReplayLabels(ctx, lo, func(l *schemas.Label) error {
			if prev, ok := opts.Labels[l.TransactionID]; !ok || l.LabelTime >= prev.LabelTime {
				opts.Labels[l.TransactionID] = pipeline.LabelInfo{IsFraud: l.IsFraud, LabelTime: l.LabelTime}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("read labels topic %s: %w", *labelsTopic, err)
		}
	}
	if *modelDir != "" {
		if opts.Serving, err = pipeline.LoadServing(*modelDir, cfg.Decision); err != nil {
			return err
		}
	}
	var sc synth.Config
	if *synthetic {
		sc = synth.DefaultConfig()
		sc.Seed, sc.Cards, sc.Duration = *seed, *cards, time.Duration(*days)*24*time.Hour
		// First pass: the labels (the simulator is deterministic, so the
		// second pass sees the same transactions).
		gen, err := synth.New(sc)
		if err != nil {
			return err
		}
		var it synth.Item
		for gen.Next(&it) {
			if it.Kind == synth.KindLabel {
				opts.Labels[it.Label.TransactionID] = pipeline.LabelInfo{IsFraud: it.Label.IsFraud, LabelTime: it.Label.LabelTime}
			}
		}
	} else if *labels != "" {
		lr, err := txfile.OpenLabels(*labels)
		if err != nil {
			return err
		}
		var l schemas.Label
		for {
			if err := lr.Next(&l); err == io.EOF {
				break
			} else if err != nil {
				lr.Close()
				return err
			}
			// Latest label_time wins for duplicates (a later correction).
			if prev, ok := opts.Labels[l.TransactionID]; !ok || l.LabelTime >= prev.LabelTime {
				opts.Labels[l.TransactionID] = pipeline.LabelInfo{IsFraud: l.IsFraud, LabelTime: l.LabelTime}
			}
		}
		lr.Close()
	}
	var out io.Writer = stdout
	if !backtest && *output != "-" {
		f, err := os.Create(*output)
		if err != nil {
			return err
		}
		defer f.Close()
		out = f
	}
	var add func(*schemas.Transaction, int64) error
	var ex *pipeline.FeatureExporter
	var bt *pipeline.Backtest
	skipped := map[string]int64{}
	if backtest {
		if bt, err = pipeline.NewBacktest(opts.Serving, opts.Windows, opts.Rules, opts.Labels, opts.FromMillis); err != nil {
			return err
		}
		add = bt.Add
	} else {
		if ex, err = pipeline.NewFeatureExporter(out, opts); err != nil {
			return err
		}
		add = ex.Add
	}
	if *topic != "" {
		if skipped, err = pipeline.ReplayTransactions(ctx, replay, add); err != nil {
			return err
		}
	} else if *synthetic {
		gen, err := synth.New(sc)
		if err != nil {
			return err
		}
		var it synth.Item
		for gen.Next(&it) {
			if it.Kind == synth.KindTransaction {
				if err := add(&it.Tx, it.ArrivalMillis); err != nil {
					return err
				}
			}
		}
	} else {
		tr, err := txfile.OpenTransactions(*input)
		if err != nil {
			return err
		}
		defer tr.Close()
		var tx schemas.Transaction
		for {
			if err := tr.Next(&tx); err == io.EOF {
				break
			} else if err != nil {
				return err
			}
			// A file has no record timestamps: the event time stands in,
			// so the future-event check cannot fire.
			if err := add(&tx, tx.EventTime); err != nil {
				return err
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}
	if backtest {
		r := bt.Finish()
		for k, v := range skipped {
			r.Skipped[k] += v
		}
		if *asJSON {
			return json.NewEncoder(stdout).Encode(jsonSafe(r))
		}
		fmt.Fprintf(stdout, "backtest of %s (threshold %.4g, epsilon %.3g)\n", r.ModelVersion, r.Threshold, r.Epsilon)
		fmt.Fprintf(stdout, "  transactions %d, frauds %d (%.3f%%), skipped %v\n", r.Transactions, r.Frauds, 100*float64(r.Frauds)/max(float64(r.Transactions), 1), r.Skipped)
		fmt.Fprintf(stdout, "  flagged %d: declined %d, explored %d; review %d\n", r.Flagged, r.Declined, r.Explored, r.Review)
		fmt.Fprintf(stdout, "  precision %.4f  recall %.4f  FPR %.5f  decline rate %.4f  frauds declined %.4f\n", r.Precision, r.Recall, r.FPR, r.DeclineRate, r.FraudsCaughtShare)
		fmt.Fprintf(stdout, "  ROC-AUC %.4f  PR-AUC %.4f  recall@1%%FPR %.4f\n", r.ROCAUC, r.PRAUC, r.RecallAt1PctFPR)
		return nil
	}
	if err := ex.Close(); err != nil {
		return err
	}
	for k, v := range skipped {
		ex.Stats.Skipped[k] += v
	}
	fmt.Fprintf(stderr, "features export: %d rows (%d labelled, %d fraud), skipped %v\n",
		ex.Stats.Rows, ex.Stats.Labelled, ex.Stats.Frauds, ex.Stats.Skipped)
	return nil
}

// jsonSafe replaces NaN figures (undefined ratios) by nil for JSON.
func jsonSafe(r pipeline.BacktestResult) map[string]any {
	b, _ := json.Marshal(struct{}{})
	_ = b
	out := map[string]any{}
	v := reflect.ValueOf(r)
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		name := v.Type().Field(i).Name
		if f.Kind() == reflect.Float64 && math.IsNaN(f.Float()) {
			out[name] = nil
			continue
		}
		out[name] = f.Interface()
	}
	return out
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
