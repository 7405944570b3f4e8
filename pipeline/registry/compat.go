package registry

import (
	"fmt"
	"slices"
	"strings"
)

// Compatibility levels, as Confluent spells them in /config.
const (
	levelNone               = "NONE"
	levelBackward           = "BACKWARD"
	levelBackwardTransitive = "BACKWARD_TRANSITIVE"
	levelForward            = "FORWARD"
	levelForwardTransitive  = "FORWARD_TRANSITIVE"
	levelFull               = "FULL"
	levelFullTransitive     = "FULL_TRANSITIVE"
)

// parseLevel normalizes a compatibility level; ok is false if it is not one.
func parseLevel(s string) (level string, ok bool) {
	switch l := strings.ToUpper(strings.TrimSpace(s)); l {
	case levelNone, levelBackward, levelBackwardTransitive, levelForward,
		levelForwardTransitive, levelFull, levelFullTransitive:
		return l, true
	}
	return "", false
}

// levelDirections tells which way a level checks: backward means the new
// schema must read data written with the old one, forward the reverse.
func levelDirections(level string) (backward, forward, transitive bool) {
	switch level {
	case levelBackward:
		return true, false, false
	case levelBackwardTransitive:
		return true, false, true
	case levelForward:
		return false, true, false
	case levelForwardTransitive:
		return false, true, true
	case levelFull:
		return true, true, false
	case levelFullTransitive:
		return true, true, true
	}
	return false, false, false
}

// avroIncompatibilities returns why data written with writer cannot be read
// with reader under Avro's schema resolution rules; nil means compatible.
//
// Named pairs (record, enum, fixed) being checked, or found compatible, are
// remembered so that recursive types terminate: a pair met again while it is
// still being checked is assumed compatible (its fields are checked by the
// outer visit, which reports any problem).
func avroIncompatibilities(reader, writer *avroSchema) []string {
	c := &avroCompat{pairs: make(map[[2]*avroSchema]bool)}
	c.check(reader, writer, "")
	return c.msgs
}

type avroCompat struct {
	// pairs holds named (reader, writer) pairs in progress or compatible;
	// failed pairs are removed so that they are re-checked, and re-reported,
	// wherever they occur.
	pairs map[[2]*avroSchema]bool
	msgs  []string
}

func (c *avroCompat) addf(errorType, path, format string, args ...any) {
	c.msgs = append(c.msgs, fmt.Sprintf("{errorType:'%s', path:'%s', description:'%s'}",
		errorType, pathOrRoot(path), fmt.Sprintf(format, args...)))
}

// promotions lists, for each writer primitive, the reader primitives that can
// read it (Avro specification, "Schema Resolution").
var promotions = map[string][]string{
	"int":    {"long", "float", "double"},
	"long":   {"float", "double"},
	"float":  {"double"},
	"string": {"bytes"},
	"bytes":  {"string"},
}

func (c *avroCompat) check(r, w *avroSchema, path string) bool {
	if w.kind == "union" {
		// Every branch the writer may have written must be readable.
		ok := true
		for _, wb := range w.branches {
			if !c.check(r, wb, path) {
				ok = false
			}
		}
		return ok
	}
	if r.kind == "union" {
		// A writer non-union is read by the first reader branch that can.
		for _, rb := range r.branches {
			trial := &avroCompat{pairs: c.pairs}
			if trial.check(rb, w, path) {
				return true
			}
		}
		c.addf("MISSING_UNION_BRANCH", path, "the reader union lacks a branch that can read the writer's %s", w.describe())
		return false
	}
	if r.kind != w.kind {
		if slices.Contains(promotions[w.kind], r.kind) {
			return true
		}
		c.addf("TYPE_MISMATCH", path, "reader type %s cannot read writer type %s", r.describe(), w.describe())
		return false
	}
	switch r.kind {
	case "array":
		return c.check(r.items, w.items, path+"/items")
	case "map":
		return c.check(r.values, w.values, path+"/values")
	case "record", "enum", "fixed":
		key := [2]*avroSchema{r, w}
		if c.pairs[key] {
			return true
		}
		c.pairs[key] = true
		ok := c.checkNamed(r, w, path)
		if !ok {
			delete(c.pairs, key)
		}
		return ok
	}
	return true // the same primitive
}

func (c *avroCompat) checkNamed(r, w *avroSchema, path string) bool {
	if shortName(r.fullName) != shortName(w.fullName) && !slices.Contains(r.aliases, w.fullName) {
		c.addf("NAME_MISMATCH", path, "reader name %s does not match writer name %s", r.fullName, w.fullName)
		return false
	}
	switch r.kind {
	case "fixed":
		if r.size != w.size {
			c.addf("FIXED_SIZE_MISMATCH", path, "reader fixed %s has size %d, writer has size %d", r.fullName, r.size, w.size)
			return false
		}
	case "enum":
		if r.hasEnumDefault {
			return true // unknown writer symbols read as the default
		}
		var missing []string
		for _, s := range w.symbols {
			if !slices.Contains(r.symbols, s) {
				missing = append(missing, s)
			}
		}
		if len(missing) > 0 {
			c.addf("MISSING_ENUM_SYMBOLS", path, "reader enum %s has no default and lacks writer symbols %v", r.fullName, missing)
			return false
		}
	case "record":
		ok := true
		for i, rf := range r.fields {
			fpath := fmt.Sprintf("%s/fields/%d", path, i)
			wf := writerField(w, rf)
			if wf == nil {
				if !rf.hasDefault {
					c.addf("READER_FIELD_MISSING_DEFAULT_VALUE", fpath,
						"reader field '%s' has no default value and is missing in the writer schema", rf.name)
					ok = false
				}
				continue
			}
			if !c.check(rf.typ, wf.typ, fpath+"/type") {
				ok = false
			}
		}
		return ok
	}
	return true
}

// writerField finds the writer field that a reader field reads: the one with
// its name, else one named by a reader alias.
func writerField(w *avroSchema, rf *avroField) *avroField {
	for _, wf := range w.fields {
		if wf.name == rf.name {
			return wf
		}
	}
	for _, a := range rf.aliases {
		for _, wf := range w.fields {
			if wf.name == a {
				return wf
			}
		}
	}
	return nil
}

func shortName(full string) string {
	if i := strings.LastIndexByte(full, '.'); i >= 0 {
		return full[i+1:]
	}
	return full
}
