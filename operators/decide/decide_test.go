package decide

import (
	"fmt"
	"math"
	"testing"

	"github.com/fraudstream/fraudstream/schemas"
)

// Values computed in Python, as the seed writes it:
//
//	int(hashlib.md5(b"explore-1:tx-42").hexdigest(), 16) % 1000
func TestBucketMatchesSeedFormula(t *testing.T) {
	for key, want := range pythonBuckets {
		seed, tx := key[0], key[1]
		if got := Bucket(seed, tx); got != want {
			t.Errorf("Bucket(%q, %q) = %d, want %d (python)", seed, tx, got, want)
		}
	}
}

func TestDecide(t *testing.T) {
	p := Policy{Threshold: 0.5, ReviewFrom: 0.3, Epsilon: 0.05, Seed: "s"}
	if err := p.Compile(); err != nil {
		t.Fatal(err)
	}
	if o := p.Decide("t", 0.1); o.Action != schemas.ActionApprove || o.Flagged || o.Propensity != 1 {
		t.Fatalf("low score: %+v", o)
	}
	if o := p.Decide("t", 0.3); o.Action != schemas.ActionReview || o.Flagged || o.Propensity != 1 {
		t.Fatalf("review band: %+v", o)
	}
	explored, n := 0, 100_000
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("tx-%d", i)
		o := p.Decide(id, 0.5)
		if !o.Flagged {
			t.Fatalf("score = threshold must flag: %+v", o)
		}
		if o.Explored {
			explored++
			if o.Action != schemas.ActionApprove || o.Propensity != 0.05 {
				t.Fatalf("explored: %+v", o)
			}
		} else if o.Action != schemas.ActionDecline || o.Propensity != 0.95 {
			t.Fatalf("declined: %+v", o)
		}
		if o2 := p.Decide(id, 0.9); o2 != o {
			t.Fatalf("exploration must depend on the id only: %+v vs %+v", o, o2)
		}
	}
	share := float64(explored) / float64(n)
	if math.Abs(share-0.05) > 0.004 {
		t.Fatalf("explored share %.4f, want 0.05±0.004", share)
	}
}

func TestCompile(t *testing.T) {
	for _, p := range []Policy{
		{Threshold: 1.5, Epsilon: 0.05},
		{Threshold: 0.5, Epsilon: 0.0505},
		{Threshold: 0.5, Epsilon: 0.6},
		{Threshold: 0.5, ReviewFrom: 0.7, Epsilon: 0.05},
	} {
		if err := p.Compile(); err == nil {
			t.Errorf("%+v: accepted", p)
		}
	}
}

func BenchmarkDecideFlagged(b *testing.B) {
	p := Policy{Threshold: 0.5, Epsilon: 0.05, Seed: "s"}
	_ = p.Compile()
	b.ReportAllocs()
	for b.Loop() {
		p.Decide("tx-000000123456", 0.9)
	}
}

// pythonBuckets were printed by python3 with the formula in the package doc.
var pythonBuckets = map[[2]string]uint64{
	{"explore-1", "tx-42"}:             497,
	{"s", "tx-0"}:                      441,
	{"fraudstream", "tx-000000123456"}: 900,
	{"", "x"}:                          257,
	{"seed-with-a-long-name", "transaction-99999999"}: 989,
}
