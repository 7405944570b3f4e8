package registry

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
)

// decodeJSON parses text as exactly one JSON value. Numbers stay
// json.Number so that canonicalization does not round large longs through
// float64.
func decodeJSON(text string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("unexpected data after the JSON value")
	}
	return v, nil
}

// canonicalJSON re-marshals a decoded JSON value compactly. encoding/json
// sorts object keys, so two texts that differ only in whitespace or key order
// have the same canonical form. Array order (record fields, union branches,
// enum symbols) is kept: it is meaningful in Avro.
func canonicalJSON(v any) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

// avroSchema is a parsed Avro schema, just what validation and the
// compatibility check need. Named types (record, enum, fixed) are shared
// pointers, so a recursive record is a cyclic graph.
type avroSchema struct {
	kind string // a primitive name, or record, enum, array, map, fixed, union

	fullName string   // record, enum, fixed
	aliases  []string // record, enum, fixed: full names

	fields         []*avroField  // record
	symbols        []string      // enum
	hasEnumDefault bool          // enum: unknown writer symbols read as the default
	items          *avroSchema   // array
	values         *avroSchema   // map
	size           int64         // fixed, bytes
	branches       []*avroSchema // union
}

type avroField struct {
	name       string
	aliases    []string
	typ        *avroSchema
	hasDefault bool
}

var avroPrimitives = map[string]bool{
	"null": true, "boolean": true, "int": true, "long": true,
	"float": true, "double": true, "bytes": true, "string": true,
}

func (s *avroSchema) named() bool {
	return s.kind == "record" || s.kind == "enum" || s.kind == "fixed"
}

// describe names a schema in messages: its full name if named, else its kind.
func (s *avroSchema) describe() string {
	if s.named() {
		return s.kind + " " + s.fullName
	}
	return s.kind
}

// avroParser parses one schema together with the schemas it references.
// names holds every named type defined so far, by full name; Avro requires a
// name to be defined before it is used (a record may use itself), so one
// pass in document order resolves everything.
type avroParser struct {
	names    map[string]*avroSchema
	defaults []pendingDefault
}

// pendingDefault is a field default checked after the whole schema is parsed,
// when the field's type (possibly the enclosing record) is complete.
type pendingDefault struct {
	path  string
	field string
	typ   *avroSchema
	value any
}

func newAvroParser() *avroParser {
	return &avroParser{names: make(map[string]*avroSchema)}
}

// parseDocument parses one decoded schema document and checks its defaults.
func (p *avroParser) parseDocument(v any) (*avroSchema, error) {
	s, err := p.parse(v, "", "")
	if err != nil {
		return nil, err
	}
	for _, d := range p.defaults {
		if !validDefault(d.typ, d.value) {
			return nil, fmt.Errorf("%s: default value of field %q is not a valid %s", pathOrRoot(d.path), d.field, d.typ.describe())
		}
	}
	p.defaults = p.defaults[:0]
	return s, nil
}

func pathOrRoot(path string) string {
	if path == "" {
		return "/"
	}
	return path
}

func (p *avroParser) parse(v any, ns, path string) (*avroSchema, error) {
	switch t := v.(type) {
	case string:
		return p.resolve(t, ns, path)
	case []any:
		return p.parseUnion(t, ns, path)
	case map[string]any:
		return p.parseObject(t, ns, path)
	default:
		return nil, fmt.Errorf("%s: a schema must be a type name, an object or a union array, not %s", pathOrRoot(path), jsonKind(v))
	}
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number, float64:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	default:
		return "an object"
	}
}

func (p *avroParser) resolve(name, ns, path string) (*avroSchema, error) {
	if avroPrimitives[name] {
		return &avroSchema{kind: name}, nil
	}
	if !strings.Contains(name, ".") && ns != "" {
		if s, ok := p.names[ns+"."+name]; ok {
			return s, nil
		}
	}
	if s, ok := p.names[name]; ok {
		return s, nil
	}
	return nil, fmt.Errorf("%s: unknown type %q: not a primitive, not defined earlier in the schema and not provided by a reference", pathOrRoot(path), name)
}

func (p *avroParser) parseUnion(branches []any, ns, path string) (*avroSchema, error) {
	u := &avroSchema{kind: "union"}
	seen := make(map[string]bool)
	for i, b := range branches {
		bpath := fmt.Sprintf("%s/%d", path, i)
		s, err := p.parse(b, ns, bpath)
		if err != nil {
			return nil, err
		}
		if s.kind == "union" {
			return nil, fmt.Errorf("%s: a union may not directly contain another union", bpath)
		}
		key := s.kind
		if s.named() {
			key = s.fullName
		}
		if seen[key] {
			return nil, fmt.Errorf("%s: duplicate %s in union", bpath, s.describe())
		}
		seen[key] = true
		u.branches = append(u.branches, s)
	}
	return u, nil
}

