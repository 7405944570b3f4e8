package windows

import (
	"fmt"
	"math"
)

// checkInvariants verifies the invariants doc.go states, from scratch.
func checkInvariants(s *CardState) error {
	n := len(s.events)
	for i := s.head; i < n; i++ {
		e := &s.events[i]
		if e.Seq >= s.nextSeq {
			return fmt.Errorf("event %d: seq %d not below next seq %d", i, e.Seq, s.nextSeq)
		}
		if i > s.head {
			p := &s.events[i-1]
			if e.TimeMillis < p.TimeMillis || (e.TimeMillis == p.TimeMillis && e.Seq <= p.Seq) {
				return fmt.Errorf("events not in (time, seq) order at %d", i)
			}
		}
	}
	if s.hasPruned && n > s.head && s.pruned.TimeMillis > s.events[s.head].TimeMillis {
		return fmt.Errorf("pruned event newer than the oldest retained")
	}
	if n == s.head {
		return nil
	}
	newest := s.events[n-1].TimeMillis
	for i := range s.windows {
		w := &s.windows[i]
		if w.front < s.head || w.front >= n {
			return fmt.Errorf("window %d: front %d outside [%d, %d)", i, w.front, s.head, n)
		}
		if s.events[w.front].TimeMillis <= newest-w.millis || (w.front > s.head && s.events[w.front-1].TimeMillis > newest-w.millis) {
			return fmt.Errorf("window %d: front %d is not the start of the newest event's window", i, w.front)
		}
		if w.mean.nobs != int64(n-w.front) || w.vr.nobs != float64(n-w.front) {
			return fmt.Errorf("window %d: counts %d/%v, want %d", i, w.mean.nobs, w.vr.nobs, n-w.front)
		}
		neg := int64(0)
		for j := w.front; j < n; j++ {
			if math.Signbit(s.events[j].Amount) {
				neg++
			}
		}
		if neg != w.mean.negCt {
			return fmt.Errorf("window %d: neg_ct %d, want %d", i, w.mean.negCt, neg)
		}
		// The same-value run: the last min(run, nobs) amounts equal prevValue.
		for j := n - 1; j >= w.front && int64(n-j) <= w.mean.numConsecutiveSameValue; j-- {
			if s.events[j].Amount != w.mean.prevValue {
				return fmt.Errorf("window %d: same-value run %d, but amount %d from the end differs", i, w.mean.numConsecutiveSameValue, n-j)
			}
		}
	}
	if s.merchants != nil {
		want := map[uint64]int32{}
		for j := s.windows[s.li].front; j < n; j++ {
			want[s.events[j].Merchant]++
		}
		if len(want) != len(s.merchants) {
			return fmt.Errorf("merchant index has %d merchants, want %d", len(s.merchants), len(want))
		}
		for m, c := range want {
			if s.merchants[m] != c {
				return fmt.Errorf("merchant index: %d × %d, want %d", s.merchants[m], m, c)
			}
		}
	}
	return nil
}
