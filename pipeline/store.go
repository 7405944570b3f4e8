package pipeline

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	"github.com/cockroachdb/pebble/v2"
)

// Store is the local Pebble state of one instance: the card states of the
// partitions it owns, and per partition the offsets they reflect.
//
// Key layout. Every key of one input partition starts with the same prefix,
// so a partition's state can be found, copied or dropped as a unit (one range
// deletion):
//
//	p/<topic>/<partition:4 bytes BE>/m              → partitionMeta
//	p/<topic>/<partition:4 bytes BE>/h/<card_id>    → card head (running window aggregates)
//	p/<topic>/<partition:4 bytes BE>/e/<card_id>\x00<seq:8 bytes BE> → one retained event
//
// Invariant: the meta key and the card keys of a partition are only ever
// written together, in one Pebble batch, after the Kafka transaction that
// produced the same changes (decisions, changelog records, input offsets)
// has committed. So Pebble holds a prefix of the committed history: its meta
// says which input offset and changelog offset the state reflects, and a
// task whose Pebble state is behind the committed offsets restores the gap
// from the changelog. Writes are not fsynced: losing the tail of Pebble's
// WAL loses the matching meta too, and the changelog fills the gap.
type Store struct {
	db  *pebble.DB
	dir string
}

// OpenStore opens (creating if needed) the Pebble database in dir.
func OpenStore(dir string) (*Store, error) {
	opts := &pebble.Options{
		Logger: quietPebbleLogger{},
		// A card's head is rewritten by every batch that touches the card;
		// a large memtable absorbs those rewrites in memory (a flush keeps
		// only the newest version), so hot cards do not turn into write
		// and compaction amplification.
		MemTableSize:                64 << 20,
		MemTableStopWritesThreshold: 4,
		L0CompactionThreshold:       4,
		L0StopWritesThreshold:       24,
	}
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("open state store %s: %w (is another instance using this state.dir?)", dir, err)
	}
	return &Store{db: db, dir: dir}, nil
}

// Close closes the database.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close state store %s: %w", s.dir, err)
	}
	return nil
}

// partitionMeta is what a partition's state reflects.
type partitionMeta struct {
	// InputNext is the next input offset to process (the committed consumer
	// offset this state matches).
	InputNext int64
	// ChangelogNext is the changelog offset after the last changelog record
	// this state includes (-1: unknown, restore from the beginning).
	ChangelogNext int64
	// LabelsNext is the next labels-topic offset (-1: none processed).
	LabelsNext int64
}

const metaVersion = 2

func (m partitionMeta) encode() []byte {
	b := []byte{metaVersion}
	b = binary.BigEndian.AppendUint64(b, uint64(m.InputNext))
	b = binary.BigEndian.AppendUint64(b, uint64(m.ChangelogNext))
	return binary.BigEndian.AppendUint64(b, uint64(m.LabelsNext))
}

func decodeMeta(b []byte) (partitionMeta, error) {
	if len(b) != 25 || b[0] != metaVersion {
		return partitionMeta{}, fmt.Errorf("partition meta: unknown format (%d bytes, version %d)", len(b), b[0])
	}
	return partitionMeta{
		InputNext:     int64(binary.BigEndian.Uint64(b[1:9])),
		ChangelogNext: int64(binary.BigEndian.Uint64(b[9:17])),
		LabelsNext:    int64(binary.BigEndian.Uint64(b[17:25])),
	}, nil
}

func partitionPrefix(topic string, partition int32) []byte {
	b := make([]byte, 0, len(topic)+12)
	b = append(b, "p/"...)
	b = append(b, topic...)
	b = append(b, '/')
	b = binary.BigEndian.AppendUint32(b, uint32(partition))
	return append(b, '/')
}

// prefixEnd returns the smallest key greater than every key with prefix p.
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

func metaKey(pfx []byte) []byte { return append(bytes.Clone(pfx), 'm') }

func headKey(dst, pfx []byte, card string) []byte {
	dst = append(dst[:0], pfx...)
	dst = append(dst, 'h', '/')
	return append(dst, card...)
}

func eventPrefix(dst, pfx []byte, card string) []byte {
	dst = append(dst[:0], pfx...)
	dst = append(dst, 'e', '/')
	dst = append(dst, card...)
	return append(dst, 0)
}

func eventKey(dst, pfx []byte, card string, seq uint64) []byte {
	dst = eventPrefix(dst, pfx, card)
	return binary.BigEndian.AppendUint64(dst, seq)
}

// loadMeta returns the partition's meta, or ok=false when the store has no
// state for it.
func (s *Store) loadMeta(pfx []byte) (m partitionMeta, ok bool, err error) {
	v, closer, err := s.db.Get(metaKey(pfx))
	if errors.Is(err, pebble.ErrNotFound) {
		return m, false, nil
	}
	if err != nil {
		return m, false, fmt.Errorf("read partition meta: %w", err)
	}
	defer closer.Close()
	m, err = decodeMeta(v)
	return m, err == nil, err
}

// loadWatermark reads the partition's committed event-time watermark.
func (s *Store) loadWatermark(pfx []byte) (int64, error) {
	v, closer, err := s.db.Get(append(bytes.Clone(pfx), watermarkKey...))
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read watermark: %w", err)
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, fmt.Errorf("watermark: %d bytes, want 8", len(v))
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}

// loadCard reads a card's head and events (in seq order). found is false
// when the card has no state.
func (s *Store) loadCard(pfx []byte, card string, scratch []byte, eachEvent func(seq uint64, v []byte) error) (head []byte, found bool, err error) {
	k := headKey(scratch, pfx, card)
	v, closer, err := s.db.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read card state: %w", err)
	}
	head = bytes.Clone(v)
	closer.Close()
	lo := eventPrefix(scratch, pfx, card)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: prefixEnd(lo)})
	if err != nil {
		return nil, false, fmt.Errorf("read card events: %w", err)
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		key := it.Key()
		seq := binary.BigEndian.Uint64(key[len(key)-8:])
		if err := eachEvent(seq, it.Value()); err != nil {
			return nil, false, err
		}
	}
	return head, true, it.Error()
}

// dropPartition deletes all state of one partition.
func (s *Store) dropPartition(pfx []byte) error {
	if err := s.db.DeleteRange(pfx, prefixEnd(pfx), pebble.NoSync); err != nil {
		return fmt.Errorf("drop partition state: %w", err)
	}
	return nil
}

// newBatch returns a write batch; commit it with commitBatch.
func (s *Store) newBatch() *pebble.Batch { return s.db.NewBatch() }

func (s *Store) commitBatch(b *pebble.Batch) error {
	defer b.Close()
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("write state batch: %w", err)
	}
	return nil
}

// quietPebbleLogger drops Pebble's informational chatter ("Found 0 WALs") and
// keeps its errors on stderr.
type quietPebbleLogger struct{}

func (quietPebbleLogger) Infof(string, ...any) {}
func (quietPebbleLogger) Errorf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "pebble: "+format+"\n", args...)
}
func (quietPebbleLogger) Fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "pebble: fatal: "+format+"\n", args...)
	os.Exit(1)
}
