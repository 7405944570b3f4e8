package pipeline

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/fraudstream/fraudstream/operators/features"
	"github.com/fraudstream/fraudstream/operators/validate"
	"github.com/fraudstream/fraudstream/operators/windows"
	"github.com/fraudstream/fraudstream/schemas"
)

// LabelInfo is the label attached to an exported row.
type LabelInfo struct {
	IsFraud   bool
	LabelTime int64
}

// ExportOptions configures a point-in-time feature export.
type ExportOptions struct {
	// Windows and Rules: the same as the streaming pipeline's
	// (Config.WindowsConfig, Config.Rules).
	Windows windows.Config
	Rules   validate.Rules
	// Labels by transaction id; only labels with LabelTime ≤ LabelCutoff
	// (Unix ms; 0 = no cut-off) are attached.
	Labels      map[string]LabelInfo
	LabelCutoff int64
	// UnlabelledAsLegit writes is_fraud=0 (and an empty label_time) for
	// rows without a label, the usual "presumed legit" convention for
	// training; otherwise both cells stay empty.
	UnlabelledAsLegit bool
	// Serving, when set, adds score, action, explored and propensity columns
	// (a backtest of that model).
	Serving *Serving
	// FromMillis: rows with event_time < FromMillis are processed (they warm
	// the windows up) but not written. 0 writes every row.
	FromMillis int64
	// ToMillis: rows with event_time ≥ ToMillis are not written (0 = no end).
	ToMillis int64
}

// ExportStats counts what an export did.
type ExportStats struct {
	Rows     int64
	Skipped  map[string]int64 // by DLQ reason
	Labelled int64
	Frauds   int64
}

// FeatureExporter writes one CSV row per transaction, with the features the
// streaming pipeline would have served for it: the same Evaluator, fed the
// same events in the same (arrival) order, so a row's features use only the
// events that arrived before it (no future leaks in). Invalid transactions
// are skipped exactly as the pipeline would dead-letter them.
type FeatureExporter struct {
	opts  ExportOptions
	eval  *Evaluator
	cards map[string]*windows.CardState
	w     *bufio.Writer
	ev    Evaluation
	buf   []byte
	Stats ExportStats
}

// NewFeatureExporter writes the header to w.
func NewFeatureExporter(w io.Writer, opts ExportOptions) (*FeatureExporter, error) {
	if err := opts.Windows.Validate(); err != nil {
		return nil, err
	}
	if err := opts.Rules.Compile(); err != nil {
		return nil, err
	}
	e := &FeatureExporter{opts: opts, eval: NewEvaluator(opts.Windows), cards: map[string]*windows.CardState{},
		w: bufio.NewWriterSize(w, 1<<20), Stats: ExportStats{Skipped: map[string]int64{}}}
	e.buf = append(e.buf, "transaction_id,card_id,event_time"...)
	for _, n := range features.Names() {
		e.buf = append(e.buf, ',')
		e.buf = append(e.buf, n...)
	}
	e.buf = append(e.buf, ",is_fraud,label_time"...)
	if opts.Serving != nil {
		e.buf = append(e.buf, ",score,action,explored,propensity,model_version"...)
	}
	e.buf = append(e.buf, '\n')
	_, err := e.w.Write(e.buf)
	return e, err
}

// Add processes one transaction that arrived with the given record
// timestamp (Unix ms; for files, pass the event time).
func (e *FeatureExporter) Add(tx *schemas.Transaction, recordMillis int64) error {
	if v := e.opts.Rules.Check(tx, []byte(tx.CardID), recordMillis); v != nil {
		e.Stats.Skipped[v.Reason]++
		return nil
	}
	st, ok := e.cards[tx.CardID]
	if !ok {
		st = &windows.CardState{}
		e.cards[tx.CardID] = st
	}
	if err := e.eval.Observe(st, tx, &e.ev); err != nil {
		if reason := errReason(err); reason != "" {
			e.Stats.Skipped[reason]++
			return nil
		}
		return err
	}
	if tx.EventTime < e.opts.FromMillis || (e.opts.ToMillis > 0 && tx.EventTime >= e.opts.ToMillis) {
		return nil
	}
	b := e.buf[:0]
	b = appendCSVString(b, tx.TransactionID)
	b = append(b, ',')
	b = appendCSVString(b, tx.CardID)
	b = append(b, ',')
	b = strconv.AppendInt(b, tx.EventTime, 10)
	for _, v := range e.ev.Features {
		b = append(b, ',')
		b = AppendFloat(b, v)
	}
	l, ok := e.opts.Labels[tx.TransactionID]
	if ok && e.opts.LabelCutoff > 0 && l.LabelTime > e.opts.LabelCutoff {
		ok = false
	}
	switch {
	case ok:
		e.Stats.Labelled++
		if l.IsFraud {
			e.Stats.Frauds++
			b = append(b, ",1,"...)
		} else {
			b = append(b, ",0,"...)
		}
		b = strconv.AppendInt(b, l.LabelTime, 10)
	case e.opts.UnlabelledAsLegit:
		b = append(b, ",0,"...)
	default:
		b = append(b, ",,"...)
	}
	if s := e.opts.Serving; s != nil {
		e.eval.Decide(s, tx, &e.ev)
		b = append(b, ',')
		b = AppendFloat(b, e.ev.Score)
		b = append(b, ',')
		b = append(b, e.ev.Outcome.Action...)
		b = append(b, ',')
		b = strconv.AppendBool(b, e.ev.Outcome.Explored)
		b = append(b, ',')
		b = AppendFloat(b, e.ev.Outcome.Propensity)
		b = append(b, ',')
		b = appendCSVString(b, s.version)
	}
	b = append(b, '\n')
	e.buf = b
	e.Stats.Rows++
	_, err := e.w.Write(b)
	return err
}

// Close flushes the output.
func (e *FeatureExporter) Close() error { return e.w.Flush() }

func errReason(err error) string {
	switch {
	case isErr(err, windows.ErrTooLate):
		return validate.ReasonTooLate
	case isErr(err, windows.ErrInvalidEvent):
		return validate.ReasonBadEventTime
	}
	return ""
}

// AppendFloat formats v in the shortest form that parses back to the same
// float64 (so exported values are the served values, bit for bit); NaN is
// the empty string.
func AppendFloat(b []byte, v float64) []byte {
	if math.IsNaN(v) {
		return b
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

func appendCSVString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ',', '"', '\n', '\r':
			b = append(b, '"')
			for j := 0; j < len(s); j++ {
				if s[j] == '"' {
					b = append(b, '"')
				}
				b = append(b, s[j])
			}
			return append(b, '"')
		}
	}
	return append(b, s...)
}

// FeatureHeader returns the export's column names (without the optional
// model columns).
func FeatureHeader() []string {
	h := []string{"transaction_id", "card_id", "event_time"}
	h = append(h, features.Names()...)
	return append(h, "is_fraud", "label_time")
}

var _ = fmt.Sprintf
