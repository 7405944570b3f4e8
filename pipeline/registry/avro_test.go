package registry

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hamba/avro/v2"
)

func parseAvroText(t *testing.T, text string) (*avroSchema, error) {
	t.Helper()
	decoded, err := decodeJSON(text)
	if err != nil {
		return nil, err
	}
	return newAvroParser().parseDocument(decoded)
}

func TestAvroParserAcceptsValidSchemas(t *testing.T) {
	for name, text := range map[string]string{
		"primitive":         `"string"`,
		"logical type":      `{"type":"long","logicalType":"timestamp-millis"}`,
		"recursive record":  `{"type":"record","name":"Node","fields":[{"name":"v","type":"int"},{"name":"next","type":["null","Node"],"default":null}]}`,
		"short name in ns":  `{"type":"record","name":"A","namespace":"x.y","fields":[{"name":"e","type":{"type":"enum","name":"E","symbols":["P","Q"]}},{"name":"e2","type":"E"},{"name":"e3","type":"x.y.E"}]}`,
		"defaults":          `{"type":"record","name":"D","fields":[{"name":"a","type":"int","default":1},{"name":"b","type":"double","default":"NaN"},{"name":"c","type":{"type":"array","items":"string"},"default":[]},{"name":"d","type":{"type":"map","values":"long"},"default":{"k":2}},{"name":"e","type":"bytes","default":"\u00ff"}]}`,
		"fixed and alias":   `{"type":"record","name":"F","aliases":["Old"],"fields":[{"name":"h","type":{"type":"fixed","name":"MD5","size":16}}]}`,
		"enum with default": `{"type":"enum","name":"Action","symbols":["approve","decline","review"],"default":"review"}`,
		"nested type attr":  `{"type":{"type":"array","items":"int"}}`,
	} {
		if _, err := parseAvroText(t, text); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestAvroParserRejectsInvalidSchemas(t *testing.T) {
	for name, tc := range map[string]struct{ text, want string }{
		"unknown type":         {`{"type":"record","name":"R","fields":[{"name":"a","type":"strnig"}]}`, `unknown type "strnig"`},
		"no fields":            {`{"type":"record","name":"R"}`, `needs a "fields" array`},
		"no name":              {`{"type":"record","fields":[]}`, `needs a "name"`},
		"bad name":             {`{"type":"record","name":"1R","fields":[]}`, `invalid name`},
		"duplicate field":      {`{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"a","type":"long"}]}`, `duplicate field "a"`},
		"bad int default":      {`{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":"x"}]}`, `default value of field "a"`},
		"int default too big":  {`{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":3000000000}]}`, `default value of field "a"`},
		"union default branch": {`{"type":"record","name":"R","fields":[{"name":"a","type":["string","null"],"default":null}]}`, `default value of field "a"`},
		"nested union":         {`["null",["int","long"]]`, `may not directly contain another union`},
		"duplicate branch":     {`["null","int","int"]`, `duplicate int in union`},
		"enum symbol":          {`{"type":"enum","name":"E","symbols":["ok","not ok"]}`, `invalid enum symbol`},
		"enum default":         {`{"type":"enum","name":"E","symbols":["a"],"default":"b"}`, `enum default`},
		"fixed size":           {`{"type":"fixed","name":"F"}`, `numeric "size"`},
		"redefinition":         {`{"type":"record","name":"R","fields":[{"name":"a","type":{"type":"record","name":"R","fields":[]}}]}`, `defined twice`},
		"use before define":    {`{"type":"record","name":"R","fields":[{"name":"a","type":"E"},{"name":"b","type":{"type":"enum","name":"E","symbols":["x"]}}]}`, `unknown type "E"`},
		"array without items":  {`{"type":"array"}`, `needs "items"`},
		"number as schema":     {`3`, `not a number`},
		"missing type":         {`{"name":"x"}`, `missing "type"`},
	} {
		_, err := parseAvroText(t, tc.text)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", name, err, tc.want)
		}
	}
}

// TestProjectSchemasParse parses fraudstream's own .avsc files, so the
// registry accepts what the pipeline registers.
func TestProjectSchemasParse(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "schemas", "*.avsc"))
	if len(files) == 0 {
		t.Skip("no schemas/*.avsc in this checkout")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s, err := parseAvroText(t, string(b))
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if msgs := avroIncompatibilities(s, s); len(msgs) != 0 {
			t.Errorf("%s is not compatible with itself: %v", f, msgs)
		}
	}
}

