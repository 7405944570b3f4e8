package windows

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
)

// Persistence. A card's state is its head (the running state of every window,
// the newest pruned event, counters) plus its retained events. Two ways to
// store it, same bytes underneath:
//
//   - Whole: AppendBinary / UnmarshalBinary, the head followed by every
//     retained event with its Seq.
//   - Incremental: AppendHead, plus one record per event
//     (AppendStoredEvent / DecodeStoredEvent, keyed by Seq outside the
//     value), with Changes telling which event records to write and delete
//     since ResetChanges; Restore puts head and events back together. A
//     typical card's head is ~450 bytes against ~9 KB for the whole state,
//     so a batch writes what changed, not the card.
//
// Everything is little-endian and fixed-width, with no maps, so the same
// state always gives the same bytes. Floats are stored as their IEEE-754
// bits: the full roll_mean/roll_var running state (Kahan compensations
// included) is persisted, not just the events, because recomputing it from
// the events would give different last bits than the uninterrupted state.
//
// Head, format version 1:
//
//	u8   version (1)
//	u8   flags: bit 0 = a pruned event follows the windows
//	u16  number of windows W
//	u32  number of retained events N
//	u64  next Seq
//	W ×  window (108 bytes):
//	       i64 millis, u32 front (index into the events in (time, Seq) order),
//	       roll_mean: i64 nobs, f64 sum_x, f64 compensation_add,
//	                  f64 compensation_remove, i64 neg_ct,
//	                  i64 num_consecutive_same_value, f64 prev_value
//	       roll_var:  f64 nobs, f64 mean_x, f64 ssqdm_x,
//	                  f64 compensation_add, f64 compensation_remove
//	[pruned event, 48 bytes as below]
//
// Event record (48 bytes): i64 time ms, f64 amount, u64 merchant,
// u64 country, f64 lat, f64 lon.
//
// Whole state: the head, then N × (u64 Seq, event record), in (time, Seq)
// order.
//
// A new layout gets a new version byte; the decoder keeps reading old ones.
const (
	formatV1   = 1
	headerSize = 16
	windowSize = 108
	eventSize  = 48
	flagPruned = 1
	knownFlags = flagPruned
)

// AppendBinary appends the whole state's encoding to dst and returns the
// extended slice. It allocates only if dst lacks capacity.
//
// (The signature differs from encoding.BinaryAppender, which also returns an
// error: encoding cannot fail here.)
func (s *CardState) AppendBinary(dst []byte) []byte {
	dst = s.AppendHead(dst)
	for i := s.head; i < len(s.events); i++ {
		dst = binary.LittleEndian.AppendUint64(dst, s.events[i].Seq)
		dst = appendEvent(dst, &s.events[i].Event)
	}
	return dst
}

// UnmarshalBinary replaces the state with the one AppendBinary encoded in b
// (reusing the state's memory). It checks the state's invariants, so corrupt
// bytes give an error wrapping ErrCorruptState here rather than wrong results
// or a panic later; on error the state is empty. The decoded state counts as
// persisted: Changes reports nothing until it changes.
func (s *CardState) UnmarshalBinary(b []byte) error {
	s.Reset()
	if err := s.decodeWhole(b); err != nil {
		s.Reset()
		return fmt.Errorf("%w: %v", ErrCorruptState, err)
	}
	return nil
}

func (s *CardState) decodeWhole(b []byte) error {
	ne, rest, err := s.decodeHead(b)
	if err != nil {
		return err
	}
	if len(rest) != ne*(8+eventSize) {
		return fmt.Errorf("%d bytes of events, want %d for %d events", len(rest), ne*(8+eventSize), ne)
	}
	for range ne {
		seq := binary.LittleEndian.Uint64(rest)
		s.events = append(s.events, StoredEvent{Seq: seq, Event: decodeEvent(rest[8:])})
		rest = rest[8+eventSize:]
	}
	return s.checkRestored(false)
}

