package windows

import (
	"fmt"
	"math"
)

// Event is one transaction of a card, as the windows need it.
type Event struct {
	// TimeMillis is the event time in milliseconds since the Unix epoch
	// (the transaction's event_time, never processing time).
	TimeMillis int64
	// Amount in currency units (not cents); must be finite.
	Amount float64
	// Merchant and Country are identity hashes (0 = unknown); compared for
	// equality only.
	Merchant uint64
	Country  uint64
	// Lat, Lon in degrees; NaN when absent.
	Lat, Lon float64
}

// Stats are one window's aggregates of amounts at one event.
type Stats struct {
	// Count of events in the window, the current one included (≥ 1).
	Count int64
	// Mean amount (the amount itself when Count is 1).
	Mean float64
	// Std is the sample standard deviation (ddof=1); NaN when Count < 2.
	Std float64
}

// PrevEvent is the card's previous event: among the events that arrived
// before this one, the one with the greatest event time ≤ this event's time;
// of several at that time, the one that arrived last.
type PrevEvent struct {
	Found      bool  // false for the card's first event (then the rest is zero/NaN)
	TimeMillis int64 // ms since the Unix epoch
	Amount     float64
	Lat, Lon   float64 // NaN when absent
	Country    uint64
	Merchant   uint64
}

// Result is what Observe computes for one event. Reuse one Result across
// calls: Windows is overwritten in place.
type Result struct {
	// Windows holds one Stats per Config.WindowsMillis, in that order.
	Windows []Stats
	// Prev is the card's previous event.
	Prev PrevEvent
	// MerchantSeen: some event that arrived before this one, with event time
	// in (t − longest window, t], has the same Merchant hash.
	MerchantSeen bool
	// Late: the event was older than the card's newest event (and accepted).
	Late bool
}

// StoredEvent is a retained event with its sequence number. Seq counts the
// card's accepted events in arrival order (0, 1, 2, ...): it orders events of
// equal time and keys each event in a store (see CardState.Changes).
type StoredEvent struct {
	Seq uint64
	Event
}

// window is one window's running state. It always covers events[front:], the
// window of the card's newest event (event time > newest − millis).
type window struct {
	millis int64
	front  int // absolute index into CardState.events
	mean   meanAcc
	vr     varAcc
}

// CardState is one card's window state. The zero value is an empty card,
// ready for Observe.
type CardState struct {
	// events[head:] are the retained events, sorted by time then arrival
	// (= Seq); events[:head] are pruned slots, reclaimed by prune. Keeping a
	// head index instead of reslicing lets the backing array be reused in
	// place.
	events []StoredEvent
	head   int
	// nextSeq is the Seq of the next accepted event.
	nextSeq uint64
	// Change tracking for incremental persistence (Changes): events with
	// Seq ≥ baseSeq were added since ResetChanges; prunedSeqs lists the
	// events older than that (so already persisted) pruned since then.
	baseSeq    uint64
	prunedSeqs []uint64
	addedBuf   []StoredEvent
	// windows follow the Config the state was last used with.
	windows []window
	li      int // index of the longest window in windows
	// pruned is the newest event pruned by retention (hasPruned), kept so a
	// late event whose predecessor was pruned still finds it.
	pruned    Event
	hasPruned bool
	// merchants counts merchant hashes over the longest window's events
	// (events[windows[li].front:]) while that window is large; nil otherwise.
	// It only accelerates MerchantSeen and is rebuilt on demand, never
	// persisted.
	merchants map[uint64]int32
}

// merchantIndexMin is the longest-window size above which MerchantSeen uses a
// merchant → count map instead of a scan. Measured (BenchmarkMerchantSeen,
// every merchant new, i.e. the scan's worst case): the scan costs ~1.5 ns per
// event in the window, the map a fixed ~100–150 ns per event (one insert, one
// delete, one lookup); they cross near 128. With repeat merchants the scan
// stops early and wins beyond that. Below the threshold the state also needs
// no map memory. The map is dropped again below merchantIndexMin/4. A
// variable so tests can drive both paths.
var merchantIndexMin = 128

