package eostest

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fraudstream/fraudstream/pipeline"
	"github.com/fraudstream/fraudstream/pipeline/synth"
	"github.com/fraudstream/fraudstream/schemas"
)

// TopicData is a topic read to its end.
type TopicData struct {
	Records []*kgo.Record   // data records (no control records), in partition order
	End     map[int32]int64 // end offset of each partition when reading began
}

// ReadTopic reads every partition of topic from its start to the end offset
// it had when ReadTopic was called, read_committed: records of aborted
// transactions are skipped, and an open transaction makes ReadTopic wait
// (until ctx ends) rather than return a partial view.
func ReadTopic(ctx context.Context, brokers []string, topic string) (*TopicData, error) {
	adm, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return nil, err
	}
	ends, err := kadm.NewClient(adm).ListEndOffsets(ctx, topic)
	adm.Close()
	if err != nil {
		return nil, fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	if err := ends.Error(); err != nil {
		return nil, fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	td := &TopicData{End: map[int32]int64{}}
	start := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		td.End[o.Partition] = o.Offset
		if o.Offset > 0 {
			start[o.Partition] = kgo.NewOffset().AtStart()
		}
	})
	if len(start) == 0 {
		return td, nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: start}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords(),
		kgo.FetchMaxPartitionBytes(16<<20))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	pos := map[int32]int64{}
	remaining := len(start)
	byPart := map[int32][]*kgo.Record{}
	for remaining > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			var stuck []string
			for p := range start {
				if pos[p] < td.End[p] {
					stuck = append(stuck, fmt.Sprintf("%d at %d of %d", p, pos[p], td.End[p]))
				}
			}
			slices.Sort(stuck)
			return nil, fmt.Errorf("reading %s: %w; partitions not read to their end (an open transaction holds the last stable offset?): %s",
				topic, err, strings.Join(stuck, ", "))
		}
		var ferr error
		fs.EachError(func(_ string, p int32, err error) { ferr = fmt.Errorf("partition %d: %w", p, err) })
		if ferr != nil {
			return nil, fmt.Errorf("reading %s: %w", topic, ferr)
		}
		fs.EachRecord(func(r *kgo.Record) {
			end := td.End[r.Partition]
			if r.Offset >= end || pos[r.Partition] >= end {
				return
			}
			pos[r.Partition] = r.Offset + 1
			if pos[r.Partition] >= end {
				remaining--
			}
			if !r.Attrs.IsControl() {
				byPart[r.Partition] = append(byPart[r.Partition], r)
			}
		})
	}
	parts := make([]int32, 0, len(byPart))
	for p := range byPart {
		parts = append(parts, p)
	}
	slices.Sort(parts)
	for _, p := range parts {
		td.Records = append(td.Records, byPart[p]...)
	}
	return td, nil
}

// Decided is a decision with its place in the decisions topic.
type Decided struct {
	schemas.Decision
	At Loc // in the decisions topic
}

// DeadLetter is a DLQ record.
type DeadLetter struct {
	Rec    *kgo.Record
	Source Loc // from the fraudstream.dlq.partition/offset headers
	Reason string
	Topic  string
}

// Outcome is what a pipeline committed.
type Outcome struct {
	Name      string
	Decisions map[string][]Decided // by transaction id
	DLQ       map[Loc][]DeadLetter // by source location
	NDecided  int                  // decision records
	NDLQ      int                  // dead letters
	KeyErrors []string             // decisions whose key is not the card id
}