// AppendHead appends the head (everything but the retained events) to dst.
// Store it with the event records that Changes reports; Restore takes both.
func (s *CardState) AppendHead(dst []byte) []byte {
	flags := byte(0)
	if s.hasPruned {
		flags |= flagPruned
	}
	dst = append(dst, formatV1, flags)
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(s.windows)))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(s.events)-s.head))
	dst = binary.LittleEndian.AppendUint64(dst, s.nextSeq)
	for i := range s.windows {
		w := &s.windows[i]
		dst = appendI64(dst, w.millis)
		dst = binary.LittleEndian.AppendUint32(dst, uint32(w.front-s.head))
		dst = appendI64(dst, w.mean.nobs)
		dst = appendF64(dst, w.mean.sumX)
		dst = appendF64(dst, w.mean.compAdd)
		dst = appendF64(dst, w.mean.compRemove)
		dst = appendI64(dst, w.mean.negCt)
		dst = appendI64(dst, w.mean.numConsecutiveSameValue)
		dst = appendF64(dst, w.mean.prevValue)
		dst = appendF64(dst, w.vr.nobs)
		dst = appendF64(dst, w.vr.meanX)
		dst = appendF64(dst, w.vr.ssqdmX)
		dst = appendF64(dst, w.vr.compAdd)
		dst = appendF64(dst, w.vr.compRemove)
	}
	if s.hasPruned {
		dst = appendEvent(dst, &s.pruned)
	}
	return dst
}

// AppendStoredEvent appends e's record (without its Seq, which keys it) to
// dst.
func AppendStoredEvent(dst []byte, e *StoredEvent) []byte { return appendEvent(dst, &e.Event) }

// DecodeStoredEvent decodes an event record written by AppendStoredEvent,
// stored under seq. The error wraps ErrCorruptState.
func DecodeStoredEvent(seq uint64, v []byte) (StoredEvent, error) {
	if len(v) != eventSize {
		return StoredEvent{}, fmt.Errorf("%w: event %d: %d bytes, want %d", ErrCorruptState, seq, len(v), eventSize)
	}
	return StoredEvent{Seq: seq, Event: decodeEvent(v)}, nil
}

// Changes returns what changed since the last ResetChanges (or since the
// state was restored or decoded; a new card counts everything as added):
// added, the retained events to write, and pruned, the Seqs of previously
// persisted events to delete. An event added and pruned in between is in
// neither, so deletes and writes may be applied in any order. Write the head
// (AppendHead) with them. The slices are the state's; they are valid until
// the next Observe, Changes or ResetChanges.
func (s *CardState) Changes() (added []StoredEvent, pruned []uint64) {
	s.addedBuf = s.addedBuf[:0]
	for i := s.head; i < len(s.events); i++ {
		if s.events[i].Seq >= s.baseSeq {
			s.addedBuf = append(s.addedBuf, s.events[i])
		}
	}
	return s.addedBuf, s.prunedSeqs
}

// ResetChanges marks the current state as persisted.
func (s *CardState) ResetChanges() {
	s.baseSeq = s.nextSeq
	s.prunedSeqs = s.prunedSeqs[:0]
}

// Restore replaces the state with the one persisted as head (AppendHead) and
// its retained events (as Changes reported them over time; in any order).
// The result is bit-identical to the state that wrote them, and counts as
// persisted. Errors wrap ErrCorruptState; on error the state is empty.
func (s *CardState) Restore(head []byte, events []StoredEvent) error {
	s.Reset()
	ne, rest, err := s.decodeHead(head)
	if err == nil && len(rest) != 0 {
		err = fmt.Errorf("%d bytes after the head", len(rest))
	}
	if err == nil && len(events) != ne {
		err = fmt.Errorf("%d events, the head says %d", len(events), ne)
	}
	if err == nil {
		s.events = append(s.events, events...)
		// Retained events are ordered by time, then arrival (= Seq).
		slices.SortFunc(s.events, func(a, b StoredEvent) int {
			if a.TimeMillis != b.TimeMillis {
				if a.TimeMillis < b.TimeMillis {
					return -1
				}
				return 1
			}
			if a.Seq < b.Seq {
				return -1
			}
			if a.Seq > b.Seq {
				return 1
			}
			return 0
		})
		err = s.checkRestored(true)
	}
	if err != nil {
		s.Reset()
		return fmt.Errorf("%w: %v", ErrCorruptState, err)
	}
	return nil
}