// compactMin is the least number of pruned slots worth moving.
const compactMin = 16

// Len returns the number of retained events.
func (s *CardState) Len() int { return len(s.events) - s.head }

// NewestMillis returns the card's newest event time, and false for a card
// without events.
func (s *CardState) NewestMillis() (int64, bool) {
	if len(s.events) == s.head {
		return 0, false
	}
	return s.events[len(s.events)-1].TimeMillis, true
}

// Reset empties the state, keeping its allocated memory for reuse.
func (s *CardState) Reset() {
	ev, ws, ps, ab := s.events[:0], s.windows[:0], s.prunedSeqs[:0], s.addedBuf[:0]
	*s = CardState{events: ev, windows: ws, prunedSeqs: ps, addedBuf: ab}
}

// Observe adds ev to the card and writes its aggregates, previous event and
// merchant novelty to out (out.Windows is reused; nothing is allocated per
// in-order event once the state has grown to its working size).
//
// cfg must have passed Validate. If its windows differ from those the state
// was built with (a configuration change), the running state is first
// rebuilt from the retained events for the new windows; a window longer than
// the retention then holds only what was retained.
//
// Errors (out and the events are unchanged; only a config change, if any, has
// been adopted): ErrTooLate for
// ev.TimeMillis ≤ newest − (longest window + cfg.AllowedLatenessMillis);
// ErrInvalidEvent for a non-finite amount or an out-of-range time;
// ErrInvalidConfig for a config that fails Validate.
func (s *CardState) Observe(cfg *Config, ev Event, out *Result) error {
	if math.IsNaN(ev.Amount) || math.IsInf(ev.Amount, 0) {
		return fmt.Errorf("%w: amount %v is not finite", ErrInvalidEvent, ev.Amount)
	}
	if ev.TimeMillis > MaxAbsTimeMillis || ev.TimeMillis < -MaxAbsTimeMillis {
		return fmt.Errorf("%w: event time %d ms outside ±%d", ErrInvalidEvent, ev.TimeMillis, MaxAbsTimeMillis)
	}
	if !s.sameWindows(cfg) {
		if err := s.configure(cfg); err != nil {
			return err
		}
	}
	if n := len(s.events); n > s.head {
		newest := s.events[n-1].TimeMillis
		if ev.TimeMillis < newest {
			limit := newest - (s.windows[s.li].millis + cfg.AllowedLatenessMillis)
			if ev.TimeMillis <= limit {
				return fmt.Errorf("%w: event time %d ms is %d ms before the card's newest %d ms; accepted are times after %d ms (longest window %d ms + allowed lateness %d ms)",
					ErrTooLate, ev.TimeMillis, newest-ev.TimeMillis, newest, limit, s.windows[s.li].millis, cfg.AllowedLatenessMillis)
			}
			s.observeLate(ev, out)
			return nil
		}
	}
	s.observeInOrder(cfg, ev, out)
	return nil
}

