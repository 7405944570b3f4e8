package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Schema types, as Confluent spells them in "schemaType".
const (
	typeAvro     = "AVRO"
	typeJSON     = "JSON"
	typeProtobuf = "PROTOBUF"
)

// dataFormat is the version of the data file layout; bump it, and keep
// reading the old one, if the layout changes.
const dataFormat = 1

// state is everything the registry knows. It is exactly what the data file
// holds, so persisting is one json.Marshal and restoring one json.Unmarshal.
//
// Invariants (checked by decodeState, kept by the mutating methods):
//   - Schemas is sorted by ID; ids are 1, 2, 3 … in registration order and
//     are never reused, even after a hard delete, because records on disk
//     may carry them.
//   - Each subject's Versions is sorted by Version and every ID names a
//     schema in Schemas.
type state struct {
	Format int `json:"format"`
	// Compatibility is the global level set through PUT /config; empty
	// means the server's default (WithDefaultCompatibility).
	Compatibility string                    `json:"compatibility,omitempty"`
	NextID        int                       `json:"nextId"`
	Schemas       []*storedSchema           `json:"schemas"`
	Subjects      map[string]*storedSubject `json:"subjects"`
}

type storedSchema struct {
	ID         int         `json:"id"`
	Type       string      `json:"schemaType"`
	Schema     string      `json:"schema"` // the text first registered
	References []reference `json:"references,omitempty"`

	key    string      // identity: type, canonical text and references
	parsed *avroSchema // AVRO only; parsed lazily for compatibility checks
}

type storedSubject struct {
	// Compatibility is the subject-level level; empty means the global one.
	Compatibility string          `json:"compatibility,omitempty"`
	Versions      []storedVersion `json:"versions"`
}

type storedVersion struct {
	Version int  `json:"version"`
	ID      int  `json:"id"`
	Deleted bool `json:"deleted,omitempty"` // soft-deleted
}

type reference struct {
	Name    string `json:"name"`
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

func newState() *state {
	return &state{Format: dataFormat, NextID: 1, Subjects: make(map[string]*storedSubject)}
}

// live reports whether the subject has a version that is not soft-deleted;
// only such subjects "exist" for lookups, as in Confluent.
func (sub *storedSubject) live() bool {
	for _, v := range sub.Versions {
		if !v.Deleted {
			return true
		}
	}
	return false
}

// latest returns the index of the newest version, skipping soft-deleted ones
// unless withDeleted; -1 if there is none.
func (sub *storedSubject) latest(withDeleted bool) int {
	for i := len(sub.Versions) - 1; i >= 0; i-- {
		if withDeleted || !sub.Versions[i].Deleted {
			return i
		}
	}
	return -1
}

// find returns the index of version v (-1 = latest), or -1.
func (sub *storedSubject) find(v int, withDeleted bool) int {
	if v == -1 {
		return sub.latest(withDeleted)
	}
	for i, sv := range sub.Versions {
		if sv.Version == v && (withDeleted || !sv.Deleted) {
			return i
		}
	}
	return -1
}

// schemaKey identifies a schema for id reuse: the same type, canonical text
// and references get the same id, in any subject.
func schemaKey(typ, canonical string, refs []reference) string {
	r, _ := json.Marshal(refs) // cannot fail: plain strings and ints
	return typ + "\x00" + canonical + "\x00" + string(r)
}

// canonicalText returns the canonical form of a schema's text, and the
// decoded JSON for AVRO and JSON schemas.
func canonicalText(typ, text string) (canonical string, decoded any, err error) {
	if typ == typeProtobuf {
		// Protobuf is not JSON; only surrounding whitespace is ignored.
		return strings.TrimSpace(text), nil, nil
	}
	decoded, err = decodeJSON(text)
	if err != nil {
		return "", nil, fmt.Errorf("not valid JSON: %w", err)
	}
	canonical, err = canonicalJSON(decoded)
	return canonical, decoded, err
}

// parseSchemaType normalizes "schemaType"; empty means AVRO.
func parseSchemaType(s string) (string, bool) {
	switch t := strings.ToUpper(s); t {
	case "", typeAvro:
		return typeAvro, true
	case typeJSON, typeProtobuf:
		return t, true
	}
	return "", false
}

// decodeState reads a data file and checks the invariants documented on
// state, so that a hand-edited or truncated file fails at start-up rather
// than serving wrong ids.
func decodeState(b []byte) (*state, error) {
	st := newState()
	if err := json.Unmarshal(b, st); err != nil {
		return nil, err
	}
	if st.Format != dataFormat {
		return nil, fmt.Errorf("format %d is not supported (want %d)", st.Format, dataFormat)
	}
	if st.Subjects == nil {
		st.Subjects = make(map[string]*storedSubject)
	}
	if st.Compatibility != "" {
		l, ok := parseLevel(st.Compatibility)
		if !ok {
			return nil, fmt.Errorf("global compatibility %q is not a level", st.Compatibility)
		}
		st.Compatibility = l
	}
	ids := make(map[int]bool, len(st.Schemas))
	prev := 0
	for _, sch := range st.Schemas {
		if sch == nil || sch.ID <= prev {
			return nil, errors.New("schemas must be sorted by strictly increasing positive id")
		}
		prev = sch.ID
		typ, ok := parseSchemaType(sch.Type)
		if !ok {
			return nil, fmt.Errorf("schema %d: unknown schemaType %q", sch.ID, sch.Type)
		}
		sch.Type = typ
		canonical, _, err := canonicalText(typ, sch.Schema)
		if err != nil {
			return nil, fmt.Errorf("schema %d: %w", sch.ID, err)
		}
		sch.key = schemaKey(typ, canonical, sch.References)
		ids[sch.ID] = true
	}
	if st.NextID <= prev {
		st.NextID = prev + 1
	}
	for name, sub := range st.Subjects {
		if sub == nil {
			return nil, fmt.Errorf("subject %q: null", name)
		}
		if sub.Compatibility != "" {
			l, ok := parseLevel(sub.Compatibility)
			if !ok {
				return nil, fmt.Errorf("subject %q: compatibility %q is not a level", name, sub.Compatibility)
			}
			sub.Compatibility = l
		}
		last := 0
		for _, v := range sub.Versions {
			if v.Version <= last {
				return nil, fmt.Errorf("subject %q: versions must be strictly increasing and positive", name)
			}
			last = v.Version
			if !ids[v.ID] {
				return nil, fmt.Errorf("subject %q version %d: unknown schema id %d", name, v.Version, v.ID)
			}
		}
	}
	return st, nil
}

// writeFileAtomic replaces path with data so that a crash leaves either the
// old or the new file, never a torn one: write a temporary file in the same
// directory, fsync it, rename it over path, then fsync the directory so the
// rename itself is durable.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op once renamed
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // best effort: not every platform can fsync a directory
		d.Close()
	}
	return nil
}

// sortedSubjects returns subject names in order, for deterministic listings.
func (st *state) sortedSubjects() []string {
	names := make([]string, 0, len(st.Subjects))
	for n := range st.Subjects {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
