package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fraudstream/fraudstream/schemas"
)

// ReplayOptions selects what a topic replay reads.
type ReplayOptions struct {
	Brokers []string
	Format  schemas.Format
	// RegistryURL for FormatConfluent.
	RegistryURL string
	Topic       string
	// StartMillis: the replay starts at the first record whose Kafka
	// timestamp is ≥ StartMillis (0 = the beginning). Use the export range's
	// start minus a warm-up of at least the longest window, so that the
	// first exported rows have full windows.
	StartMillis int64
	// KafkaOpts are extra franz-go options.
	KafkaOpts []kgo.Opt
}

// ReplayTransactions reads every partition of a transactions topic, one
// partition after the other, each in offset order, from StartMillis up to
// the end offsets as of the call, and hands each decodable transaction with
// its record timestamp to fn. A card's events are all in one partition, so
// fn sees every card's events in exactly the order the streaming pipeline
// processed them. Records that do not decode are counted in the returned
// map by reason and skipped, as the pipeline would dead-letter them.
func ReplayTransactions(ctx context.Context, o ReplayOptions, fn func(tx *schemas.Transaction, recordMillis int64) error) (map[string]int64, error) {
	var lookup schemas.SchemaLookup
	if o.Format == schemas.FormatConfluent {
		lookup = registryLookup(o.RegistryURL)
	}
	codec, err := schemas.NewCodec[schemas.Transaction](schemas.TransactionFile, o.Format, "", lookup)
	if err != nil {
		return nil, err
	}
	skipped := map[string]int64{}
	var tx schemas.Transaction
	err = replayTopic(ctx, o, func(r *kgo.Record) error {
		if err := codec.Decode(ctx, r.Value, &tx); err != nil {
			switch {
			case errors.Is(err, schemas.ErrMalformed):
				skipped["decode_error"]++
				return nil
			case errors.Is(err, schemas.ErrUnknownSchema):
				skipped["unknown_schema"]++
				return nil
			}
			return err
		}
		return fn(&tx, r.Timestamp.UnixMilli())
	})
	return skipped, err
}

// ReplayLabels reads a labels topic from the start to its end offsets.
func ReplayLabels(ctx context.Context, o ReplayOptions, fn func(l *schemas.Label) error) error {
	var lookup schemas.SchemaLookup
	if o.Format == schemas.FormatConfluent {
		lookup = registryLookup(o.RegistryURL)
	}
	codec, err := schemas.NewCodec[schemas.Label](schemas.LabelFile, o.Format, "", lookup)
	if err != nil {
		return err
	}
	var l schemas.Label
	return replayTopic(ctx, o, func(r *kgo.Record) error {
		if err := codec.Decode(ctx, r.Value, &l); err != nil {
			if errors.Is(err, schemas.ErrMalformed) || errors.Is(err, schemas.ErrUnknownSchema) {
				return nil
			}
			return err
		}
		return fn(&l)
	})
}

func replayTopic(ctx context.Context, o ReplayOptions, fn func(*kgo.Record) error) error {
	admCl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(o.Brokers...)}, o.KafkaOpts...)...)
	if err != nil {
		return err
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	ends, err := adm.ListEndOffsets(ctx, o.Topic)
	if err != nil {
		return fmt.Errorf("end offsets of %s: %w", o.Topic, err)
	}
	if ends.Error() != nil {
		return fmt.Errorf("topic %s: %w", o.Topic, ends.Error())
	}
	var parts []kadm.ListedOffset
	ends.Each(func(lo kadm.ListedOffset) { parts = append(parts, lo) })
	slices.SortFunc(parts, func(a, b kadm.ListedOffset) int { return int(a.Partition - b.Partition) })
	for _, lo := range parts {
		if lo.Offset == 0 {
			continue
		}
		start := kgo.NewOffset().AtStart()
		if o.StartMillis > 0 {
			start = kgo.NewOffset().AfterMilli(o.StartMillis)
		}
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(o.Brokers...),
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{o.Topic: {lo.Partition: start}}),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords()}, o.KafkaOpts...)...)
		if err != nil {
			return err
		}
		err = func() error {
			defer cl.Close()
			for {
				pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				fs := cl.PollFetches(pctx)
				cancel()
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if fs.NumRecords() == 0 {
					// Nothing left at or after the start time.
					return nil
				}
				var ferr error
				fs.EachError(func(_ string, _ int32, err error) {
					if !errors.Is(err, context.DeadlineExceeded) {
						ferr = err
					}
				})
				if ferr != nil {
					return ferr
				}
				last := int64(-1)
				for _, r := range fs.Records() {
					last = r.Offset
					if r.Offset >= lo.Offset {
						return nil
					}
					if r.Attrs.IsControl() {
						continue
					}
					if err := fn(r); err != nil {
						return err
					}
				}
				if last+1 >= lo.Offset {
					return nil
				}
			}
		}()
		if err != nil {
			return fmt.Errorf("replay %s/%d: %w", o.Topic, lo.Partition, err)
		}
	}
	return nil
}
