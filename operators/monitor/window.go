package monitor

import (
	"errors"
	"fmt"
	"math"
)

// Sentinel errors; callers branch on them with errors.Is.
var (
	// ErrInvalidConfig: a config field is out of range. The message names the
	// field and the allowed values.
	ErrInvalidConfig = errors.New("monitor: invalid config")
	// ErrBaselineMismatch: the baseline does not fit the feature names or is
	// malformed (edges and fractions do not agree).
	ErrBaselineMismatch = errors.New("monitor: baseline does not match the features")
)

// Defaults of [CountWindow].
const (
	DefaultWindowEvents = 100_000
	DefaultSubWindows   = 10
	// MaxSubWindows bounds CountWindow.SubWindows and
	// PerformanceConfig.SubWindows: the snapshot cost grows with it.
	MaxSubWindows = 10_000
)

// CountWindow is a sliding window over the most recent events, counted in
// events (not time), kept as a ring of SubWindows sub-windows of
// Events/SubWindows events each. When the newest sub-window is full, the
// oldest is dropped whole, so memory is O(SubWindows × cells) and expiry
// costs O(cells) once per sub-window, never per event.
//
// Once Events events have been seen the window holds the most recent n events
// with Events − Events/SubWindows < n ≤ Events (it shrinks by one sub-window
// at each rotation, then refills). Snapshots report n.
type CountWindow struct {
	// Events is the window length in events (default 100,000). It must be a
	// multiple of SubWindows, so that the window never exceeds it.
	Events int
	// SubWindows is the number of sub-windows (default 10): more makes the
	// window's length steadier (it varies by Events/SubWindows) at the cost
	// of SubWindows × cells counters of memory and snapshot time.
	SubWindows int
}

// withDefaults fills zero fields and checks the rest. field prefixes the field
// names in error messages.
func (c CountWindow) withDefaults(field string) (CountWindow, error) {
	if c.Events == 0 {
		c.Events = DefaultWindowEvents
	}
	if c.SubWindows == 0 {
		c.SubWindows = DefaultSubWindows
	}
	if c.SubWindows < 1 || c.SubWindows > MaxSubWindows {
		return c, fmt.Errorf("%w: %sSubWindows: %d outside [1, %d] (0 means %d)", ErrInvalidConfig, field, c.SubWindows, MaxSubWindows, DefaultSubWindows)
	}
	if c.Events < c.SubWindows || c.Events%c.SubWindows != 0 {
		return c, fmt.Errorf("%w: %sEvents: %d must be a positive multiple of SubWindows (%d) (0 means %d)", ErrInvalidConfig, field, c.Events, c.SubWindows, DefaultWindowEvents)
	}
	if c.Events/c.SubWindows > math.MaxUint32 {
		return c, fmt.Errorf("%w: %sEvents: %d events per sub-window exceed the 32-bit counters (%d); use more SubWindows", ErrInvalidConfig, field, c.Events/c.SubWindows, uint64(math.MaxUint32))
	}
	return c, nil
}

// eventRing keeps per-cell event counts over a CountWindow: slot-major
// counts[slot*cells+cell]. Invariant: events[s] ≤ perSlot for every slot, and
// counts of slot s are those of the events[s] events observed into it since it
// was last cleared.
type eventRing struct {
	cells   int
	perSlot int
	counts  []uint32
	events  []int
	cur     int    // slot receiving events
	seen    uint64 // events observed since creation
}

func newEventRing(cells int, c CountWindow) eventRing {
	return eventRing{
		cells:   cells,
		perSlot: c.Events / c.SubWindows,
		counts:  make([]uint32, cells*c.SubWindows),
		events:  make([]int, c.SubWindows),
	}
}

// next accounts for one more event and returns the slot it goes to and that
// slot's counts (to increment). If the current slot is full, the oldest slot
// is cleared and becomes current: fresh reports that (the caller resets its
// own per-slot state).
func (r *eventRing) next() (slot int, counts []uint32, fresh bool) {
	if r.events[r.cur] == r.perSlot {
		r.cur++
		if r.cur == len(r.events) {
			r.cur = 0
		}
		clear(r.counts[r.cur*r.cells : (r.cur+1)*r.cells])
		r.events[r.cur] = 0
		fresh = true
	}
	r.events[r.cur]++
	r.seen++
	return r.cur, r.counts[r.cur*r.cells : (r.cur+1)*r.cells], fresh
}

// sum writes the window's total count of each cell into dst (len cells) and
// returns the number of events in the window. Integer sums: exact and
// independent of order.
func (r *eventRing) sum(dst []uint64) int {
	clear(dst)
	n := 0
	for s, e := range r.events {
		if e == 0 {
			continue
		}
		n += e
		for i, c := range r.counts[s*r.cells : (s+1)*r.cells] {
			dst[i] += uint64(c)
		}
	}
	return n
}

// oldestFirst calls f for each slot from the oldest to the newest (the
// current one last), so that floating-point merges run in a fixed order.
func (r *eventRing) oldestFirst(f func(slot int)) {
	k := len(r.events)
	for i := 1; i <= k; i++ {
		s := (r.cur + i) % k
		if r.events[s] > 0 {
			f(s)
		}
	}
}
