package windows

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestRestoreBitIdentical: a random stream (late and too-late events
// included) is observed by an uninterrupted state and by one that is encoded
// and decoded at random points. Every result must have the same bits, and the
// two states must encode to the same bytes.
func TestRestoreBitIdentical(t *testing.T) {
	seeds := 100
	if testing.Short() {
		seeds = 20
	}
	restores := 0
	for seed := range seeds {
		rng := rand.New(rand.NewPCG(uint64(seed), 11))
		cfg := randomConfig(rng)
		stream := randomStream(rng, cfg, 1+rng.IntN(3), 50+rng.IntN(200))
		straight := map[string]*CardState{}
		restored := map[string]*CardState{}
		var ra, rb Result
		var buf []byte
		for i, a := range stream {
			sa, sb := straight[a.card], restored[a.card]
			if sa == nil {
				sa, sb = &CardState{}, &CardState{}
				straight[a.card], restored[a.card] = sa, sb
			}
			if rng.Float64() < 0.2 {
				buf = sb.AppendBinary(buf[:0])
				// Alternate between decoding into a fresh state and into
				// the used one (which reuses its memory).
				if rng.IntN(2) == 0 {
					sb = &CardState{}
					restored[a.card] = sb
				}
				if err := sb.UnmarshalBinary(buf); err != nil {
					t.Fatalf("seed %d event %d: %v", seed, i, err)
				}
				restores++
			}
			ea := sa.Observe(cfg, a.ev, &ra)
			eb := sb.Observe(cfg, a.ev, &rb)
			where := fmt.Sprintf("seed %d event %d", seed, i)
			if (ea == nil) != (eb == nil) || (ea != nil && ea.Error() != eb.Error()) {
				t.Fatalf("%s: errors %v vs %v", where, ea, eb)
			}
			if ea != nil {
				continue
			}
			if err := sameResultBits(&ra, &rb); err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			if !bytes.Equal(sa.AppendBinary(nil), sb.AppendBinary(nil)) {
				t.Fatalf("%s: encodings differ", where)
			}
		}
	}
	if restores < 1000 {
		t.Fatalf("only %d restores", restores)
	}
}

func sameResultBits(a, b *Result) error {
	if len(a.Windows) != len(b.Windows) {
		return fmt.Errorf("%d vs %d windows", len(a.Windows), len(b.Windows))
	}
	for i := range a.Windows {
		x, y := a.Windows[i], b.Windows[i]
		if x.Count != y.Count || math.Float64bits(x.Mean) != math.Float64bits(y.Mean) || math.Float64bits(x.Std) != math.Float64bits(y.Std) {
			return fmt.Errorf("window %d: %+v vs %+v", i, x, y)
		}
	}
	pa, pb := a.Prev, b.Prev
	if pa.Found != pb.Found || pa.TimeMillis != pb.TimeMillis || math.Float64bits(pa.Amount) != math.Float64bits(pb.Amount) ||
		math.Float64bits(pa.Lat) != math.Float64bits(pb.Lat) || math.Float64bits(pa.Lon) != math.Float64bits(pb.Lon) ||
		pa.Country != pb.Country || pa.Merchant != pb.Merchant {
		return fmt.Errorf("prev %+v vs %+v", pa, pb)
	}
	if a.MerchantSeen != b.MerchantSeen || a.Late != b.Late {
		return fmt.Errorf("merchant seen %t/%t, late %t/%t", a.MerchantSeen, b.MerchantSeen, a.Late, b.Late)
	}
	return nil
}

// TestEncodingLayout pins the format: version byte, sizes, little-endian.
func TestEncodingLayout(t *testing.T) {
	var s CardState
	if got := s.AppendBinary(nil); !bytes.Equal(got, append([]byte{1}, make([]byte, 15)...)) {
		t.Fatalf("empty state encodes to %v", got)
	}
	cfg := &Config{WindowsMillis: []int64{day, 7 * day}}
	var r Result
	for i := range 3 {
		if err := s.Observe(cfg, Event{TimeMillis: int64(i) * hour, Amount: float64(i)}, &r); err != nil {
			t.Fatal(err)
		}
	}
	b := s.AppendBinary([]byte("prefix"))
	if string(b[:6]) != "prefix" {
		t.Fatal("AppendBinary overwrote dst")
	}
	b = b[6:]
	if len(b) != headerSize+2*windowSize+3*(8+eventSize) {
		t.Fatalf("%d bytes", len(b))
	}
	// version 1, no flags, 2 windows, 3 events, next seq 3
	if want := []byte{1, 0, 2, 0, 3, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0}; !bytes.Equal(b[:16], want) {
		t.Fatalf("header %v, want %v", b[:16], want)
	}
	// First window's millis (86,400,000 = 0x05265c00), little-endian.
	if got := b[16:24]; !bytes.Equal(got, []byte{0x00, 0x5c, 0x26, 0x05, 0, 0, 0, 0}) {
		t.Fatalf("window millis bytes %x", got)
	}
	// The head is the whole state without the events.
	if head := s.AppendHead(nil); !bytes.Equal(head, b[:headerSize+2*windowSize]) {
		t.Fatalf("head is not the prefix of the whole state")
	}
}

func TestUnmarshalRejectsCorrupt(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	cfg := &Config{WindowsMillis: []int64{hour, day, 7 * day}, AllowedLatenessMillis: day}
	var s CardState
	var r Result
	for _, a := range randomStream(rng, cfg, 1, 300) {
		_ = s.Observe(cfg, a.ev, &r)
	}
	good := s.AppendBinary(nil)
	var d CardState
	if err := d.UnmarshalBinary(good); err != nil {
		t.Fatal(err)
	}
	cases := map[string][]byte{
		"empty":     {},
		"truncated": good[:len(good)-1],
		"longer":    append(bytes.Clone(good), 0),
		"version 2": append([]byte{2}, good[1:]...),
		"flags":     append([]byte{1, 0x80}, good[2:]...),
	}
	// Unsorted events: the last event one second before the one before it.
	unsorted := bytes.Clone(good)
	last, prev := len(unsorted)-eventSize, len(unsorted)-(8+eventSize)-eventSize
	binary.LittleEndian.PutUint64(unsorted[last:], binary.LittleEndian.Uint64(unsorted[prev:])-1000)
	cases["unsorted"] = unsorted
	// A front that is not where the window starts.
	front := bytes.Clone(good)
	front[headerSize+8]++
	cases["front"] = front
	// A NaN amount.
	nan := bytes.Clone(good)
	copy(nan[last+8:], []byte{1, 0, 0, 0, 0, 0, 0xf8, 0x7f})
	cases["nan amount"] = nan
	for name, b := range cases {
		if err := d.UnmarshalBinary(b); !errors.Is(err, ErrCorruptState) {
			t.Errorf("%s: err %v, want ErrCorruptState", name, err)
		}
		if d.Len() != 0 {
			t.Errorf("%s: state not empty after a failed decode", name)
		}
	}
}

// FuzzUnmarshalBinary: no input panics, and whatever decodes can be observed
// and re-encodes to the same bytes.
func FuzzUnmarshalBinary(f *testing.F) {
	rng := rand.New(rand.NewPCG(9, 9))
	cfg := &Config{WindowsMillis: []int64{hour, day}, AllowedLatenessMillis: hour}
	var s CardState
	var r Result
	f.Add(s.AppendBinary(nil))
	for i, a := range randomStream(rng, cfg, 1, 40) {
		_ = s.Observe(cfg, a.ev, &r)
		if i%10 == 0 {
			f.Add(s.AppendBinary(nil))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var d CardState
		if err := d.UnmarshalBinary(b); err != nil {
			return
		}
		if again := d.AppendBinary(nil); !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs")
		}
		if err := checkInvariants(&d); err != nil {
			t.Fatalf("decoded state breaks invariants: %v", err)
		}
		newest, _ := d.NewestMillis()
		_ = d.Observe(cfg, Event{TimeMillis: newest + minute, Amount: 1}, &r)
		_ = d.Observe(cfg, Event{TimeMillis: newest - minute, Amount: 2}, &r)
	})
}