func (p *avroParser) parseObject(m map[string]any, ns, path string) (*avroSchema, error) {
	t, ok := m["type"]
	if !ok {
		return nil, fmt.Errorf("%s: missing \"type\"", pathOrRoot(path))
	}
	ts, ok := t.(string)
	if !ok {
		// {"type": {...}} or {"type": [...]}: Avro's Java parser rejects
		// these at schema level, but some generators emit them and a real
		// registry may have accepted them through another parser; being
		// lenient here costs nothing.
		return p.parse(t, ns, path+"/type")
	}
	switch ts {
	case "record", "error":
		return p.parseRecord(m, ns, path)
	case "enum":
		return p.parseEnum(m, ns, path)
	case "fixed":
		return p.parseFixed(m, ns, path)
	case "array":
		items, ok := m["items"]
		if !ok {
			return nil, fmt.Errorf("%s: array needs \"items\"", pathOrRoot(path))
		}
		it, err := p.parse(items, ns, path+"/items")
		if err != nil {
			return nil, err
		}
		return &avroSchema{kind: "array", items: it}, nil
	case "map":
		values, ok := m["values"]
		if !ok {
			return nil, fmt.Errorf("%s: map needs \"values\"", pathOrRoot(path))
		}
		vs, err := p.parse(values, ns, path+"/values")
		if err != nil {
			return nil, err
		}
		return &avroSchema{kind: "map", values: vs}, nil
	default:
		// A primitive with attributes (logicalType etc., which do not change
		// resolution) or {"type": "SomeNamedType"}.
		return p.resolve(ts, ns, path)
	}
}

// define computes the full name and namespace of a named type and reserves
// it. The namespace returned is the one its children are resolved in.
func (p *avroParser) define(m map[string]any, ns, path string) (fullName, childNS string, err error) {
	name, ok := m["name"].(string)
	if !ok || name == "" {
		return "", "", fmt.Errorf("%s: a named type needs a \"name\" string", pathOrRoot(path))
	}
	if strings.Contains(name, ".") {
		fullName = name
	} else {
		if v, ok := m["namespace"]; ok && v != nil {
			s, ok := v.(string)
			if !ok {
				return "", "", fmt.Errorf("%s: \"namespace\" must be a string", pathOrRoot(path))
			}
			ns = s
		}
		fullName = name
		if ns != "" {
			fullName = ns + "." + name
		}
	}
	if err := validFullName(fullName); err != nil {
		return "", "", fmt.Errorf("%s: %w", pathOrRoot(path), err)
	}
	if avroPrimitives[fullName] {
		return "", "", fmt.Errorf("%s: %q is a primitive type and cannot be redefined", pathOrRoot(path), fullName)
	}
	if _, dup := p.names[fullName]; dup {
		return "", "", fmt.Errorf("%s: type %q is defined twice", pathOrRoot(path), fullName)
	}
	if i := strings.LastIndexByte(fullName, '.'); i >= 0 {
		childNS = fullName[:i]
	}
	return fullName, childNS, nil
}

// aliasNames reads a named type's "aliases", qualifying short ones with ns.
func aliasNames(m map[string]any, ns, path string) ([]string, error) {
	v, ok := m["aliases"]
	if !ok || v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%s: \"aliases\" must be an array of strings", pathOrRoot(path))
	}
	var out []string
	for _, a := range list {
		s, ok := a.(string)
		if !ok {
			return nil, fmt.Errorf("%s: \"aliases\" must be an array of strings", pathOrRoot(path))
		}
		if !strings.Contains(s, ".") && ns != "" {
			s = ns + "." + s
		}
		out = append(out, s)
	}
	return out, nil
}

func (p *avroParser) parseRecord(m map[string]any, ns, path string) (*avroSchema, error) {
	full, rns, err := p.define(m, ns, path)
	if err != nil {
		return nil, err
	}
	aliases, err := aliasNames(m, rns, path)
	if err != nil {
		return nil, err
	}
	rec := &avroSchema{kind: "record", fullName: full, aliases: aliases}
	p.names[full] = rec // before the fields: a record may refer to itself

	fields, ok := m["fields"].([]any)
	if !ok {
		return nil, fmt.Errorf("%s: record %s needs a \"fields\" array", pathOrRoot(path), full)
	}
	seen := make(map[string]bool, len(fields))
	for i, fv := range fields {
		fpath := fmt.Sprintf("%s/fields/%d", path, i)
		fm, ok := fv.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: a field must be an object", fpath)
		}
		name, _ := fm["name"].(string)
		if !validName(name) {
			return nil, fmt.Errorf("%s: invalid field name %q", fpath, name)
		}
		if seen[name] {
			return nil, fmt.Errorf("%s: duplicate field %q in record %s", fpath, name, full)
		}
		seen[name] = true
		ft, ok := fm["type"]
		if !ok {
			return nil, fmt.Errorf("%s: field %q has no \"type\"", fpath, name)
		}
		typ, err := p.parse(ft, rns, fpath+"/type")
		if err != nil {
			return nil, err
		}
		f := &avroField{name: name, typ: typ}
		if as, ok := fm["aliases"].([]any); ok {
			for _, a := range as {
				if s, ok := a.(string); ok {
					f.aliases = append(f.aliases, s)
				}
			}
		}
		if d, ok := fm["default"]; ok {
			f.hasDefault = true
			p.defaults = append(p.defaults, pendingDefault{path: fpath, field: name, typ: typ, value: d})
		}
		rec.fields = append(rec.fields, f)
	}
	return rec, nil
}