func TestCanonicalJSON(t *testing.T) {
	a, _ := decodeJSON(`{"type": "record", "name":"R", "fields":[{"name":"big","type":"long","default":9007199254740993}]}`)
	b, _ := decodeJSON(`{"fields":[{"default":9007199254740993,"type":"long","name":"big"}],"name":"R","type":"record"}`)
	ca, _ := canonicalJSON(a)
	cb, _ := canonicalJSON(b)
	if ca != cb {
		t.Fatalf("canonical forms differ:\n%s\n%s", ca, cb)
	}
	// Numbers are kept as written, not rounded through float64.
	if !strings.Contains(ca, "9007199254740993") {
		t.Fatalf("large long default rounded: %s", ca)
	}
	if _, err := decodeJSON(`{"type":"string"} trailing`); err == nil {
		t.Fatal("trailing data accepted")
	}
}

// TestAvroCompatibility checks reader/writer resolution case by case, and
// that hamba/avro (the pipeline's codec, which implements the same Avro
// rules) agrees on every case.
func TestAvroCompatibility(t *testing.T) {
	rec := func(fields string) string { return `{"type":"record","name":"R","fields":[` + fields + `]}` }
	node := func(valueType, extra string) string {
		return `{"type":"record","name":"Node","fields":[{"name":"v","type":"` + valueType + `"},{"name":"next","type":["null","Node"],"default":null}` + extra + `]}`
	}
	for _, tc := range []struct {
		name           string
		writer, reader string
		compatible     bool
		wantMsg        string // a substring of the messages, when incompatible
	}{
		{"identical", rec(`{"name":"a","type":"int"}`), rec(`{"name":"a","type":"int"}`), true, ""},
		{"reader adds field with default", rec(`{"name":"a","type":"int"}`), rec(`{"name":"a","type":"int"},{"name":"b","type":["null","string"],"default":null}`), true, ""},
		{"reader adds field without default", rec(`{"name":"a","type":"int"}`), rec(`{"name":"a","type":"int"},{"name":"b","type":"string"}`), false, "READER_FIELD_MISSING_DEFAULT_VALUE"},
		{"reader drops field", rec(`{"name":"a","type":"int"},{"name":"b","type":"string"}`), rec(`{"name":"a","type":"int"}`), true, ""},
		{"int to long", rec(`{"name":"a","type":"int"}`), rec(`{"name":"a","type":"long"}`), true, ""},
		{"int to double", `"int"`, `"double"`, true, ""},
		{"long to float", `"long"`, `"float"`, true, ""},
		{"float to double", `"float"`, `"double"`, true, ""},
		{"long to int", rec(`{"name":"a","type":"long"}`), rec(`{"name":"a","type":"int"}`), false, "/fields/0/type"},
		{"double to float", `"double"`, `"float"`, false, "TYPE_MISMATCH"},
		{"string to bytes", `"string"`, `"bytes"`, true, ""},
		{"bytes to string", `"bytes"`, `"string"`, true, ""},
		{"string to int", `"string"`, `"int"`, false, "TYPE_MISMATCH"},
		{"writer union into wider union", `["null","string"]`, `["null","string","int"]`, true, ""},
		{"writer union into narrower union", `["null","string","int"]`, `["null","string"]`, false, "MISSING_UNION_BRANCH"},
		{"writer union into non-union", `["null","string"]`, `"string"`, false, "TYPE_MISMATCH"},
		{"non-union into union", `"string"`, `["null","string"]`, true, ""},
		{"union branch promoted", `["null","int"]`, `["null","long"]`, true, ""},
		{"non-union missing from union", `"boolean"`, `["null","string"]`, false, "MISSING_UNION_BRANCH"},
		{"enum subset", `{"type":"enum","name":"E","symbols":["a"]}`, `{"type":"enum","name":"E","symbols":["a","b"]}`, true, ""},
		{"enum writer has more", `{"type":"enum","name":"E","symbols":["a","b"]}`, `{"type":"enum","name":"E","symbols":["a"]}`, false, "MISSING_ENUM_SYMBOLS"},
		{"enum reader default", `{"type":"enum","name":"E","symbols":["a","b"]}`, `{"type":"enum","name":"E","symbols":["a"],"default":"a"}`, true, ""},
		{"fixed size", `{"type":"fixed","name":"F","size":4}`, `{"type":"fixed","name":"F","size":8}`, false, "FIXED_SIZE_MISMATCH"},
		{"record renamed", rec(`{"name":"a","type":"int"}`), `{"type":"record","name":"S","fields":[{"name":"a","type":"int"}]}`, false, "NAME_MISMATCH"},
		{"record renamed with alias", rec(`{"name":"a","type":"int"}`), `{"type":"record","name":"S","aliases":["R"],"fields":[{"name":"a","type":"int"}]}`, true, ""},
		{"namespace change keeps short name", `{"type":"record","name":"R","namespace":"a","fields":[]}`, `{"type":"record","name":"R","namespace":"b","fields":[]}`, true, ""},
		{"field renamed with alias", rec(`{"name":"a","type":"int"}`), rec(`{"name":"b","aliases":["a"],"type":"int"}`), true, ""},
		{"array items promoted", `{"type":"array","items":"int"}`, `{"type":"array","items":"long"}`, true, ""},
		{"map values changed", `{"type":"map","values":"string"}`, `{"type":"map","values":"int"}`, false, "/values"},
		{"nested record field changed", rec(`{"name":"m","type":{"type":"record","name":"M","fields":[{"name":"x","type":"string"}]}}`), rec(`{"name":"m","type":{"type":"record","name":"M","fields":[{"name":"x","type":"int"}]}}`), false, "/fields/0/type/fields/0/type"},
		{"recursive promoted", node("int", ""), node("long", ""), true, ""},
		{"recursive new required field", node("int", ""), node("int", `,{"name":"w","type":"int"}`), false, "READER_FIELD_MISSING_DEFAULT_VALUE"},
		{"recursive changed", node("long", ""), node("int", ""), false, "TYPE_MISMATCH"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, err := parseAvroText(t, tc.writer)
			if err != nil {
				t.Fatalf("writer: %v", err)
			}
			r, err := parseAvroText(t, tc.reader)
			if err != nil {
				t.Fatalf("reader: %v", err)
			}
			msgs := avroIncompatibilities(r, w)
			if got := len(msgs) == 0; got != tc.compatible {
				t.Fatalf("compatible = %v, want %v (messages %v)", got, tc.compatible, msgs)
			}
			if tc.wantMsg != "" && !strings.Contains(strings.Join(msgs, "\n"), tc.wantMsg) {
				t.Fatalf("messages %v lack %q", msgs, tc.wantMsg)
			}

			// Oracle: hamba/avro's implementation of the same rules.
			hw, err := avro.ParseWithCache(tc.writer, "", &avro.SchemaCache{})
			if err != nil {
				t.Fatalf("hamba writer: %v", err)
			}
			hr, err := avro.ParseWithCache(tc.reader, "", &avro.SchemaCache{})
			if err != nil {
				t.Fatalf("hamba reader: %v", err)
			}
			herr := avro.NewSchemaCompatibility().Compatible(hr, hw)
			if (herr == nil) != tc.compatible {
				t.Fatalf("hamba/avro disagrees: %v", herr)
			}
		})
	}
}