// TestConfigChangeRebuilds: a card built with one set of windows, observed
// with another, continues as a state built with the new windows from the same
// retained events (pandas' setup branch over the newest event's window).
func TestConfigChangeRebuilds(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	old := &Config{WindowsMillis: []int64{7 * day}}
	cfg := &Config{WindowsMillis: []int64{hour, 14 * day, 7 * day}} // within old retention (14d)
	var s CardState
	oc := &oracleCard{}
	var r Result
	tm := int64(1767225600000)
	for i := range 400 {
		tm += int64(rng.ExpFloat64() * float64(6*hour))
		ev := Event{TimeMillis: tm, Amount: math.Round(rng.Float64()*1e4) / 100, Merchant: uint64(rng.IntN(5))}
		c := old
		if i >= 200 {
			c = cfg
		}
		if err := s.Observe(c, ev, &r); err != nil {
			t.Fatal(err)
		}
		want := oc.observe(c, ev)
		if i < 200 {
			continue
		}
		// Compare with the definition (counts exact, values close).
		if _, err := compareResult(&r, &want.res, oc, c, ev); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if err := checkInvariants(&s); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
}

func TestObserveRejects(t *testing.T) {
	cfg := &Config{WindowsMillis: []int64{day}}
	var s CardState
	var r Result
	for _, ev := range []Event{
		{TimeMillis: 0, Amount: math.Inf(1)},
		{TimeMillis: 0, Amount: math.NaN()},
		{TimeMillis: MaxAbsTimeMillis + 1, Amount: 1},
		{TimeMillis: -MaxAbsTimeMillis - 1, Amount: 1},
	} {
		if err := s.Observe(cfg, ev, &r); !errors.Is(err, ErrInvalidEvent) {
			t.Errorf("%+v: err %v, want ErrInvalidEvent", ev, err)
		}
	}
	if err := s.Observe(&Config{}, Event{Amount: 1}, &r); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("empty config: err %v, want ErrInvalidConfig", err)
	}
	if s.Len() != 0 {
		t.Fatalf("rejected events were kept")
	}
}