func (p *avroParser) parseEnum(m map[string]any, ns, path string) (*avroSchema, error) {
	full, ens, err := p.define(m, ns, path)
	if err != nil {
		return nil, err
	}
	aliases, err := aliasNames(m, ens, path)
	if err != nil {
		return nil, err
	}
	list, ok := m["symbols"].([]any)
	if !ok {
		return nil, fmt.Errorf("%s: enum %s needs a \"symbols\" array", pathOrRoot(path), full)
	}
	e := &avroSchema{kind: "enum", fullName: full, aliases: aliases}
	seen := make(map[string]bool, len(list))
	for _, sv := range list {
		s, _ := sv.(string)
		if !validName(s) {
			return nil, fmt.Errorf("%s: invalid enum symbol %v in %s", pathOrRoot(path), sv, full)
		}
		if seen[s] {
			return nil, fmt.Errorf("%s: duplicate enum symbol %q in %s", pathOrRoot(path), s, full)
		}
		seen[s] = true
		e.symbols = append(e.symbols, s)
	}
	if d, ok := m["default"]; ok {
		s, _ := d.(string)
		if !seen[s] {
			return nil, fmt.Errorf("%s: enum default %v is not a symbol of %s", pathOrRoot(path), d, full)
		}
		e.hasEnumDefault = true
	}
	p.names[full] = e
	return e, nil
}

func (p *avroParser) parseFixed(m map[string]any, ns, path string) (*avroSchema, error) {
	full, fns, err := p.define(m, ns, path)
	if err != nil {
		return nil, err
	}
	aliases, err := aliasNames(m, fns, path)
	if err != nil {
		return nil, err
	}
	n, ok := m["size"].(json.Number)
	if !ok {
		return nil, fmt.Errorf("%s: fixed %s needs a numeric \"size\"", pathOrRoot(path), full)
	}
	size, err := n.Int64()
	if err != nil || size < 0 || size > math.MaxInt32 {
		return nil, fmt.Errorf("%s: invalid size %s for fixed %s", pathOrRoot(path), n, full)
	}
	f := &avroSchema{kind: "fixed", fullName: full, aliases: aliases, size: size}
	p.names[full] = f
	return f, nil
}

// validName reports whether s is an Avro name: [A-Za-z_][A-Za-z0-9_]*.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

func validFullName(full string) error {
	for _, part := range strings.Split(full, ".") {
		if !validName(part) {
			return fmt.Errorf("invalid name %q: each dot-separated part must match [A-Za-z_][A-Za-z0-9_]*", full)
		}
	}
	return nil
}

// validDefault reports whether v (decoded JSON) is a valid default for s,
// following Avro's Java implementation (Schema.isValidDefault): a union's
// default must match its first branch; bytes and fixed defaults are strings.
func validDefault(s *avroSchema, v any) bool {
	switch s.kind {
	case "null":
		return v == nil
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "int":
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		i, err := n.Int64()
		return err == nil && i >= math.MinInt32 && i <= math.MaxInt32
	case "long":
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		_, err := n.Int64()
		return err == nil
	case "float", "double":
		switch t := v.(type) {
		case json.Number:
			_, err := t.Float64()
			return err == nil
		case string:
			return t == "NaN" || t == "Infinity" || t == "-Infinity"
		}
		return false
	case "bytes", "string", "enum", "fixed":
		_, ok := v.(string)
		return ok
	case "array":
		list, ok := v.([]any)
		if !ok {
			return false
		}
		for _, e := range list {
			if !validDefault(s.items, e) {
				return false
			}
		}
		return true
	case "map":
		m, ok := v.(map[string]any)
		if !ok {
			return false
		}
		for _, e := range m {
			if !validDefault(s.values, e) {
				return false
			}
		}
		return true
	case "record":
		m, ok := v.(map[string]any)
		if !ok {
			return false
		}
		for _, f := range s.fields {
			fv, present := m[f.name]
			if !present {
				if !f.hasDefault {
					return false
				}
				continue
			}
			if !validDefault(f.typ, fv) {
				return false
			}
		}
		return true
	case "union":
		return len(s.branches) > 0 && validDefault(s.branches[0], v)
	}
	return false
}