// observeInOrder handles ev.TimeMillis ≥ newest: pandas' incremental step.
// For each window it first removes the events that left the window, then adds
// the new one; if nothing older is left it resets instead (roll_mean's and
// roll_var's "s >= end[i-1]" branch), and if an update was ill-conditioned it
// recomputes the window (roll_var's numerically_unstable branch).
func (s *CardState) observeInOrder(cfg *Config, ev Event, out *Result) {
	t, val := ev.TimeMillis, ev.Amount
	s.events = append(s.events, StoredEvent{Seq: s.nextSeq, Event: ev})
	s.nextSeq++
	e := len(s.events) - 1 // index of ev; events[head:e] arrived before it
	out.Late = false
	out.Prev = s.prevAt(e)

	oldFrontL := s.windows[s.li].front
	out.Windows = out.Windows[:0]
	for i := range s.windows {
		w := &s.windows[i]
		lo := t - w.millis // the window is (lo, t]
		f := w.front
		for f < e && s.events[f].TimeMillis <= lo {
			f++
		}
		if f == e {
			// Nothing older is left in the window: pandas' setup branch
			// starts from zero (both compensations included).
			w.mean.reset(val)
			w.mean.add(val)
			w.vr = varAcc{}
			w.vr.add(val)
		} else {
			unstable := false
			for j := w.front; j < f; j++ {
				a := s.events[j].Amount
				w.mean.remove(a)
				unstable = w.vr.remove(a) || unstable
			}
			w.mean.add(val)
			unstable = w.vr.add(val) || unstable
			if unstable {
				w.vr.recompute(s.events[f:])
			}
		}
		w.front = f
		out.Windows = append(out.Windows, Stats{Count: w.mean.nobs, Mean: w.mean.mean(), Std: w.vr.std()})
	}

	out.MerchantSeen = s.merchantInOrder(oldFrontL, e, ev.Merchant)
	s.prune(t - (2*s.windows[s.li].millis + cfg.AllowedLatenessMillis))
}

// merchantInOrder answers MerchantSeen for the in-order event at index e and
// then counts it; the longest window has just moved its front from oldFront.
func (s *CardState) merchantInOrder(oldFront, e int, m uint64) bool {
	f := s.windows[s.li].front
	if s.merchants != nil {
		if e+1-f < merchantIndexMin/4 {
			s.merchants = nil // small again: scanning is cheaper, free the map
		} else {
			for j := oldFront; j < f; j++ {
				s.merchantRemove(s.events[j].Merchant)
			}
		}
	}
	if s.merchants == nil && e-f > merchantIndexMin {
		s.merchants = make(map[uint64]int32, 2*(e-f))
		for j := f; j < e; j++ {
			s.merchants[s.events[j].Merchant]++
		}
	}
	if s.merchants != nil {
		seen := s.merchants[m] > 0
		s.merchants[m]++
		return seen
	}
	// Scan newest first: a repeat merchant is usually recent.
	for j := e - 1; j >= f; j-- {
		if s.events[j].Merchant == m {
			return true
		}
	}
	return false
}

func (s *CardState) merchantRemove(m uint64) {
	if c := s.merchants[m]; c > 1 {
		s.merchants[m] = c - 1
	} else {
		delete(s.merchants, m)
	}
}

// prune drops the events at or before cutoff, keeping the newest of them
// aside, and compacts the backing array once the pruned slots are at least
// half of it (amortised O(1) per event; the array stays within about twice
// the retained events, so appends stop allocating).
func (s *CardState) prune(cutoff int64) {
	h := s.head
	for h < len(s.events)-1 && s.events[h].TimeMillis <= cutoff {
		h++
	}
	if h == s.head {
		return
	}
	for i := s.head; i < h; i++ {
		if q := s.events[i].Seq; q < s.baseSeq {
			s.prunedSeqs = append(s.prunedSeqs, q) // persisted: delete it
		}
	}
	s.pruned, s.hasPruned = s.events[h-1].Event, true
	s.head = h
	if h >= compactMin && 2*h >= len(s.events) {
		n := copy(s.events, s.events[h:])
		s.events = s.events[:n]
		for i := range s.windows {
			s.windows[i].front -= h
		}
		s.head = 0
	}
}

