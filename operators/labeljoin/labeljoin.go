// Package labeljoin joins delayed fraud labels to the decisions they judge.
//
// Fraud is confirmed days or weeks after the decision (chargebacks). Every
// decision is kept, by transaction id, for a horizon of event time; a label
// that finds its decision produces an Outcome (decision fields, is_fraud,
// label time and delay, weight = 1/propensity); a label that arrives before
// its decision waits for it; duplicate and contradicting labels are resolved
// deterministically (the latest label_time wins, ties keep the first, and a
// changed verdict emits a corrected outcome); decisions still unlabelled at
// the horizon are expired, optionally as presumed legitimate; waiting labels
// whose decision never came expire too. Nothing grows without bound: every
// entry has an expiry in event time, driven by the partition's watermark (its
// newest transaction event time), never by the wall clock.
//
// The package is plain Go over a small Store interface; the pipeline backs it
// with Pebble (and its changelog), tests with a map.
package labeljoin

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Decision is what is kept of a decision until its label arrives.
type Decision struct {
	TransactionID string
	CardID        string
	EventTime     int64 // ms
	ModelVersion  string
	Action        string
	Score         float64
	Threshold     float64
	Propensity    float64
	Flagged       bool
	Explored      bool
	// Label, once joined.
	Labelled    bool
	IsFraud     bool
	LabelTime   int64
	LabelSource string
}

// Label is an arriving label.
type Label struct {
	TransactionID string
	CardID        string
	IsFraud       bool
	LabelTime     int64 // ms
	Source        string
}

// Outcome is a labelled decision.
type Outcome struct {
	Decision
	// DelayMillis = LabelTime − EventTime.
	DelayMillis int64
	// Weight = 1/propensity, the inverse-propensity weight.
	Weight float64
	// Kind: "label" (a joined label), "correction" (a later label changed
	// the verdict), "presumed_legit" (no label by the horizon).
	Kind string
}

// Result counters, by label fate. Bounded label set for metrics.
const (
	ResultJoined        = "joined"
	ResultDuplicate     = "duplicate"
	ResultContradicting = "contradicting"
	ResultWaiting       = "waiting"
	ResultExpiredLabel  = "expired_unmatched"
	ResultLateLabel     = "stale"
)

// Store keeps decisions and waiting labels. Get returns ok=false when
// absent. Expired* call fn for entries whose time is < before, oldest
// first, at most max of them; fn may delete the entry it is given.
type Store interface {
	GetDecision(txID string) (Decision, bool, error)
	PutDecision(d *Decision) error
	DeleteDecision(d *Decision) error
	GetLabel(txID string) (Label, bool, error)
	PutLabel(l *Label) error
	DeleteLabel(l *Label) error
	ExpiredDecisions(before int64, max int, fn func(d *Decision) error) error
	ExpiredLabels(before int64, max int, fn func(l *Label) error) error
}

// Config of the join.
type Config struct {
	// HorizonMillis: decisions are kept this long after their event time,
	// waiting labels this long after their label time (default 120 days).
	HorizonMillis int64
	// PresumeLegit emits a presumed_legit outcome for a decision that got
	// no label within the horizon (the usual convention: no chargeback
	// means legitimate). Default false: such decisions are only counted.
	PresumeLegit bool
	// MaxExpirePerCall bounds the work of one Expire call (default 10,000),
	// so a large backlog of expiries never stalls a batch.
	MaxExpirePerCall int
}

// Joiner applies the rules. Not safe for concurrent use.
type Joiner struct {
	cfg    Config
	store  Store
	Counts map[string]int64
	// ExpiredDecisions counts decisions expired without a label.
	ExpiredDecisions int64
}

// New returns a joiner over store.
func New(cfg Config, store Store) (*Joiner, error) {
	if cfg.HorizonMillis == 0 {
		cfg.HorizonMillis = 120 * 24 * 3600 * 1000
	}
	if cfg.HorizonMillis < 0 {
		return nil, fmt.Errorf("labels horizon must be > 0, got %dms", cfg.HorizonMillis)
	}
	if cfg.MaxExpirePerCall <= 0 {
		cfg.MaxExpirePerCall = 10_000
	}
	return &Joiner{cfg: cfg, store: store, Counts: map[string]int64{}}, nil
}

func weight(p float64) float64 {
	if p <= 0 {
		return math.Inf(1)
	}
	return 1 / p
}

func outcome(d *Decision, kind string) Outcome {
	return Outcome{Decision: *d, DelayMillis: d.LabelTime - d.EventTime, Weight: weight(d.Propensity), Kind: kind}
}

// Decided records a decision; if its label was waiting, it joins now.
func (j *Joiner) Decided(d Decision, emit func(Outcome) error) error {
	l, ok, err := j.store.GetLabel(d.TransactionID)
	if err != nil {
		return err
	}
	if ok {
		if err := j.store.DeleteLabel(&l); err != nil {
			return err
		}
		d.Labelled, d.IsFraud, d.LabelTime, d.LabelSource = true, l.IsFraud, l.LabelTime, l.Source
		j.Counts[ResultJoined]++
		if err := emit(outcome(&d, "label")); err != nil {
			return err
		}
	}
	return j.store.PutDecision(&d)
}

