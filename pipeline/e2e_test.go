package pipeline

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fraudstream/fraudstream/operators/features"
	"github.com/fraudstream/fraudstream/pipeline/registry"
	"github.com/fraudstream/fraudstream/pipeline/synth"
	"github.com/fraudstream/fraudstream/schemas"
)

// testWorld is an embedded Kafka + registry with a synthetic input written
// once, shared by the runs of a test.
type testWorld struct {
	t         testing.TB
	brokers   []string
	registry  string
	valid     map[string]schemas.Transaction // by transaction id
	bad       map[string]string              // DLQ: card key|value → expected reason
	badValues map[string][]byte
	produced  int64
	// sent are the decodable transactions in the order produced, with
	// their record timestamps (for the offline replay).
	sent []sentTx
	// labels produced, by transaction id
	labels map[string]schemas.Label
}

type sentTx struct {
	tx schemas.Transaction
	ts int64
}

const testModel = "../models/testdata/tiny"

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newTestWorld(t testing.TB, partitions int32, cards int, days int) *testWorld {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, "transactions", "labels"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	reg := registry.New()
	ctx := context.Background()
	url, err := reg.Start(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	w := &testWorld{t: t, brokers: c.ListenAddrs(), registry: url, valid: map[string]schemas.Transaction{},
		bad: map[string]string{}, badValues: map[string][]byte{}, labels: map[string]schemas.Label{}}

	p, err := NewEventProducer(ctx, ProducerConfig{Brokers: w.brokers, TransactionsTopic: "transactions",
		LabelsTopic: "labels", Format: schemas.FormatConfluent, RegistryURL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	sc := synth.DefaultConfig()
	sc.Seed, sc.Cards, sc.Duration = 7, cards, time.Duration(days)*24*time.Hour
	gen, err := synth.New(sc)
	if err != nil {
		t.Fatal(err)
	}
	var it synth.Item
	i := 0
	for gen.Next(&it) {
		if it.Kind != synth.KindTransaction {
			_ = p.Label(ctx, &it.Label, it.ArrivalMillis)
			w.labels[it.Label.TransactionID] = it.Label
			continue
		}
		i++
		tx := it.Tx
		// Every 97th record is made bad in one of several ways; each must
		// reach the DLQ with its reason and original bytes.
		if i%97 == 0 {
			key := fmt.Sprintf("bad-%d", i)
			switch (i / 97) % 6 {
			case 0:
				v := []byte("garbage " + key)
				p.Raw(ctx, "transactions", []byte(key), v, it.ArrivalMillis, &p.Transactions)
				w.bad[key], w.badValues[key] = "decode_error", v
				continue
			case 1:
				tx.Amount = 2_000_000
				w.bad[tx.TransactionID] = "amount_out_of_range"
			case 2:
				tx.Currency = "XXX"
				w.bad[tx.TransactionID] = "currency_not_allowed"
			case 3:
				tx.EventTime = it.ArrivalMillis + 3_600_000
				w.bad[tx.TransactionID] = "future_event_time"
			case 4:
				tx.TransactionID = ""
				tx.MerchantID = key // to recognise it
				w.bad[key] = "missing_field"
			case 5:
				// 200 days before the card's activity: older than the
				// longest window plus the allowed lateness, unless it is
				// the card's first event.
				tx.EventTime -= 200 * 24 * 3_600_000
				w.bad[tx.TransactionID] = "too_late?"
			}
			w.sent = append(w.sent, sentTx{tx, it.ArrivalMillis})
			if err := p.Transaction(ctx, &tx, it.ArrivalMillis); err != nil {
				t.Fatal(err)
			}
			continue
		}
		w.valid[tx.TransactionID] = tx
		w.sent = append(w.sent, sentTx{tx, it.ArrivalMillis})
		if err := p.Transaction(ctx, &tx, it.ArrivalMillis); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	w.produced = p.Transactions.Load()
	return w
}

func (w *testWorld) config(name string) Config {
	cfg := DefaultConfig()
	cfg.Brokers = w.brokers
	cfg.Registry.URL = w.registry
	cfg.Group = "g-" + name
	cfg.InstanceID = name
	cfg.Topics.Decisions = "decisions-" + name
	cfg.Topics.DLQ = "dlq-" + name
	cfg.Topics.Changelog = "changelog-" + name
	cfg.Topics.Outcomes = "outcomes-" + name
	cfg.State.Dir = w.t.TempDir()
	cfg.Model.Dir = testModel
	cfg.Metrics.Addr = ""
	return cfg
}

// runUntil runs a pipeline until it has committed `want` input records (or
// the deadline), then stops it.
func (w *testWorld) runUntil(cfg Config, want int64) *Runner {
	w.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, err := NewRunner(ctx, cfg, WithLogger(testLogger(w.t)))
	if err != nil {
		w.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	deadline := time.After(90 * time.Second)
	for r.Progress.EventsIn.Load() < want {
		select {
		case err := <-done:
			w.t.Fatalf("runner stopped early: %v", err)
		case <-deadline:
			w.t.Fatalf("timeout: %d of %d records processed", r.Progress.EventsIn.Load(), want)
		case <-time.After(20 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; err != nil {
		w.t.Fatal(err)
	}
	return r
}

// readAll reads a topic to its end with read_committed.
func (w *testWorld) readAll(topic string) []*kgo.Record {
	w.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(w.brokers...), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		w.t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	idle := 0
	for idle < 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		if fs.NumRecords() == 0 {
			idle++
			continue
		}
		idle = 0
		out = append(out, fs.Records()...)
	}
	return out
}

func (w *testWorld) decisions(topic string) map[string]schemas.Decision {
	w.t.Helper()
	codec, err := schemas.NewCodec[schemas.Decision](schemas.DecisionFile, schemas.FormatConfluent, "", registryLookup(w.registry))
	if err != nil {
		w.t.Fatal(err)
	}
	out := map[string]schemas.Decision{}
	for _, r := range w.readAll(topic) {
		var d schemas.Decision
		if err := codec.Decode(context.Background(), r.Value, &d); err != nil {
			w.t.Fatalf("decode decision at %d/%d: %v", r.Partition, r.Offset, err)
		}
		if _, dup := out[d.TransactionID]; dup {
			w.t.Errorf("duplicate decision for %s", d.TransactionID)
		}
		if string(r.Key) != d.CardID {
			w.t.Errorf("decision key %q != card_id %q", r.Key, d.CardID)
		}
		out[d.TransactionID] = d
	}
	return out
}

// The acceptance test of the spine: every valid input gets exactly one
// decision, every bad one lands in the DLQ with its reason and original
// bytes, nothing is lost, and two runs over the same input (different
// batching, the second interrupted and restarted on an empty disk) give
// identical decisions in every field but decided_at.
func TestEndToEndExactlyOneDecisionAndDeterminism(t *testing.T) {
	w := newTestWorld(t, 4, 150, 40)
	t.Logf("produced %d transactions (%d valid, %d bad)", w.produced, len(w.valid), len(w.bad))

	cfgA := w.config("a")
	rA := w.runUntil(cfgA, w.produced)
	decA := w.decisions(cfgA.Topics.Decisions)

	// DLQ: original bytes, reasons, source coordinates.
	dlq := w.readAll(cfgA.Topics.DLQ)
	reasons := map[string]int{}
	tooLate := 0
	for _, r := range dlq {
		h := map[string]string{}
		for _, kv := range r.Headers {
			h[kv.Key] = string(kv.Value)
		}
		reason := h[HeaderReason]
		reasons[reason]++
		if h[HeaderTopic] != "transactions" || h[HeaderOffset] == "" || h[HeaderDetail] == "" {
			t.Errorf("dead letter without source coordinates or detail: %v", h)
		}
		if v, ok := w.badValues[string(r.Key)]; ok && string(v) != string(r.Value) {
			t.Errorf("dead letter lost the original bytes: %q vs %q", r.Value, v)
		}
		if reason == "too_late" {
			tooLate++
		}
	}
	// A "too late" injection that hit a card's first event is valid and
	// decided; count how many were decided that way.
	lateDecided := 0
	for id, want := range w.bad {
		if want == "too_late?" {
			if _, ok := decA[id]; ok {
				lateDecided++
			}
		}
	}
	nBad := len(w.bad)
	if got := int64(len(decA) + len(dlq)); got != w.produced {
		t.Fatalf("lost or duplicated records: %d decisions + %d dead letters != %d produced", len(decA), len(dlq), w.produced)
	}
	if len(dlq) != nBad-lateDecided {
		t.Errorf("dead letters %d, want %d (reasons %v)", len(dlq), nBad-lateDecided, reasons)
	}
	for _, r := range []string{"decode_error", "amount_out_of_range", "currency_not_allowed", "future_event_time", "missing_field", "too_late"} {
		if reasons[r] == 0 {
			t.Errorf("no dead letter with reason %s (got %v)", r, reasons)
		}
	}
	for id := range w.valid {
		if _, ok := decA[id]; !ok {
			t.Fatalf("valid transaction %s has no decision", id)
		}
	}
	if n := rA.Progress.Decisions.Load(); n != int64(len(decA)) {
		t.Errorf("progress says %d decisions, topic has %d", n, len(decA))
	}
	actions := map[string]int{}
	for _, d := range decA {
		actions[d.Action]++
		if d.Flagged && !d.Explored && d.Action != schemas.ActionDecline {
			t.Errorf("flagged, not explored, not declined: %+v", d)
		}
		if len(d.Features) != 22 {
			t.Fatalf("decision carries %d features", len(d.Features))
		}
	}
	t.Logf("actions %v, dlq reasons %v", actions, reasons)

	// Label join: every label of a decided transaction gives exactly one
	// outcome carrying the decision, the label and weight 1/propensity.
	ocodec, err := schemas.NewCodec[schemas.Outcome](schemas.OutcomeFile, schemas.FormatConfluent, "", registryLookup(w.registry))
	if err != nil {
		t.Fatal(err)
	}
	outcomes := map[string]schemas.Outcome{}
	for _, r := range w.readAll(cfgA.Topics.Outcomes) {
		var o schemas.Outcome
		if err := ocodec.Decode(context.Background(), r.Value, &o); err != nil {
			t.Fatal(err)
		}
		if _, dup := outcomes[o.TransactionID]; dup {
			t.Fatalf("two outcomes for %s", o.TransactionID)
		}
		outcomes[o.TransactionID] = o
	}
	wantOutcomes := 0
	for id, l := range w.labels {
		d, decided := decA[id]
		if !decided {
			continue
		}
		wantOutcomes++
		o, ok := outcomes[id]
		if !ok {
			t.Fatalf("label of %s has no outcome", id)
		}
		if o.IsFraud != l.IsFraud || o.LabelTime != l.LabelTime || o.Score != d.Score || o.Action != d.Action ||
			o.Propensity != d.Propensity || o.Weight != 1/d.Propensity || o.LabelDelayMs != l.LabelTime-d.EventTime || o.Kind != "label" {
			t.Fatalf("outcome %+v for decision %+v and label %+v", o, d, l)
		}
	}
	if wantOutcomes == 0 || len(outcomes) != wantOutcomes {
		t.Fatalf("%d outcomes, want %d", len(outcomes), wantOutcomes)
	}
	t.Logf("%d labels joined into outcomes", len(outcomes))

	// Monitoring: drift for every feature and the score, input null rates,
	// naive and IPW performance of the model version, all promlint-clean.
	rA.monitoring.export(true)
	mfs, err := rA.Metrics().Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := map[string]int{}
	for _, mf := range mfs {
		series[mf.GetName()] = len(mf.GetMetric())
	}
	for name, want := range map[string]int{"fraudstream_feature_psi": 22, "fraudstream_feature_ks": 22,
		"fraudstream_feature_null_rate": 22, "fraudstream_input_null_rate": 4, "fraudstream_score_psi": 1,
		"fraudstream_score_mean_shift_sigmas": 1, "fraudstream_model_precision": 2, "fraudstream_model_recall": 2,
		"fraudstream_label_coverage_ratio": 1, "fraudstream_labels_total": 6, "fraudstream_model_baseline_pr_auc": 1} {
		if series[name] < want {
			t.Errorf("metric %s has %d series, want >= %d", name, series[name], want)
		}
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}

	// Run B: tiny batches, stopped halfway and restarted with its state
	// directory deleted (so the second half restores from the changelog).
	cfgB := w.config("b")
	cfgB.Batch.MaxRecords = 97
	first := w.runUntil(cfgB, w.produced/2)
	cfgB.State.Dir = t.TempDir()
	w.runUntil(cfgB, w.produced-first.Progress.EventsIn.Load())
	decB := w.decisions(cfgB.Topics.Decisions)
	if len(decB) != len(decA) {
		t.Fatalf("run B has %d decisions, run A %d", len(decB), len(decA))
	}
	diffs := 0
	for id, a := range decA {
		b := decB[id]
		a.DecidedAt, b.DecidedAt = 0, 0
		if !sameDecision(a, b) {
			diffs++
			if diffs < 5 {
				t.Errorf("decision %s differs:\nA %+v\nB %+v", id, a, b)
			}
		}
	}
	if diffs > 0 {
		t.Fatalf("%d of %d decisions differ between runs", diffs, len(decA))
	}
}

// sameDecision compares decisions bit for bit (NaN features equal by bits).
func sameDecision(a, b schemas.Decision) bool {
	fa, fb := a.Features, b.Features
	a.Features, b.Features = nil, nil
	if !reflect.DeepEqual(a, b) || len(fa) != len(fb) {
		return false
	}
	for i := range fa {
		if math.Float64bits(fa[i]) != math.Float64bits(fb[i]) {
			return false
		}
	}
	return true
}

// The seed's skew test: offline predictions (features export + scoring of
// the same events, in the order they were produced) equal the production
// decisions of a streaming run, field for field (all but decided_at).
func TestOnlineOfflineParity(t *testing.T) {
	w := newTestWorld(t, 3, 120, 30)
	cfg := w.config("online")
	w.runUntil(cfg, w.produced)
	online := w.decisions(cfg.Topics.Decisions)

	serving, err := LoadServing(testModel, cfg.Decision)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	ex, err := NewFeatureExporter(&buf, ExportOptions{Windows: cfg.WindowsConfig(), Rules: cfg.Rules(), Serving: serving})
	if err != nil {
		t.Fatal(err)
	}
	for i := range w.sent {
		if err := ex.Add(&w.sent[i].tx, w.sent[i].ts); err != nil {
			t.Fatal(err)
		}
	}
	if err := ex.Close(); err != nil {
		t.Fatal(err)
	}
	fromFile := buf.String()

	// The same export replayed from the Kafka topic (each partition in
	// offset order, record timestamps from the log) gives the same rows, up
	// to the order of cards across partitions.
	var topicBuf bytes.Buffer
	tex, err := NewFeatureExporter(&topicBuf, ExportOptions{Windows: cfg.WindowsConfig(), Rules: cfg.Rules(), Serving: serving})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ReplayTransactions(context.Background(), ReplayOptions{Brokers: w.brokers, Format: schemas.FormatConfluent,
		RegistryURL: w.registry, Topic: "transactions"}, tex.Add); err != nil {
		t.Fatal(err)
	}
	if err := tex.Close(); err != nil {
		t.Fatal(err)
	}
	sortedLines := func(s string) []string {
		l := strings.Split(strings.TrimSpace(s), "\n")
		slices.Sort(l)
		return l
	}
	if a, b := sortedLines(fromFile), sortedLines(topicBuf.String()); !slices.Equal(a, b) {
		t.Fatalf("topic replay export differs from the produced-order export (%d vs %d lines)", len(b), len(a))
	}

	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	head, rows := rows[0], rows[1:]
	col := map[string]int{}
	for i, h := range head {
		col[h] = i
	}
	if len(rows) != len(online) {
		t.Fatalf("offline export has %d rows, the stream %d decisions", len(rows), len(online))
	}
	names := features.Names()
	for _, row := range rows {
		d, ok := online[row[col["transaction_id"]]]
		if !ok {
			t.Fatalf("offline row %s has no online decision", row[0])
		}
		for i, n := range names {
			off := math.NaN()
			if c := row[col[n]]; c != "" {
				if off, err = strconv.ParseFloat(c, 64); err != nil {
					t.Fatal(err)
				}
			}
			if math.Float64bits(off) != math.Float64bits(d.Features[i]) {
				t.Fatalf("%s %s: offline %v online %v", d.TransactionID, n, off, d.Features[i])
			}
		}
		score, _ := strconv.ParseFloat(row[col["score"]], 64)
		prop, _ := strconv.ParseFloat(row[col["propensity"]], 64)
		if score != d.Score || row[col["action"]] != d.Action || row[col["explored"]] != strconv.FormatBool(d.Explored) ||
			prop != d.Propensity || row[col["model_version"]] != d.ModelVersion || strconv.FormatInt(d.EventTime, 10) != row[col["event_time"]] {
			t.Fatalf("%s: offline %v, online %+v", d.TransactionID, row[len(names)+3:], d)
		}
	}
	t.Logf("%d decisions identical online and offline", len(rows))
}