// Collect reads a pipeline's decisions and dead letters (read_committed).
func (w *World) Collect(p *Pipeline) *Outcome {
	w.T.Helper()
	codec, err := schemas.NewCodec[schemas.Decision](schemas.DecisionFile, schemas.FormatConfluent, "", w.lookup)
	if err != nil {
		w.T.Fatal(err)
	}
	out := &Outcome{Name: p.Name, Decisions: map[string][]Decided{}, DLQ: map[Loc][]DeadLetter{}}
	dec, err := ReadTopic(w.Ctx, w.Cluster.Brokers, p.Decisions)
	if err != nil {
		w.T.Fatalf("%s: %v", p.Name, err)
	}
	for _, r := range dec.Records {
		var d Decided
		if err := codec.Decode(w.Ctx, r.Value, &d.Decision); err != nil {
			w.T.Fatalf("%s: decode decision at %d@%d: %v", p.Name, r.Partition, r.Offset, err)
		}
		d.At = Loc{r.Partition, r.Offset}
		if string(r.Key) != d.CardID {
			out.KeyErrors = append(out.KeyErrors, fmt.Sprintf("decision %s at %s: key %q != card_id %q", d.TransactionID, d.At, r.Key, d.CardID))
		}
		out.Decisions[d.TransactionID] = append(out.Decisions[d.TransactionID], d)
		out.NDecided++
	}
	dlq, err := ReadTopic(w.Ctx, w.Cluster.Brokers, p.DLQ)
	if err != nil {
		w.T.Fatalf("%s: %v", p.Name, err)
	}
	for _, r := range dlq.Records {
		h := map[string]string{}
		for _, kv := range r.Headers {
			h[kv.Key] = string(kv.Value)
		}
		part, err1 := strconv.ParseInt(h[pipeline.HeaderPartition], 10, 32)
		off, err2 := strconv.ParseInt(h[pipeline.HeaderOffset], 10, 64)
		if err1 != nil || err2 != nil {
			w.T.Fatalf("%s: dead letter at %d@%d without source coordinates: %v", p.Name, r.Partition, r.Offset, h)
		}
		dl := DeadLetter{Rec: r, Source: Loc{int32(part), off}, Reason: h[pipeline.HeaderReason], Topic: h[pipeline.HeaderTopic]}
		out.DLQ[dl.Source] = append(out.DLQ[dl.Source], dl)
		out.NDLQ++
	}
	return out
}

// CheckExactlyOnce checks that the outcome holds exactly one decision per
// valid input record (with its source coordinates and key) and exactly one
// dead letter per bad one (with its reason, key and original bytes), and
// nothing else. It reports every problem with t.Errorf and returns whether
// there were none.
func CheckExactlyOnce(t testing.TB, in *Input, out *Outcome) bool {
	t.Helper()
	var lost, dup, stray []string
	lostPer, dupPer := map[int32][]int64{}, map[int32][]int64{}
	for tx, ir := range in.ByTx {
		ds := out.Decisions[tx]
		switch {
		case len(ds) == 0:
			lost = append(lost, fmt.Sprintf("%s (input %s)", tx, ir.Loc))
			lostPer[ir.Partition] = append(lostPer[ir.Partition], ir.Offset)
		case len(ds) > 1:
			var at []string
			for _, d := range ds {
				at = append(at, d.At.String())
			}
			dup = append(dup, fmt.Sprintf("%s (input %s) decided %d times, at decisions %s", tx, ir.Loc, len(ds), strings.Join(at, ", ")))
			dupPer[ir.Partition] = append(dupPer[ir.Partition], ir.Offset)
		}
		for _, d := range ds {
			if d.SourcePartition != ir.Partition || d.SourceOffset != ir.Offset || d.CardID != string(ir.Key) {
				stray = append(stray, fmt.Sprintf("decision %s says source %d@%d card %s; input is at %s key %s", tx, d.SourcePartition, d.SourceOffset, d.CardID, ir.Loc, ir.Key))
			}
		}
	}
	for tx, ds := range out.Decisions {
		if _, ok := in.ByTx[tx]; !ok {
			stray = append(stray, fmt.Sprintf("%d decision(s) for %q, which is not a valid input (first at %s, source %d@%d)", len(ds), tx, ds[0].At, ds[0].SourcePartition, ds[0].SourceOffset))
		}
	}
	var lostDL, dupDL []string
	for loc, ir := range in.Records {
		dls := out.DLQ[loc]
		if ir.Reason == "" {
			if len(dls) > 0 {
				stray = append(stray, fmt.Sprintf("valid input %s (%s) dead-lettered as %s", loc, ir.Ident, dls[0].Reason))
			}
			continue
		}
		switch {
		case len(dls) == 0:
			lostDL = append(lostDL, fmt.Sprintf("%s %s (%s)", loc, ir.Ident, ir.Reason))
			lostPer[loc.Partition] = append(lostPer[loc.Partition], loc.Offset)
		case len(dls) > 1:
			dupDL = append(dupDL, fmt.Sprintf("%s %s dead-lettered %d times", loc, ir.Ident, len(dls)))
			dupPer[loc.Partition] = append(dupPer[loc.Partition], loc.Offset)
		}
		for _, dl := range dls {
			if dl.Reason != ir.Reason || dl.Topic != in.Topic || string(dl.Rec.Key) != string(ir.Key) || string(dl.Rec.Value) != string(ir.Value) {
				stray = append(stray, fmt.Sprintf("dead letter for %s (%s): reason %q (want %q), topic %q, key/value kept: %v/%v",
					loc, ir.Ident, dl.Reason, ir.Reason, dl.Topic, string(dl.Rec.Key) == string(ir.Key), string(dl.Rec.Value) == string(ir.Value)))
			}
		}
	}
	for loc, dls := range out.DLQ {
		if _, ok := in.Records[loc]; !ok {
			stray = append(stray, fmt.Sprintf("%d dead letter(s) for %s, which is not an input record", len(dls), loc))
		}
	}
	stray = append(stray, out.KeyErrors...)
	ok := true
	report := func(what string, l []string) {
		if len(l) == 0 {
			return
		}
		ok = false
		slices.Sort(l)
		t.Errorf("%s: %d %s; first ones:\n  %s", out.Name, len(l), what, strings.Join(l[:min(len(l), 15)], "\n  "))
	}
	report("valid inputs without a decision (LOST)", lost)
	report("valid inputs with more than one decision (DUPLICATED)", dup)
	report("bad inputs without a dead letter (LOST)", lostDL)
	report("bad inputs with more than one dead letter (DUPLICATED)", dupDL)
	report("unexpected records", stray)
	if len(lostPer) > 0 {
		t.Errorf("%s: lost input offsets by partition: %s", out.Name, offsetRanges(lostPer))
	}
	if len(dupPer) > 0 {
		t.Errorf("%s: duplicated input offsets by partition: %s", out.Name, offsetRanges(dupPer))
	}
	if ok {
		t.Logf("%s: exactly once: %d decisions for %d valid inputs, %d dead letters for %d bad inputs %v",
			out.Name, out.NDecided, in.Valid, out.NDLQ, in.Bad, in.Reasons)
	}
	return ok
}