// memStore mimics the pipeline's Pebble layout: one head per card, one record
// per event keyed by (card, seq).
type memStore struct {
	heads  map[string][]byte
	events map[string]map[uint64][]byte
}

// commit applies a card's Changes, in a random order of deletes and writes,
// then writes its head and marks the state persisted.
func (m *memStore) commit(rng *rand.Rand, card string, s *CardState) {
	added, pruned := s.Changes()
	evs := m.events[card]
	if evs == nil {
		evs = map[uint64][]byte{}
		m.events[card] = evs
	}
	ops := make([]func(), 0, len(added)+len(pruned))
	for _, q := range pruned {
		ops = append(ops, func() { delete(evs, q) })
	}
	for i := range added {
		v := AppendStoredEvent(nil, &added[i])
		q := added[i].Seq
		ops = append(ops, func() { evs[q] = v })
	}
	rng.Shuffle(len(ops), func(i, j int) { ops[i], ops[j] = ops[j], ops[i] })
	for _, op := range ops {
		op()
	}
	m.heads[card] = s.AppendHead(nil)
	s.ResetChanges()
}

// load restores a card the way the pipeline does: head, then the event
// records in seq order.
func (m *memStore) load(card string) (*CardState, error) {
	s := &CardState{}
	head, ok := m.heads[card]
	if !ok {
		return s, nil
	}
	seqs := make([]uint64, 0, len(m.events[card]))
	for q := range m.events[card] {
		seqs = append(seqs, q)
	}
	slices.Sort(seqs)
	var evs []StoredEvent
	for _, q := range seqs {
		e, err := DecodeStoredEvent(q, m.events[card][q])
		if err != nil {
			return nil, err
		}
		evs = append(evs, e)
	}
	return s, s.Restore(head, evs)
}