// Labelled handles an arriving label.
func (j *Joiner) Labelled(l Label, emit func(Outcome) error) error {
	d, ok, err := j.store.GetDecision(l.TransactionID)
	if err != nil {
		return err
	}
	if !ok {
		// Its decision has not come yet (or expired): wait, keeping the
		// latest label.
		if w, ok, err := j.store.GetLabel(l.TransactionID); err != nil {
			return err
		} else if ok {
			if w.IsFraud != l.IsFraud {
				j.Counts[ResultContradicting]++
			} else {
				j.Counts[ResultDuplicate]++
			}
			if l.LabelTime <= w.LabelTime {
				return nil
			}
			if err := j.store.DeleteLabel(&w); err != nil {
				return err
			}
		} else {
			j.Counts[ResultWaiting]++
		}
		return j.store.PutLabel(&l)
	}
	if !d.Labelled {
		d.Labelled, d.IsFraud, d.LabelTime, d.LabelSource = true, l.IsFraud, l.LabelTime, l.Source
		j.Counts[ResultJoined]++
		if err := emit(outcome(&d, "label")); err != nil {
			return err
		}
		return j.store.PutDecision(&d)
	}
	// Already labelled: the latest label_time wins.
	if d.IsFraud != l.IsFraud {
		j.Counts[ResultContradicting]++
	} else {
		j.Counts[ResultDuplicate]++
	}
	if l.LabelTime <= d.LabelTime || l.IsFraud == d.IsFraud {
		if l.LabelTime > d.LabelTime {
			d.LabelTime, d.LabelSource = l.LabelTime, l.Source
			return j.store.PutDecision(&d)
		}
		return nil
	}
	d.IsFraud, d.LabelTime, d.LabelSource = l.IsFraud, l.LabelTime, l.Source
	if err := emit(outcome(&d, "correction")); err != nil {
		return err
	}
	return j.store.PutDecision(&d)
}

// Expire removes decisions older than watermark − horizon (emitting
// presumed-legit outcomes when configured) and waiting labels older than
// the horizon. watermark is the partition's newest event time.
func (j *Joiner) Expire(watermark int64, emit func(Outcome) error) error {
	before := watermark - j.cfg.HorizonMillis
	err := j.store.ExpiredDecisions(before, j.cfg.MaxExpirePerCall, func(d *Decision) error {
		if !d.Labelled {
			j.ExpiredDecisions++
			if j.cfg.PresumeLegit {
				d.IsFraud, d.LabelTime, d.LabelSource = false, d.EventTime+j.cfg.HorizonMillis, "presumed"
				if err := emit(outcome(d, "presumed_legit")); err != nil {
					return err
				}
			}
		}
		return j.store.DeleteDecision(d)
	})
	if err != nil {
		return err
	}
	return j.store.ExpiredLabels(before, j.cfg.MaxExpirePerCall, func(l *Label) error {
		j.Counts[ResultExpiredLabel]++
		return j.store.DeleteLabel(l)
	})
}

// Encoding of Decision and Label values for stores (versioned,
// deterministic).

const codecVersion = 1

// AppendDecision encodes d.
func AppendDecision(b []byte, d *Decision) []byte {
	b = append(b, codecVersion)
	b = appendString(b, d.TransactionID)
	b = appendString(b, d.CardID)
	b = binary.BigEndian.AppendUint64(b, uint64(d.EventTime))
	b = appendString(b, d.ModelVersion)
	b = appendString(b, d.Action)
	for _, f := range []float64{d.Score, d.Threshold, d.Propensity} {
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(f))
	}
	flags := byte(0)
	for i, v := range []bool{d.Flagged, d.Explored, d.Labelled, d.IsFraud} {
		if v {
			flags |= 1 << i
		}
	}
	b = append(b, flags)
	b = binary.BigEndian.AppendUint64(b, uint64(d.LabelTime))
	return appendString(b, d.LabelSource)
}

// DecodeDecision decodes what AppendDecision wrote.
func DecodeDecision(b []byte) (Decision, error) {
	r := reader{b: b}
	var d Decision
	if r.byte() != codecVersion {
		return d, errors.New("labeljoin: unknown decision encoding")
	}
	d.TransactionID, d.CardID = r.str(), r.str()
	d.EventTime = int64(r.u64())
	d.ModelVersion, d.Action = r.str(), r.str()
	d.Score, d.Threshold, d.Propensity = math.Float64frombits(r.u64()), math.Float64frombits(r.u64()), math.Float64frombits(r.u64())
	f := r.byte()
	d.Flagged, d.Explored, d.Labelled, d.IsFraud = f&1 != 0, f&2 != 0, f&4 != 0, f&8 != 0
	d.LabelTime = int64(r.u64())
	d.LabelSource = r.str()
	return d, r.err
}

// AppendLabel encodes l.
func AppendLabel(b []byte, l *Label) []byte {
	b = append(b, codecVersion)
	b = appendString(b, l.TransactionID)
	b = appendString(b, l.CardID)
	if l.IsFraud {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = binary.BigEndian.AppendUint64(b, uint64(l.LabelTime))
	return appendString(b, l.Source)
}

// DecodeLabel decodes what AppendLabel wrote.
func DecodeLabel(b []byte) (Label, error) {
	r := reader{b: b}
	var l Label
	if r.byte() != codecVersion {
		return l, errors.New("labeljoin: unknown label encoding")
	}
	l.TransactionID, l.CardID = r.str(), r.str()
	l.IsFraud = r.byte() == 1
	l.LabelTime = int64(r.u64())
	l.Source = r.str()
	return l, r.err
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) fail() {
	if r.err == nil {
		r.err = errors.New("labeljoin: truncated value")
	}
}

func (r *reader) byte() byte {
	if len(r.b) < 1 {
		r.fail()
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) u64() uint64 {
	if len(r.b) < 8 {
		r.fail()
		return 0
	}
	v := binary.BigEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

func (r *reader) str() string {
	n, k := binary.Uvarint(r.b)
	if k <= 0 || uint64(len(r.b)-k) < n {
		r.fail()
		return ""
	}
	s := string(r.b[k : k+int(n)])
	r.b = r.b[k+int(n):]
	return s
}
