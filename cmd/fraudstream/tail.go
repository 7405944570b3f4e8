package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/fraudstream/fraudstream/operators/features"
	"github.com/fraudstream/fraudstream/pipeline"
	"github.com/fraudstream/fraudstream/schemas"
)

func init() {
	register("tail", "print decisions (or dead letters) from a topic as JSON lines", cmdTail)
}

func cmdTail(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flagSet("tail", stderr)
	var brokers stringList
	fs.Var(&brokers, "brokers", "Kafka bootstrap servers (default $FRAUDSTREAM_BROKERS or 127.0.0.1:9092)")
	topic := fs.String("topic", "decisions", "topic to read: a decisions topic or a dead-letter topic")
	from := fs.String("from", "start", "where to begin: start, end, or an RFC 3339 time / Unix ms timestamp")
	follow := fs.Bool("follow", false, "keep waiting for new records (default: stop at the end offsets seen at start)")
	format := fs.String("format", "confluent", "wire format: confluent or avro")
	registry := fs.String("registry", "http://127.0.0.1:8081", "schema registry URL (format confluent)")
	limit := fs.Int("n", 0, "stop after n records (0 = no limit)")
	uncommitted := fs.Bool("read-uncommitted", false, "also show records of open or aborted transactions")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(brokers) == 0 {
		cfg := pipeline.DefaultConfig()
		cfg.ApplyEnv(getenv)
		brokers = cfg.Brokers
	}
	start := kgo.NewOffset().AtStart()
	switch *from {
	case "start":
	case "end":
		start = kgo.NewOffset().AtEnd()
	default:
		ms, err := parseTime(*from)
		if err != nil {
			return fmt.Errorf("--from %q: want start, end, RFC 3339 or Unix milliseconds", *from)
		}
		start = kgo.NewOffset().AfterMilli(ms)
	}
	var lookup schemas.SchemaLookup
	if schemas.Format(*format) == schemas.FormatConfluent {
		reg, err := sr.NewClient(sr.URLs(*registry), sr.HTTPClient(&http.Client{Timeout: 10 * time.Second}))
		if err != nil {
			return err
		}
		lookup = func(ctx context.Context, id int) (string, error) {
			s, err := reg.SchemaByID(ctx, id)
			return s.Schema, err
		}
	}
	codec, err := schemas.NewCodec[schemas.Decision](schemas.DecisionFile, schemas.Format(*format), "", lookup)
	if err != nil {
		return err
	}
	iso := kgo.ReadCommitted()
	if *uncommitted {
		iso = kgo.ReadUncommitted()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(*topic), kgo.ConsumeResetOffset(start),
		kgo.FetchIsolationLevel(iso), kgo.KeepControlRecords())
	if err != nil {
		return err
	}
	defer cl.Close()

	// Without --follow, stop at the end offsets as of now.
	var ends map[int32]int64
	if !*follow {
		lo, err := kadm.NewClient(cl).ListEndOffsets(ctx, *topic)
		if err != nil {
			return fmt.Errorf("list end offsets of %s: %w", *topic, err)
		}
		ends = map[int32]int64{}
		lo.Each(func(o kadm.ListedOffset) {
			if o.Err == nil && o.Offset > 0 {
				ends[o.Partition] = o.Offset
			}
		})
		if lo.Error() != nil {
			return fmt.Errorf("topic %s: %w", *topic, lo.Error())
		}
	}
	out := bufio.NewWriter(stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	printed := 0
	done := func() bool {
		if *limit > 0 && printed >= *limit {
			return true
		}
		return ends != nil && len(ends) == 0
	}
	for !done() {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var ferr error
		fetches.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil {
			return ferr
		}
		fetches.EachRecord(func(r *kgo.Record) {
			if ends != nil {
				if end, ok := ends[r.Partition]; ok && r.Offset+1 >= end {
					delete(ends, r.Partition)
				} else if !ok {
					return
				}
			}
			if r.Attrs.IsControl() || done() {
				return
			}
			v, err := renderRecord(ctx, codec, r)
			if err != nil {
				v = map[string]any{"partition": r.Partition, "offset": r.Offset, "error": err.Error(),
					"value_base64": base64.StdEncoding.EncodeToString(r.Value)}
			}
			_ = enc.Encode(v)
			printed++
		})
		out.Flush()
	}
	return nil
}

// renderRecord turns a decision or a dead letter into a JSON-able value.
func renderRecord(ctx context.Context, codec *schemas.Codec[schemas.Decision], r *kgo.Record) (any, error) {
	hdr := map[string]string{}
	for _, h := range r.Headers {
		hdr[h.Key] = string(h.Value)
	}
	if reason, ok := hdr[pipeline.HeaderReason]; ok {
		srcPart, _ := strconv.Atoi(hdr[pipeline.HeaderPartition])
		srcOff, _ := strconv.ParseInt(hdr[pipeline.HeaderOffset], 10, 64)
		return map[string]any{
			"dead_letter": true, "partition": r.Partition, "offset": r.Offset,
			"reason": reason, "detail": hdr[pipeline.HeaderDetail],
			"source_topic": hdr[pipeline.HeaderTopic], "source_partition": srcPart, "source_offset": srcOff,
			"key": string(r.Key), "value_base64": base64.StdEncoding.EncodeToString(r.Value),
		}, nil
	}
	var d schemas.Decision
	if err := codec.Decode(ctx, r.Value, &d); err != nil {
		return nil, err
	}
	return decisionJSON{&d}, nil
}

// decisionJSON renders a decision with its features as an ordered object
// {name: value} (null for a missing value) when the feature set is known.
type decisionJSON struct{ d *schemas.Decision }

func (j decisionJSON) MarshalJSON() ([]byte, error) {
	d := j.d
	type plain schemas.Decision
	feats := d.Features
	cp := *d
	cp.Features = nil
	b, err := json.Marshal((*plain)(&cp))
	if err != nil || feats == nil {
		return b, err
	}
	var sb strings.Builder
	sb.Write(b[:len(b)-1])
	sb.WriteString(`,"features":{`)
	names := features.Names()
	for i, v := range feats {
		if i > 0 {
			sb.WriteByte(',')
		}
		name := "f" + strconv.Itoa(i)
		if d.FeatureSet == features.SetVersion && i < len(names) {
			name = names[i]
		}
		sb.WriteString(strconv.Quote(name))
		sb.WriteByte(':')
		if math.IsNaN(v) || math.IsInf(v, 0) {
			sb.WriteString("null")
		} else {
			sb.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
		}
	}
	sb.WriteString("}}")
	return []byte(sb.String()), nil
}

// parseTime accepts RFC 3339 or Unix milliseconds.
func parseTime(s string) (int64, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return ms, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, errors.New("not a time")
	}
	return t.UnixMilli(), nil
}

func getenv(k string) string { return os.Getenv(k) }