// decodeHead decodes a head into s (windows, pruned event, counters) and
// returns the number of retained events it announces and the bytes after it.
func (s *CardState) decodeHead(b []byte) (ne int, rest []byte, err error) {
	if len(b) < headerSize {
		return 0, nil, fmt.Errorf("%d bytes, shorter than the %d-byte header", len(b), headerSize)
	}
	if b[0] != formatV1 {
		return 0, nil, fmt.Errorf("unknown format version %d (this build reads %d)", b[0], formatV1)
	}
	flags := b[1]
	if flags&^knownFlags != 0 {
		return 0, nil, fmt.Errorf("unknown flags %#x", flags)
	}
	nw := int(binary.LittleEndian.Uint16(b[2:]))
	ne = int(binary.LittleEndian.Uint32(b[4:]))
	s.nextSeq = binary.LittleEndian.Uint64(b[8:])
	hasPruned := flags&flagPruned != 0
	size := headerSize + nw*windowSize
	if hasPruned {
		size += eventSize
	}
	if len(b) < size {
		return 0, nil, fmt.Errorf("%d bytes, want at least %d for %d windows", len(b), size, nw)
	}
	if nw > MaxWindows {
		return 0, nil, fmt.Errorf("%d windows, at most %d", nw, MaxWindows)
	}
	if nw == 0 && (ne > 0 || hasPruned) {
		return 0, nil, fmt.Errorf("events without windows")
	}
	if ne == 0 && hasPruned {
		return 0, nil, fmt.Errorf("a pruned event without retained events")
	}
	if uint64(ne) > s.nextSeq {
		return 0, nil, fmt.Errorf("%d events but next seq %d", ne, s.nextSeq)
	}
	r := reader{b: b[headerSize:size]}
	for i := range nw {
		var w window
		w.millis = r.i64()
		w.front = int(r.u32())
		w.mean.nobs = r.i64()
		w.mean.sumX = r.f64()
		w.mean.compAdd = r.f64()
		w.mean.compRemove = r.f64()
		w.mean.negCt = r.i64()
		w.mean.numConsecutiveSameValue = r.i64()
		w.mean.prevValue = r.f64()
		w.vr.nobs = r.f64()
		w.vr.meanX = r.f64()
		w.vr.ssqdmX = r.f64()
		w.vr.compAdd = r.f64()
		w.vr.compRemove = r.f64()
		if w.millis <= 0 || w.millis > MaxWindowMillis {
			return 0, nil, fmt.Errorf("window %d: %d ms outside (0, %d]", i, w.millis, MaxWindowMillis)
		}
		for j := range s.windows {
			if s.windows[j].millis == w.millis {
				return 0, nil, fmt.Errorf("window %d: %d ms duplicates window %d", i, w.millis, j)
			}
		}
		if ne == 0 {
			if w.front != 0 || w.mean != (meanAcc{}) || w.vr != (varAcc{}) {
				return 0, nil, fmt.Errorf("window %d: running state without events", i)
			}
		} else {
			count := int64(ne - w.front)
			if w.front >= ne {
				return 0, nil, fmt.Errorf("window %d: front %d not below %d events", i, w.front, ne)
			}
			if w.mean.nobs != count || w.vr.nobs != float64(count) {
				return 0, nil, fmt.Errorf("window %d: counts %d/%v, want %d", i, w.mean.nobs, w.vr.nobs, count)
			}
			if w.mean.numConsecutiveSameValue < 1 {
				return 0, nil, fmt.Errorf("window %d: same-value run %d below 1", i, w.mean.numConsecutiveSameValue)
			}
			for _, f := range [...]float64{w.mean.sumX, w.mean.compAdd, w.mean.compRemove, w.mean.prevValue,
				w.vr.meanX, w.vr.ssqdmX, w.vr.compAdd, w.vr.compRemove} {
				if math.IsNaN(f) || math.IsInf(f, 0) {
					return 0, nil, fmt.Errorf("window %d: non-finite running state", i)
				}
			}
		}
		s.windows = append(s.windows, w)
	}
	if hasPruned {
		s.pruned, s.hasPruned = r.event(), true
	}
	s.li = 0
	for i := range s.windows {
		if s.windows[i].millis > s.windows[s.li].millis {
			s.li = i
		}
	}
	return ne, b[size:], nil
}

