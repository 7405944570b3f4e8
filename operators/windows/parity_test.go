package windows

import (
	"bufio"
	"compress/gzip"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
)

// parityWindows must match WINDOWS in testdata/gen_pandas_parity.py.
var parityWindows = []int64{hour, day, 7 * day, 30 * day}

const (
	second = int64(1000)
	minute = 60 * second
	hour   = 60 * minute
	day    = 24 * hour
)

// TestPandasParity replays the stream of testdata/pandas_parity.csv.gz and
// requires the exact bits pandas produced (count, mean, std per window). The
// file covers same-millisecond events, windows that empty, repeated values,
// negative amounts, 999,999.90-style amounts and a 0.01..1e9 range that
// drives roll_var's numerically_unstable recompute.
func TestPandasParity(t *testing.T) {
	f, err := os.Open("testdata/pandas_parity.csv.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(zr)
	cfg := &Config{WindowsMillis: parityWindows}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	states := map[string]*CardState{}
	var res Result
	rows, mismatches := 0, 0
	for line := 0; sc.Scan(); line++ {
		text := sc.Text()
		if strings.HasPrefix(text, "#") || strings.HasPrefix(text, "card,") {
			continue
		}
		rows++
		fs := strings.Split(text, ",")
		if len(fs) != 3+3*len(parityWindows) {
			t.Fatalf("line %d: %d fields", line, len(fs))
		}
		st := states[fs[0]]
		if st == nil {
			st = &CardState{}
			states[fs[0]] = st
		}
		ev := Event{TimeMillis: mustInt(t, fs[1]), Amount: mustFloat(t, fs[2]), Lat: math.NaN(), Lon: math.NaN()}
		if err := st.Observe(cfg, ev, &res); err != nil {
			t.Fatalf("line %d: %v", line, err)
		}
		for i := range parityWindows {
			wantCount := mustInt(t, fs[3+3*i])
			wantMean := mustFloat(t, fs[4+3*i])
			wantStd := mustFloat(t, fs[5+3*i])
			got := res.Windows[i]
			if got.Count != wantCount || !sameBits(got.Mean, wantMean) || !sameBits(got.Std, wantStd) {
				mismatches++
				if mismatches <= 20 {
					t.Errorf("line %d card %s t=%d window %d: got count=%d mean=%v std=%v, pandas count=%d mean=%v std=%v",
						line, fs[0], ev.TimeMillis, i, got.Count, got.Mean, got.Std, wantCount, wantMean, wantStd)
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if rows < 1000 {
		t.Fatalf("only %d rows read", rows)
	}
	if mismatches > 0 {
		t.Fatalf("%d of %d window values differ from pandas", mismatches, rows*len(parityWindows))
	}
}

// sameBits: identical float64 bits, or both NaN.
func sameBits(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Float64bits(a) == math.Float64bits(b)
}

func mustInt(t testing.TB, s string) int64 {
	t.Helper()
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func mustFloat(t testing.TB, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