// TestIncrementalPersistence runs the pipeline's cycle on a random stream:
// observe a batch, then either commit the changed cards (Changes → event
// records and head) or abort (drop the cards from the cache, reload them from
// the store and replay the batch). Cards are also evicted and reloaded at
// random. Results must be bit-identical to an uninterrupted run, and the
// store must hold exactly the retained events.
func TestIncrementalPersistence(t *testing.T) {
	seeds := 60
	if testing.Short() {
		seeds = 15
	}
	var commits, aborts, reloads int
	for seed := range seeds {
		rng := rand.New(rand.NewPCG(uint64(seed), 21))
		cfg := randomConfig(rng)
		stream := randomStream(rng, cfg, 1+rng.IntN(3), 50+rng.IntN(200))
		straight := map[string]*CardState{}
		cache := map[string]*CardState{}
		store := &memStore{heads: map[string][]byte{}, events: map[string]map[uint64][]byte{}}
		var ra, rb Result
		card := func(id string) *CardState {
			if s := cache[id]; s != nil {
				return s
			}
			s, err := store.load(id)
			if err != nil {
				t.Fatalf("seed %d: load %s: %v", seed, id, err)
			}
			reloads++
			cache[id] = s
			return s
		}
		for start := 0; start < len(stream); {
			end := min(len(stream), start+1+rng.IntN(20))
			batch := stream[start:end]
			abort := rng.Float64() < 0.15
			dirty := map[string]bool{}
			for i, a := range batch {
				sb := card(a.card)
				eb := sb.Observe(cfg, a.ev, &rb)
				dirty[a.card] = true
				if abort {
					continue // the replay after the abort is compared
				}
				sa := straight[a.card]
				if sa == nil {
					sa = &CardState{}
					straight[a.card] = sa
				}
				ea := sa.Observe(cfg, a.ev, &ra)
				if (ea == nil) != (eb == nil) {
					t.Fatalf("seed %d event %d: errors %v vs %v", seed, start+i, ea, eb)
				}
				if ea == nil {
					if err := sameResultBits(&ra, &rb); err != nil {
						t.Fatalf("seed %d event %d: %v", seed, start+i, err)
					}
				}
			}
			if abort {
				aborts++
				for id := range dirty {
					delete(cache, id)
				}
				continue // the same batch again, from the committed state
			}
			for _, id := range slices.Sorted(maps.Keys(dirty)) {
				store.commit(rng, id, cache[id])
				commits++
				if got, want := len(store.events[id]), cache[id].Len(); got != want {
					t.Fatalf("seed %d: store holds %d events of card %s, state retains %d", seed, got, id, want)
				}
				if !bytes.Equal(cache[id].AppendBinary(nil), straight[id].AppendBinary(nil)) {
					t.Fatalf("seed %d: card %s differs from the uninterrupted state", seed, id)
				}
			}
			for id := range cache {
				if rng.Float64() < 0.3 {
					delete(cache, id) // evicted; reloaded from the store on use
				}
			}
			start = end
		}
	}
	t.Logf("%d commits, %d aborts, %d reloads", commits, aborts, reloads)
}

func TestRestoreRejects(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	cfg := &Config{WindowsMillis: []int64{hour, day}, AllowedLatenessMillis: hour}
	var s CardState
	var r Result
	for _, a := range randomStream(rng, cfg, 1, 100) {
		_ = s.Observe(cfg, a.ev, &r)
	}
	head := s.AppendHead(nil)
	added, _ := s.Changes()
	events := slices.Clone(added)
	var d CardState
	if err := d.Restore(head, events); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(d.AppendBinary(nil), s.AppendBinary(nil)) {
		t.Fatal("restored state differs")
	}
	if a, p := d.Changes(); len(a) != 0 || len(p) != 0 {
		t.Fatalf("a restored state reports changes: %d added, %d pruned", len(a), len(p))
	}
	dup := slices.Clone(events)
	dup[1] = dup[0]
	for name, evs := range map[string][]StoredEvent{
		"missing":   events[1:],
		"extra":     append(slices.Clone(events), StoredEvent{Seq: 1 << 40, Event: events[0].Event}),
		"duplicate": dup,
	} {
		if err := d.Restore(head, evs); !errors.Is(err, ErrCorruptState) {
			t.Errorf("%s: err %v, want ErrCorruptState", name, err)
		}
	}
	if err := d.Restore(s.AppendBinary(nil), events); !errors.Is(err, ErrCorruptState) {
		t.Errorf("whole state as head: err %v, want ErrCorruptState", err)
	}
	if _, err := DecodeStoredEvent(1, make([]byte, eventSize-1)); !errors.Is(err, ErrCorruptState) {
		t.Errorf("short event record: err %v", err)
	}
}
