package windows

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
)

// TestDataDriven replays testdata/{basic,late,robust}: commands with their
// hand-checked expected output. Commands:
//
//	config windows=7d,30d [lateness=7d]
//	observe card=c1 t=2026-01-01T00:00:00Z amount=10 [merchant=m1] [country=US] [lat=.. lon=..]
//	state card=c1          retained events, pruned event
//	roundtrip card=c1      encode, decode into a fresh state, continue with it
//
// Durations take a unit: ms, s, m, h, d. Merchant and country names are hashed
// (FNV-1a) and printed back by name.
func TestDataDriven(t *testing.T) {
	for _, name := range []string{"basic", "late", "robust"} {
		t.Run(name, func(t *testing.T) {
			h := newHarness()
			datadriven.RunTest(t, "testdata/"+name, h.run)
		})
	}
}

type harness struct {
	cfg     Config
	labels  []string
	cards   map[string]*CardState
	names   map[uint64]string
	res     Result
	scratch []byte
}

func newHarness() *harness {
	return &harness{cards: map[string]*CardState{}, names: map[uint64]string{}}
}

func (h *harness) hash(name string) uint64 {
	if name == "" {
		return 0
	}
	f := fnv.New64a()
	f.Write([]byte(name))
	v := f.Sum64()
	h.names[v] = name
	return v
}

func (h *harness) name(v uint64) string {
	if v == 0 {
		return "-"
	}
	return h.names[v]
}

func (h *harness) card(t *testing.T, d *datadriven.TestData) *CardState {
	var card string
	d.ScanArgs(t, "card", &card)
	s := h.cards[card]
	if s == nil {
		s = &CardState{}
		h.cards[card] = s
	}
	return s
}

func (h *harness) run(t *testing.T, d *datadriven.TestData) string {
	switch d.Cmd {
	case "config":
		var ws, lateness string
		d.ScanArgs(t, "windows", &ws)
		d.MaybeScanArgs(t, "lateness", &lateness)
		cfg := Config{}
		h.labels = h.labels[:0]
		for _, w := range strings.Split(ws, ",") {
			ms, err := parseDuration(w)
			if err != nil {
				return "error: " + err.Error()
			}
			cfg.WindowsMillis = append(cfg.WindowsMillis, ms)
			h.labels = append(h.labels, w)
		}
		if lateness != "" {
			ms, err := parseDuration(lateness)
			if err != nil {
				return "error: " + err.Error()
			}
			cfg.AllowedLatenessMillis = ms
		}
		if err := cfg.Validate(); err != nil {
			return "error: " + err.Error()
		}
		h.cfg = cfg
		return "ok"

	case "observe":
		s := h.card(t, d)
		var ts, amount, merchant, country, lat, lon string
		d.ScanArgs(t, "t", &ts)
		d.ScanArgs(t, "amount", &amount)
		d.MaybeScanArgs(t, "merchant", &merchant)
		d.MaybeScanArgs(t, "country", &country)
		d.MaybeScanArgs(t, "lat", &lat)
		d.MaybeScanArgs(t, "lon", &lon)
		tm, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			d.Fatalf(t, "t: %v", err)
		}
		ev := Event{TimeMillis: tm.UnixMilli(), Amount: parseF(t, amount), Merchant: h.hash(merchant),
			Country: h.hash(country), Lat: math.NaN(), Lon: math.NaN()}
		if lat != "" {
			ev.Lat, ev.Lon = parseF(t, lat), parseF(t, lon)
		}
		before := s.AppendBinary(nil)
		if err := s.Observe(&h.cfg, ev, &h.res); err != nil {
			// Rejections must leave the state as it was.
			if after := s.AppendBinary(nil); string(after) != string(before) {
				d.Fatalf(t, "state changed by a rejected event")
			}
			kind := "other"
			switch {
			case errors.Is(err, ErrTooLate):
				kind = "too_late"
			case errors.Is(err, ErrInvalidEvent):
				kind = "invalid"
			}
			return fmt.Sprintf("error (%s): %v", kind, err)
		}
		return h.format(&h.res)

	case "state":
		s := h.card(t, d)
		var b strings.Builder
		fmt.Fprintf(&b, "retained=%d", s.Len())
		if s.Len() > 0 {
			fmt.Fprintf(&b, " oldest=%s newest=%s", fmtTime(s.events[s.head].TimeMillis), fmtTime(s.events[len(s.events)-1].TimeMillis))
		}
		if s.hasPruned {
			fmt.Fprintf(&b, " pruned=%s", fmtTime(s.pruned.TimeMillis))
		}
		return b.String()

	case "roundtrip":
		s := h.card(t, d)
		h.scratch = s.AppendBinary(h.scratch[:0])
		var r CardState
		if err := r.UnmarshalBinary(h.scratch); err != nil {
			return "error: " + err.Error()
		}
		if again := r.AppendBinary(nil); string(again) != string(h.scratch) {
			d.Fatalf(t, "re-encoding differs")
		}
		*s = r
		return fmt.Sprintf("bytes=%d", len(h.scratch))
	}
	d.Fatalf(t, "unknown command %q", d.Cmd)
	return ""
}

func (h *harness) format(r *Result) string {
	var b strings.Builder
	for i, st := range r.Windows {
		fmt.Fprintf(&b, "%s: count=%d mean=%.6f std=%.6f\n", h.labels[i], st.Count, st.Mean, st.Std)
	}
	if p := r.Prev; p.Found {
		fmt.Fprintf(&b, "prev: t=%s amount=%.6f merchant=%s country=%s", fmtTime(p.TimeMillis), p.Amount, h.name(p.Merchant), h.name(p.Country))
		if !math.IsNaN(p.Lat) {
			fmt.Fprintf(&b, " lat=%g lon=%g", p.Lat, p.Lon)
		}
		b.WriteString("\n")
	} else {
		b.WriteString("prev: none\n")
	}
	fmt.Fprintf(&b, "merchant_seen=%t late=%t", r.MerchantSeen, r.Late)
	return b.String()
}

func fmtTime(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z")
}

func parseF(t *testing.T, s string) float64 {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// parseDuration parses "7d", "1h", "30m", "10s", "1500ms" into milliseconds.
func parseDuration(s string) (int64, error) {
	units := []struct {
		suffix string
		ms     int64
	}{{"ms", 1}, {"d", day}, {"h", hour}, {"m", minute}, {"s", second}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			n, err := strconv.ParseInt(num, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("duration %q: %v", s, err)
			}
			return n * u.ms, nil
		}
	}
	return 0, fmt.Errorf("duration %q: want a number with unit ms, s, m, h or d", s)
}
