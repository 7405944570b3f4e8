package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/fraudstream/fraudstream/pipeline"
	"github.com/fraudstream/fraudstream/pipeline/synth"
	"github.com/fraudstream/fraudstream/pipeline/txfile"
	"github.com/fraudstream/fraudstream/schemas"
)

func init() {
	register("produce", "write transactions (and labels) to Kafka from a CSV/JSONL file or the simulator", cmdProduce)
}

func cmdProduce(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flagSet("produce", stderr)
	var brokers stringList
	fs.Var(&brokers, "brokers", "Kafka bootstrap servers (default $FRAUDSTREAM_BROKERS or 127.0.0.1:9092)")
	topic := fs.String("topic", "transactions", "transactions topic")
	labelsTopic := fs.String("labels-topic", "labels", "labels topic (\"\" = do not produce labels)")
	format := fs.String("format", "confluent", "wire format: confluent (schema registry) or avro (plain binary)")
	registry := fs.String("registry", "", "schema registry URL (default $FRAUDSTREAM_REGISTRY_URL or http://127.0.0.1:8081)")
	input := fs.String("input", "", "transactions file: .csv or .jsonl (optionally .gz); columns = Transaction field names")
	labels := fs.String("labels", "", "labels file: .csv or .jsonl; columns = Label field names")
	synthetic := fs.Bool("synthetic", false, "produce the simulator's traffic instead of a file")
	seed := fs.Int64("seed", 1, "simulator seed (--synthetic)")
	cards := fs.Int("cards", 20000, "simulated cards (--synthetic)")
	days := fs.Int("days", 120, "simulated days of event time (--synthetic); 0 = unbounded")
	rate := fs.Float64("rate", 0, "transactions per second (0 = as fast as possible)")
	count := fs.Int64("count", 0, "stop after this many transactions (0 = all)")
	tsEvent := fs.Bool("timestamp-event-time", false, "file input: use event_time as the record timestamp instead of the time of producing")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if (*input == "") == !*synthetic {
		return errors.New("give exactly one of --input FILE or --synthetic")
	}
	cfg := pipeline.DefaultConfig()
	cfg.ApplyEnv(os.Getenv)
	if len(brokers) > 0 {
		cfg.Brokers = brokers
	}
	if *registry != "" {
		cfg.Registry.URL = *registry
	}
	p, err := pipeline.NewEventProducer(ctx, pipeline.ProducerConfig{Brokers: cfg.Brokers, TransactionsTopic: *topic,
		LabelsTopic: *labelsTopic, Format: schemas.Format(*format), RegistryURL: cfg.Registry.URL})
	if err != nil {
		return err
	}
	defer p.Close()
	pace := newPacer(*rate)
	var n int64
	start := time.Now()
	if *synthetic {
		sc := synth.DefaultConfig()
		sc.Seed, sc.Cards = *seed, *cards
		if *days == 0 {
			sc.Unbounded = true
		} else {
			sc.Duration = time.Duration(*days) * 24 * time.Hour
		}
		gen, err := synth.New(sc)
		if err != nil {
			return err
		}
		var it synth.Item
		for ctx.Err() == nil && gen.Next(&it) && (*count == 0 || n < *count) {
			if it.Kind == synth.KindLabel {
				if err := p.Label(ctx, &it.Label, it.ArrivalMillis); err != nil {
					return err
				}
				continue
			}
			if err := p.Transaction(ctx, &it.Tx, it.ArrivalMillis); err != nil {
				return err
			}
			n++
			pace.wait(ctx, n)
		}
	} else {
		tr, err := txfile.OpenTransactions(*input)
		if err != nil {
			return err
		}
		defer tr.Close()
		var tx schemas.Transaction
		for ctx.Err() == nil && (*count == 0 || n < *count) {
			if err := tr.Next(&tx); err == io.EOF {
				break
			} else if err != nil {
				return err
			}
			ts := time.Now().UnixMilli()
			if *tsEvent {
				ts = tx.EventTime
			}
			if err := p.Transaction(ctx, &tx, ts); err != nil {
				return err
			}
			n++
			pace.wait(ctx, n)
		}
		if *labels != "" {
			lr, err := txfile.OpenLabels(*labels)
			if err != nil {
				return err
			}
			defer lr.Close()
			var l schemas.Label
			for ctx.Err() == nil {
				if err := lr.Next(&l); err == io.EOF {
					break
				} else if err != nil {
					return err
				}
				if err := p.Label(ctx, &l, time.Now().UnixMilli()); err != nil {
					return err
				}
			}
		}
	}
	flushCtx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := p.Flush(flushCtx); err != nil {
		return err
	}
	el := time.Since(start).Seconds()
	fmt.Fprintf(stderr, "produced %d transactions and %d labels in %.1fs (%.0f tx/s)\n",
		p.Transactions.Load(), p.Labels.Load(), el, float64(p.Transactions.Load())/el)
	return ctx.Err()
}