// observeLate handles newest − (longest + lateness) < t < newest.
func (s *CardState) observeLate(ev Event, out *Result) {
	t, val := ev.TimeMillis, ev.Amount
	n := len(s.events)
	newest := s.events[n-1].TimeMillis
	// p: where ev goes, after every retained event with time ≤ t (so after
	// those at the same time, which arrived earlier). events[head:p] are the
	// candidates of its windows.
	p := s.firstAfter(s.head, n, t)
	out.Late = true
	out.Prev = s.prevAt(p)

	// Its own windows, computed afresh as pandas would for a window it
	// starts from scratch: the earlier arrivals in (t − w, t] in time order,
	// then the event itself.
	out.Windows = out.Windows[:0]
	for i := range s.windows {
		lo := s.firstAfter(s.head, p, t-s.windows[i].millis)
		var m meanAcc
		var v varAcc
		m.reset(val)
		if lo < p {
			m.reset(s.events[lo].Amount)
		}
		for j := lo; j < p; j++ {
			m.add(s.events[j].Amount)
			v.add(s.events[j].Amount)
		}
		m.add(val)
		v.add(val)
		out.Windows = append(out.Windows, Stats{Count: m.nobs, Mean: m.mean(), Std: v.std()})
	}
	out.MerchantSeen = false
	for j := s.firstAfter(s.head, p, t-s.windows[s.li].millis); j < p; j++ {
		if s.events[j].Merchant == ev.Merchant {
			out.MerchantSeen = true
			break
		}
	}

	// Insert it, and count it in every running window it falls into: those
	// of the newest event with newest − w < t. Any such window's front is
	// ≤ p; a window it misses has front ≥ p and shifts by one.
	s.events = append(s.events, StoredEvent{})
	copy(s.events[p+1:], s.events[p:n])
	s.events[p] = StoredEvent{Seq: s.nextSeq, Event: ev}
	s.nextSeq++
	for i := range s.windows {
		w := &s.windows[i]
		if t <= newest-w.millis {
			w.front++
			continue
		}
		w.mean.addLate(val, int64(n-p))
		if w.vr.add(val) {
			w.vr.recompute(s.events[w.front:])
		}
	}
	if s.merchants != nil && t > newest-s.windows[s.li].millis {
		s.merchants[ev.Merchant]++
	}
}

// firstAfter returns the first index i in [lo, hi) with
// events[i].TimeMillis > t, or hi (events[lo:hi] is sorted).
func (s *CardState) firstAfter(lo, hi int, t int64) int {
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if s.events[mid].TimeMillis > t {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// prevAt returns the previous event of an event that goes at index p (after
// events[head:p], which arrived before it and are not later than it).
func (s *CardState) prevAt(p int) PrevEvent {
	var e *Event
	switch {
	case p > s.head:
		e = &s.events[p-1].Event
	case s.hasPruned:
		e = &s.pruned
	default:
		return PrevEvent{Lat: math.NaN(), Lon: math.NaN()}
	}
	return PrevEvent{Found: true, TimeMillis: e.TimeMillis, Amount: e.Amount, Lat: e.Lat, Lon: e.Lon, Country: e.Country, Merchant: e.Merchant}
}

// sameWindows reports whether the state was built for cfg's windows. A state
// without windows never matches, so an empty Config reaches Validate.
func (s *CardState) sameWindows(cfg *Config) bool {
	if len(s.windows) == 0 || len(s.windows) != len(cfg.WindowsMillis) {
		return false
	}
	for i := range s.windows {
		if s.windows[i].millis != cfg.WindowsMillis[i] {
			return false
		}
	}
	return true
}

// configure adopts cfg's windows and rebuilds each running state from the
// retained events as pandas' setup branch would: the newest event's window,
// added in time order from zero.
func (s *CardState) configure(cfg *Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	s.windows = s.windows[:0]
	for _, w := range cfg.WindowsMillis {
		s.windows = append(s.windows, window{millis: w, front: s.head})
	}
	_, s.li = cfg.longest()
	s.merchants = nil
	n := len(s.events)
	if n == s.head {
		return nil
	}
	newest := s.events[n-1].TimeMillis
	for i := range s.windows {
		w := &s.windows[i]
		w.front = s.firstAfter(s.head, n, newest-w.millis)
		w.mean.reset(s.events[w.front].Amount)
		for j := w.front; j < n; j++ {
			w.mean.add(s.events[j].Amount)
		}
		w.vr.recompute(s.events[w.front:])
	}
	return nil
}
