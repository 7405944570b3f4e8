package windows

import (
	"errors"
	"fmt"
)

// Sentinel errors; callers branch on them with errors.Is.
var (
	// ErrTooLate: the event's time is at or before the card's newest event
	// time minus (longest window + allowed lateness). The pipeline sends such
	// events to the DLQ with reason too_late. The state is unchanged.
	ErrTooLate = errors.New("windows: event too late")
	// ErrInvalidEvent: the amount is NaN or infinite, or the event time is out
	// of the supported range (|t| > MaxAbsTimeMillis). The state is unchanged.
	ErrInvalidEvent = errors.New("windows: invalid event")
	// ErrInvalidConfig: Config.Validate failed.
	ErrInvalidConfig = errors.New("windows: invalid config")
	// ErrCorruptState: UnmarshalBinary was given bytes it cannot decode, or
	// bytes that break the state's invariants.
	ErrCorruptState = errors.New("windows: corrupt state")
)

const (
	// MaxWindowMillis bounds each window and the allowed lateness (about 34
	// years), so that t − (2 × longest + lateness) never overflows int64 for
	// any accepted event time.
	MaxWindowMillis = int64(1) << 40
	// MaxAbsTimeMillis bounds |event time| (about 36 million years from the
	// epoch): far beyond any real timestamp, far below overflow.
	MaxAbsTimeMillis = int64(1) << 60
	// MaxWindows bounds len(Config.WindowsMillis).
	MaxWindows = 64
)

// Config configures the windows. The zero value is invalid; call Validate at
// start-up. The same Config must be passed to every Observe of a card (if the
// windows change, the card's running state is rebuilt from its retained
// events, see Observe).
type Config struct {
	// WindowsMillis are the window lengths in milliseconds, e.g. 1h, 7d, 30d,
	// 90d. Result.Windows follows this order. Each in (0, MaxWindowMillis],
	// no duplicates.
	WindowsMillis []int64
	// AllowedLatenessMillis is how much older than (newest − longest window)
	// an event may be and still be accepted (default 0: only events within
	// the longest window of the card's newest are accepted). It also sets
	// retention: events newer than newest − (2 × longest + lateness) are kept,
	// so a larger lateness costs state size.
	AllowedLatenessMillis int64
}

// Validate reports, with the field name and the allowed values, what is wrong
// with c. The error wraps ErrInvalidConfig.
func (c *Config) Validate() error {
	if len(c.WindowsMillis) == 0 {
		return fmt.Errorf("%w: WindowsMillis: at least one window is required", ErrInvalidConfig)
	}
	if len(c.WindowsMillis) > MaxWindows {
		return fmt.Errorf("%w: WindowsMillis: %d windows, at most %d allowed", ErrInvalidConfig, len(c.WindowsMillis), MaxWindows)
	}
	for i, w := range c.WindowsMillis {
		if w <= 0 || w > MaxWindowMillis {
			return fmt.Errorf("%w: WindowsMillis[%d]: %d ms outside (0, %d]", ErrInvalidConfig, i, w, MaxWindowMillis)
		}
		for j := range i {
			if c.WindowsMillis[j] == w {
				return fmt.Errorf("%w: WindowsMillis[%d]: %d ms duplicates WindowsMillis[%d]", ErrInvalidConfig, i, w, j)
			}
		}
	}
	if c.AllowedLatenessMillis < 0 || c.AllowedLatenessMillis > MaxWindowMillis {
		return fmt.Errorf("%w: AllowedLatenessMillis: %d ms outside [0, %d]", ErrInvalidConfig, c.AllowedLatenessMillis, MaxWindowMillis)
	}
	return nil
}

// longest returns the longest window and its index in c.WindowsMillis.
func (c *Config) longest() (int64, int) {
	l, li := c.WindowsMillis[0], 0
	for i, w := range c.WindowsMillis[1:] {
		if w > l {
			l, li = w, i+1
		}
	}
	return l, li
}
