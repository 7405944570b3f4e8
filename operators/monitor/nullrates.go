package monitor

import (
	"fmt"
	"math"

	"github.com/fraudstream/fraudstream/schemas"
)

// Names of the transaction's optional input fields, as [InputNulls] reports
// them.
const (
	FieldCountry  = "country"
	FieldDeviceID = "device_id"
	FieldIP       = "ip"
	// FieldLatLon is null when lat or lon is missing: the features use a
	// location only when both are present.
	FieldLatLon = "lat_lon"
)

// InputFields returns the names of the nullable input fields in the order
// [InputNulls] writes them (a fresh slice).
func InputFields() []string {
	return []string{FieldCountry, FieldDeviceID, FieldIP, FieldLatLon}
}

// InputNulls writes into dst (grown to len(InputFields())) whether each
// nullable input field of tx is missing, in InputFields order, and returns
// it. It does not allocate when dst has room.
func InputNulls(dst []bool, tx *schemas.Transaction) []bool {
	dst = append(dst[:0], tx.Country == nil, tx.DeviceID == nil, tx.IP == nil, tx.Lat == nil || tx.Lon == nil)
	return dst
}

// NullRates tracks the share of missing values of named input fields over a
// sliding window of recent events (input data quality, the first line of the
// seed's monitoring checklist). Memory is O(SubWindows × fields); Observe
// does not allocate. Not safe for concurrent use (see [Drift]).
type NullRates struct {
	names   []string
	ring    eventRing
	scratch []uint64
}

// NewNullRates returns a tracker for the named fields (e.g. [InputFields]).
// The zero window is the default (the last 100,000 events).
func NewNullRates(fields []string, window CountWindow) (*NullRates, error) {
	if len(fields) == 0 {
		return nil, fmt.Errorf("%w: NullRates needs at least one field name", ErrInvalidConfig)
	}
	w, err := window.withDefaults("")
	if err != nil {
		return nil, err
	}
	return &NullRates{
		names:   append([]string(nil), fields...),
		ring:    newEventRing(len(fields), w),
		scratch: make([]uint64, len(fields)),
	}, nil
}

// Observe adds one event: isNull[i] says whether field i is missing. It
// panics if len(isNull) differs from the number of fields (a wiring bug).
func (r *NullRates) Observe(isNull []bool) {
	if len(isNull) != len(r.names) {
		panic(fmt.Sprintf("monitor: NullRates.Observe got %d flags, want %d", len(isNull), len(r.names)))
	}
	_, c, _ := r.ring.next()
	for i, null := range isNull {
		if null {
			c[i]++
		}
	}
}

// NullRatesSnapshot is the state of a [NullRates] window.
type NullRatesSnapshot struct {
	Events int    // events in the window
	Seen   uint64 // events observed since creation
	Fields []FieldNullRate
}

// FieldNullRate is one field's share of missing values in the window (NaN
// while the window is empty).
type FieldNullRate struct {
	Name     string
	NullRate float64
}

// Snapshot returns the null rate of every field over the current window.
func (r *NullRates) Snapshot() NullRatesSnapshot {
	n := r.ring.sum(r.scratch)
	s := NullRatesSnapshot{Events: n, Seen: r.ring.seen, Fields: make([]FieldNullRate, len(r.names))}
	for i, name := range r.names {
		s.Fields[i] = FieldNullRate{Name: name, NullRate: math.NaN()}
		if n > 0 {
			s.Fields[i].NullRate = float64(r.scratch[i]) / float64(n)
		}
	}
	return s
}