// offsetRanges formats offsets per partition as compact ranges.
func offsetRanges(m map[int32][]int64) string {
	parts := make([]int32, 0, len(m))
	for p := range m {
		parts = append(parts, p)
	}
	slices.Sort(parts)
	var b strings.Builder
	for _, p := range parts {
		offs := m[p]
		slices.Sort(offs)
		fmt.Fprintf(&b, "\n  partition %d (%d): ", p, len(offs))
		n := 0
		for i := 0; i < len(offs); {
			j := i
			for j+1 < len(offs) && offs[j+1] == offs[j]+1 {
				j++
			}
			if n == 12 {
				b.WriteString(" …")
				break
			}
			if j > i {
				fmt.Fprintf(&b, "%d-%d ", offs[i], offs[j])
			} else {
				fmt.Fprintf(&b, "%d ", offs[i])
			}
			n++
			i = j + 1
		}
	}
	return b.String()
}

// DiffDecision lists the fields in which two decisions differ, ignoring
// decided_at (wall clock). Floats are compared bit for bit.
func DiffDecision(a, b schemas.Decision) []string {
	var diffs []string
	fbits := func(name string, x, y float64) {
		if math.Float64bits(x) != math.Float64bits(y) {
			diffs = append(diffs, fmt.Sprintf("%s %v != %v", name, x, y))
		}
	}
	if a.TransactionID != b.TransactionID || a.CardID != b.CardID || a.EventTime != b.EventTime {
		diffs = append(diffs, fmt.Sprintf("identity %s/%s/%d != %s/%s/%d", a.TransactionID, a.CardID, a.EventTime, b.TransactionID, b.CardID, b.EventTime))
	}
	if a.Action != b.Action {
		diffs = append(diffs, fmt.Sprintf("action %s != %s", a.Action, b.Action))
	}
	fbits("score", a.Score, b.Score)
	fbits("threshold", a.Threshold, b.Threshold)
	fbits("propensity", a.Propensity, b.Propensity)
	if a.Flagged != b.Flagged || a.Explored != b.Explored {
		diffs = append(diffs, fmt.Sprintf("flagged/explored %v/%v != %v/%v", a.Flagged, a.Explored, b.Flagged, b.Explored))
	}
	if a.ModelVersion != b.ModelVersion || a.FeatureSet != b.FeatureSet {
		diffs = append(diffs, fmt.Sprintf("model %s/%s != %s/%s", a.ModelVersion, a.FeatureSet, b.ModelVersion, b.FeatureSet))
	}
	if len(a.Features) != len(b.Features) {
		diffs = append(diffs, fmt.Sprintf("%d features != %d", len(a.Features), len(b.Features)))
	} else {
		for i := range a.Features {
			fbits(fmt.Sprintf("features[%d]", i), a.Features[i], b.Features[i])
		}
	}
	if !reflect.DeepEqual(a.Reasons, b.Reasons) && (len(a.Reasons) != 0 || len(b.Reasons) != 0) {
		diffs = append(diffs, fmt.Sprintf("reasons %v != %v", a.Reasons, b.Reasons))
	}
	if a.SourcePartition != b.SourcePartition || a.SourceOffset != b.SourceOffset {
		diffs = append(diffs, fmt.Sprintf("source %d@%d != %d@%d", a.SourcePartition, a.SourceOffset, b.SourcePartition, b.SourceOffset))
	}
	return diffs
}