// checkRestored validates the decoded events (in s.events) against the head
// and each other, and marks the state persisted. The events must be in
// (time, Seq) order; sortedHere says Restore sorted them, so a violation can
// only be a Seq stored twice.
func (s *CardState) checkRestored(sortedHere bool) error {
	ne := len(s.events)
	for i := range s.events {
		e := &s.events[i]
		if math.IsNaN(e.Amount) || math.IsInf(e.Amount, 0) || e.TimeMillis > MaxAbsTimeMillis || e.TimeMillis < -MaxAbsTimeMillis {
			return fmt.Errorf("event seq %d: invalid amount or time", e.Seq)
		}
		if e.Seq >= s.nextSeq {
			return fmt.Errorf("event seq %d not below next seq %d", e.Seq, s.nextSeq)
		}
		if i > 0 {
			p := &s.events[i-1]
			if e.TimeMillis < p.TimeMillis || (e.TimeMillis == p.TimeMillis && e.Seq <= p.Seq) {
				if sortedHere {
					return fmt.Errorf("event seq %d stored twice", e.Seq)
				}
				return fmt.Errorf("event seq %d out of (time, seq) order", e.Seq)
			}
		}
	}
	if s.hasPruned && s.pruned.TimeMillis > s.events[0].TimeMillis {
		return fmt.Errorf("pruned event newer than the oldest retained one")
	}
	if ne > 0 {
		newest := s.events[ne-1].TimeMillis
		for i := range s.windows {
			w := &s.windows[i]
			// The front is the first event inside the newest event's window.
			if s.events[w.front].TimeMillis <= newest-w.millis ||
				(w.front > 0 && s.events[w.front-1].TimeMillis > newest-w.millis) {
				return fmt.Errorf("window %d: front %d is not the start of the newest event's window", i, w.front)
			}
			// neg_ct and the same-value run decide calc_mean's result
			// outright, so check them against the events (O(window)).
			var neg int64
			for j := w.front; j < ne; j++ {
				if math.Signbit(s.events[j].Amount) {
					neg++
				}
			}
			if neg != w.mean.negCt {
				return fmt.Errorf("window %d: neg_ct %d, but %d negative amounts", i, w.mean.negCt, neg)
			}
			for j := ne - 1; j >= w.front && int64(ne-j) <= w.mean.numConsecutiveSameValue; j-- {
				if s.events[j].Amount != w.mean.prevValue {
					return fmt.Errorf("window %d: same-value run %d, but the amount %d from the end differs", i, w.mean.numConsecutiveSameValue, ne-j)
				}
			}
		}
	}
	s.baseSeq = s.nextSeq
	return nil
}

func appendI64(dst []byte, v int64) []byte { return binary.LittleEndian.AppendUint64(dst, uint64(v)) }

func appendF64(dst []byte, v float64) []byte {
	return binary.LittleEndian.AppendUint64(dst, math.Float64bits(v))
}

func appendEvent(dst []byte, e *Event) []byte {
	dst = appendI64(dst, e.TimeMillis)
	dst = appendF64(dst, e.Amount)
	dst = binary.LittleEndian.AppendUint64(dst, e.Merchant)
	dst = binary.LittleEndian.AppendUint64(dst, e.Country)
	dst = appendF64(dst, e.Lat)
	return appendF64(dst, e.Lon)
}

func decodeEvent(b []byte) Event {
	r := reader{b: b[:eventSize]}
	return r.event()
}

// reader reads fixed-width little-endian fields; the caller has checked the
// total length.
type reader struct{ b []byte }

func (r *reader) u64() uint64 {
	v := binary.LittleEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

func (r *reader) u32() uint32 {
	v := binary.LittleEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

func (r *reader) i64() int64   { return int64(r.u64()) }
func (r *reader) f64() float64 { return math.Float64frombits(r.u64()) }

func (r *reader) event() Event {
	return Event{TimeMillis: r.i64(), Amount: r.f64(), Merchant: r.u64(), Country: r.u64(), Lat: r.f64(), Lon: r.f64()}
}
