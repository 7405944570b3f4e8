package labeljoin

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

const day = int64(24 * 3600 * 1000)

// TestDataDriven replays testdata/join: decisions, labels and expiries in
// event time (days), printing the outcomes and counters after each command.
func TestDataDriven(t *testing.T) {
	datadriven.RunTest(t, "testdata/join", func(t *testing.T, td *datadriven.TestData) string {
		return run(t, td)
	})
}

var (
	joiner *Joiner
	store  *MemStore
)

func run(t *testing.T, td *datadriven.TestData) string {
	arg := func(k string) string {
		for _, a := range td.CmdArgs {
			if a.Key == k {
				if len(a.Vals) == 0 {
					return "true"
				}
				return a.Vals[0]
			}
		}
		return ""
	}
	num := func(k string) float64 {
		v, _ := strconv.ParseFloat(arg(k), 64)
		return v
	}
	var out strings.Builder
	emit := func(o Outcome) error {
		fmt.Fprintf(&out, "outcome %s kind=%s fraud=%v delay=%dd weight=%g model=%s\n",
			o.TransactionID, o.Kind, o.IsFraud, o.DelayMillis/day, o.Weight, o.ModelVersion)
		return nil
	}
	var err error
	switch td.Cmd {
	case "reset":
		store = NewMemStore()
		joiner, err = New(Config{HorizonMillis: int64(num("horizon")) * day, PresumeLegit: arg("presume") == "true"}, store)
	case "decide":
		p := num("propensity")
		if p == 0 {
			p = 1
		}
		err = joiner.Decided(Decision{TransactionID: arg("tx"), CardID: "c", EventTime: int64(num("t")) * day,
			ModelVersion: "m1", Action: "approve", Propensity: p, Flagged: arg("flagged") == "true", Explored: arg("explored") == "true"}, emit)
	case "label":
		err = joiner.Labelled(Label{TransactionID: arg("tx"), CardID: "c", IsFraud: arg("fraud") == "true",
			LabelTime: int64(num("t")) * day, Source: "chargeback"}, emit)
	case "expire":
		err = joiner.Expire(int64(num("watermark"))*day, emit)
	default:
		t.Fatalf("unknown command %s", td.Cmd)
	}
	if err != nil {
		return "error: " + err.Error()
	}
	fmt.Fprintf(&out, "state decisions=%d waiting=%d expired=%d counts=%v", len(store.Decisions), len(store.Labels),
		joiner.ExpiredDecisions, joiner.Counts)
	return out.String()
}

func TestCodecRoundTrip(t *testing.T) {
	d := Decision{TransactionID: "t", CardID: "c", EventTime: 5, ModelVersion: "m", Action: "decline", Score: 0.9,
		Threshold: 0.5, Propensity: 0.95, Flagged: true, Labelled: true, IsFraud: true, LabelTime: 9, LabelSource: "cb"}
	got, err := DecodeDecision(AppendDecision(nil, &d))
	if err != nil || !reflect.DeepEqual(got, d) {
		t.Fatalf("%v %+v", err, got)
	}
	l := Label{TransactionID: "t", CardID: "c", IsFraud: true, LabelTime: 7, Source: "cb"}
	gl, err := DecodeLabel(AppendLabel(nil, &l))
	if err != nil || gl != l {
		t.Fatalf("%v %+v", err, gl)
	}
	if _, err := DecodeDecision(AppendDecision(nil, &d)[:10]); err == nil {
		t.Fatal("truncated value decoded")
	}
}