// CompareDecisions checks that every decision of got equals the baseline's
// for the same transaction in every field but decided_at. Transactions
// missing on either side are CheckExactlyOnce's business and skipped here.
func CompareDecisions(t testing.TB, base, got *Outcome) bool {
	t.Helper()
	var diffs []string
	firstDiff := map[int32]int64{}
	perPart := map[int32]int{}
	same := 0
	for tx, bs := range base.Decisions {
		gs := got.Decisions[tx]
		if len(gs) == 0 {
			continue
		}
		b := bs[0].Decision
		for _, g := range gs {
			d := DiffDecision(b, g.Decision)
			if len(d) == 0 {
				same++
				continue
			}
			p, o := b.SourcePartition, b.SourceOffset
			perPart[p]++
			if f, ok := firstDiff[p]; !ok || o < f {
				firstDiff[p] = o
			}
			diffs = append(diffs, fmt.Sprintf("%s (input %d@%d, card %s): %s", tx, p, o, b.CardID, strings.Join(d[:min(len(d), 6)], "; ")))
		}
	}
	if len(diffs) == 0 {
		t.Logf("%s: all %d decisions equal the baseline's (%s) in every field but decided_at", got.Name, same, base.Name)
		return true
	}
	slices.Sort(diffs)
	var pp []string
	for p, n := range perPart {
		pp = append(pp, fmt.Sprintf("p%d: %d from offset %d", p, n, firstDiff[p]))
	}
	slices.Sort(pp)
	t.Errorf("%s: %d decisions differ from the baseline %s (%d equal); by partition: %s; first ones:\n  %s",
		got.Name, len(diffs), base.Name, same, strings.Join(pp, ", "), strings.Join(diffs[:min(len(diffs), 15)], "\n  "))
	return false
}

// synthGen yields the simulator's transactions with their record timestamps.
type synthGen struct {
	g  *synth.Generator
	it synth.Item
}

func synthConfig(spec InputSpec) synth.Config {
	sc := synth.DefaultConfig()
	sc.Seed = spec.Seed
	sc.Cards = spec.Cards
	if sc.Cards == 0 {
		sc.Cards = 2000
	}
	sc.Unbounded = true
	return sc
}

func newSynth(sc synth.Config) (*synthGen, error) {
	g, err := synth.New(sc)
	if err != nil {
		return nil, err
	}
	return &synthGen{g: g}, nil
}

func (s *synthGen) next() (schemas.Transaction, int64, bool) {
	for s.g.Next(&s.it) {
		if s.it.Kind == synth.KindTransaction {
			return s.it.Tx, s.it.ArrivalMillis, true
		}
	}
	return schemas.Transaction{}, 0, false
}
