package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/sr"
)

// Schemas used across the tests: a cut-down fraudstream Transaction and its
// evolutions.
const (
	txV1 = `{"type":"record","name":"Transaction","namespace":"fraudstream","fields":[
		{"name":"transaction_id","type":"string"},
		{"name":"card_id","type":"string"},
		{"name":"amount_cents","type":"long"}]}`

	// txV2 adds an optional field: BACKWARD compatible with txV1.
	txV2 = `{"type":"record","name":"Transaction","namespace":"fraudstream","fields":[
		{"name":"transaction_id","type":"string"},
		{"name":"card_id","type":"string"},
		{"name":"amount_cents","type":"long"},
		{"name":"country","type":["null","string"],"default":null}]}`

	// txRequired adds a field without default: not BACKWARD compatible.
	txRequired = `{"type":"record","name":"Transaction","namespace":"fraudstream","fields":[
		{"name":"transaction_id","type":"string"},
		{"name":"card_id","type":"string"},
		{"name":"amount_cents","type":"long"},
		{"name":"country","type":["null","string"],"default":null},
		{"name":"mcc","type":"int"}]}`

	// txRetyped changes amount_cents from long to string.
	txRetyped = `{"type":"record","name":"Transaction","namespace":"fraudstream","fields":[
		{"name":"transaction_id","type":"string"},
		{"name":"card_id","type":"string"},
		{"name":"amount_cents","type":"string"},
		{"name":"country","type":["null","string"],"default":null}]}`

	labelV1 = `{"type":"record","name":"Label","namespace":"fraudstream","fields":[
		{"name":"transaction_id","type":"string"},
		{"name":"is_fraud","type":"boolean"}]}`
)

func avroSchemaOf(text string) sr.Schema { return sr.Schema{Schema: text, Type: sr.TypeAvro} }

// newTestRegistry serves a fresh registry through httptest and returns a real
// franz-go client for it.
func newTestRegistry(t *testing.T, opts ...Opt) (*Server, *sr.Client, string) {
	t.Helper()
	s := New(opts...)
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	cl, err := sr.NewClient(sr.URLs(hs.URL))
	if err != nil {
		t.Fatal(err)
	}
	return s, cl, hs.URL
}

func mustRegister(t *testing.T, cl *sr.Client, subject, schema string) int {
	t.Helper()
	id, err := cl.RegisterSchema(context.Background(), subject, avroSchemaOf(schema), -1, -1)
	if err != nil {
		t.Fatalf("register in %s: %v", subject, err)
	}
	return id
}

// responseError asserts err is a registry error with the given code.
func responseError(t *testing.T, err error, status, code int) *sr.ResponseError {
	t.Helper()
	var re *sr.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("want a *sr.ResponseError with code %d, got %v", code, err)
	}
	if re.StatusCode != status || re.ErrorCode != code {
		t.Fatalf("want HTTP %d error_code %d, got HTTP %d error_code %d (%s)", status, code, re.StatusCode, re.ErrorCode, re.Message)
	}
	return re
}

func TestRegisterAssignsStableIDs(t *testing.T) {
	ctx := context.Background()
	_, cl, _ := newTestRegistry(t)

	if id := mustRegister(t, cl, "transactions-value", txV1); id != 1 {
		t.Fatalf("first schema id = %d, want 1", id)
	}
	if id := mustRegister(t, cl, "labels-value", labelV1); id != 2 {
		t.Fatalf("second schema id = %d, want 2", id)
	}
	// The same schema again, and the same schema re-indented with its keys
	// in another order: same id, and no new version.
	if id := mustRegister(t, cl, "transactions-value", txV1); id != 1 {
		t.Fatalf("re-registered id = %d, want 1", id)
	}
	reordered := `{"namespace": "fraudstream", "name": "Transaction", "fields": [
		{"type": "string", "name": "transaction_id"},
		{"type": "string", "name": "card_id"},
		{"type": "long",   "name": "amount_cents"}], "type": "record"}`
	if id := mustRegister(t, cl, "transactions-value", reordered); id != 1 {
		t.Fatalf("reformatted schema id = %d, want 1", id)
	}
	versions, err := cl.SubjectVersions(ctx, "transactions-value")
	if err != nil || !slices.Equal(versions, []int{1}) {
		t.Fatalf("versions = %v, %v; want [1]", versions, err)
	}
	// The same schema under another subject reuses the global id but is
	// version 1 there.
	if id := mustRegister(t, cl, "transactions-replay-value", txV1); id != 1 {
		t.Fatalf("id in second subject = %d, want 1", id)
	}
	usages, err := cl.SchemaVersionsByID(ctx, 1)
	want := []sr.SubjectVersion{{Subject: "transactions-replay-value", Version: 1}, {Subject: "transactions-value", Version: 1}}
	if err != nil || !slices.Equal(usages, want) {
		t.Fatalf("usages of id 1 = %v, %v; want %v", usages, err, want)
	}
	// An evolution is a new id and a new version.
	if id := mustRegister(t, cl, "transactions-value", txV2); id != 3 {
		t.Fatalf("evolved schema id = %d, want 3", id)
	}
	subjects, err := cl.Subjects(ctx)
	if err != nil || !slices.Equal(subjects, []string{"labels-value", "transactions-replay-value", "transactions-value"}) {
		t.Fatalf("subjects = %v, %v", subjects, err)
	}
	// CreateSchema registers and then looks the result up through
	// /schemas/ids/{id}/versions and /subjects/{s}/versions/{v}.
	ss, err := cl.CreateSchema(ctx, "labels-replay-value", avroSchemaOf(labelV1))
	if err != nil || ss.ID != 2 || ss.Version != 1 || ss.Subject != "labels-replay-value" {
		t.Fatalf("CreateSchema = %+v, %v; want id 2 version 1", ss, err)
	}
}

func TestFetchAndLookup(t *testing.T) {
	ctx := context.Background()
	_, cl, _ := newTestRegistry(t)
	mustRegister(t, cl, "transactions-value", txV1)
	mustRegister(t, cl, "transactions-value", txV2)

	byID, err := cl.SchemaByID(ctx, 2)
	if err != nil || byID.Schema != txV2 || byID.Type != sr.TypeAvro {
		t.Fatalf("SchemaByID(2) = %+v, %v", byID, err)
	}
	text, err := cl.SchemaTextByID(ctx, 1)
	if err != nil || text != txV1 {
		t.Fatalf("SchemaTextByID(1) = %q, %v", text, err)
	}
	latest, err := cl.SchemaByVersion(ctx, "transactions-value", -1)
	if err != nil || latest.ID != 2 || latest.Version != 2 || latest.Subject != "transactions-value" || latest.Schema.Schema != txV2 {
		t.Fatalf("latest = %+v, %v", latest, err)
	}
	first, err := cl.SchemaByVersion(ctx, "transactions-value", 1)
	if err != nil || first.ID != 1 || first.Version != 1 {
		t.Fatalf("version 1 = %+v, %v", first, err)
	}
	latestText, err := cl.SchemaTextByVersion(ctx, "transactions-value", -1)
	if err != nil || latestText != txV2 {
		t.Fatalf("latest text = %q, %v", latestText, err)
	}
	found, err := cl.LookupSchema(ctx, "transactions-value", avroSchemaOf(txV1))
	if err != nil || found.ID != 1 || found.Version != 1 || found.Subject != "transactions-value" {
		t.Fatalf("LookupSchema(v1) = %+v, %v", found, err)
	}
	_, err = cl.LookupSchema(ctx, "transactions-value", avroSchemaOf(labelV1))
	responseError(t, err, 404, 40403)
	_, err = cl.LookupSchema(ctx, "nope", avroSchemaOf(txV1))
	responseError(t, err, 404, 40401)

	all, err := cl.Schemas(ctx, "transactions-value")
	if err != nil || len(all) != 2 || all[0].ID != 1 || all[1].ID != 2 {
		t.Fatalf("Schemas = %+v, %v", all, err)
	}
	types, err := cl.SupportedTypes(ctx)
	if err != nil || !slices.Equal(types, []sr.SchemaType{sr.TypeAvro, sr.TypeProtobuf, sr.TypeJSON}) {
		t.Fatalf("SupportedTypes = %v, %v", types, err)
	}

	// Subjects may contain characters that need escaping, '/' included.
	if id := mustRegister(t, cl, "odd/subject name", labelV1); id != 3 {
		t.Fatalf("id = %d, want 3", id)
	}
	odd, err := cl.SchemaByVersion(ctx, "odd/subject name", -1)
	if err != nil || odd.ID != 3 || odd.Subject != "odd/subject name" {
		t.Fatalf("odd subject = %+v, %v", odd, err)
	}

	// A JSON schema is stored with its type and answered with it.
	js := sr.Schema{Schema: `{"type":"object","properties":{"a":{"type":"integer"}}}`, Type: sr.TypeJSON}
	jsID, err := cl.RegisterSchema(ctx, "json-value", js, -1, -1)
	if err != nil {
		t.Fatal(err)
	}
	gotJS, err := cl.SchemaByID(ctx, jsID)
	if err != nil || gotJS.Type != sr.TypeJSON || gotJS.Schema != js.Schema {
		t.Fatalf("JSON schema = %+v, %v", gotJS, err)
	}
}

func TestErrorsHaveConfluentShape(t *testing.T) {
	ctx := context.Background()
	_, cl, url := newTestRegistry(t)
	mustRegister(t, cl, "transactions-value", txV1)

	_, err := cl.SchemaByID(ctx, 99)
	responseError(t, err, 404, 40403)
	_, err = cl.SchemaByVersion(ctx, "nope", -1)
	if re := responseError(t, err, 404, 40401); re.Message != "Subject 'nope' not found." {
		t.Fatalf("message = %q", re.Message)
	}
	_, err = cl.SchemaByVersion(ctx, "transactions-value", 7)
	responseError(t, err, 404, 40402)
	_, err = cl.RegisterSchema(ctx, "transactions-value", avroSchemaOf(`{"type":"record","name":"T","fields":[{"name":"a","type":"strnig"}]}`), -1, -1)
	if re := responseError(t, err, 422, 42201); !strings.Contains(re.Message, `unknown type "strnig"`) {
		t.Fatalf("message = %q", re.Message)
	}
	_, err = cl.RegisterSchema(ctx, "transactions-value", avroSchemaOf(`{"type":`), -1, -1)
	responseError(t, err, 422, 42201)
	// Registering with an id the registry would not assign needs IMPORT
	// mode, which is not implemented.
	_, err = cl.RegisterSchema(ctx, "labels-value", avroSchemaOf(labelV1), 42, -1)
	responseError(t, err, 422, 42205)
	// Schema contexts are not implemented.
	_, err = cl.Subjects(sr.InContext(ctx, "staging"))
	responseError(t, err, 404, 404)

	// The raw bytes, content type included.
	resp, err := http.Get(url + "/subjects/nope/versions")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || resp.Header.Get("Content-Type") != "application/vnd.schemaregistry.v1+json" ||
		strings.TrimSpace(string(body)) != `{"error_code":40401,"message":"Subject 'nope' not found."}` {
		t.Fatalf("GET unknown subject: %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	resp, err = http.Get(url + "/subjects/transactions-value/versions/zero")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 422 {
		t.Fatalf("bad version: HTTP %d, want 422", resp.StatusCode)
	}
}

func TestCompatibleEvolutionAcceptedIncompatibleRejected(t *testing.T) {
	ctx := context.Background()
	_, cl, _ := newTestRegistry(t)
	const subject = "transactions-value"
	mustRegister(t, cl, subject, txV1)

	if id := mustRegister(t, cl, subject, txV2); id != 2 {
		t.Fatalf("optional field: id %d, want 2", id)
	}

	_, err := cl.RegisterSchema(ctx, subject, avroSchemaOf(txRequired), -1, -1)
	re := responseError(t, err, 409, 409)
	for _, want := range []string{"READER_FIELD_MISSING_DEFAULT_VALUE", "'mcc'", "{oldSchemaVersion: 2}", "{compatibility: 'BACKWARD'}"} {
		if !strings.Contains(re.Message, want) {
			t.Errorf("409 message lacks %q: %s", want, re.Message)
		}
	}
	_, err = cl.RegisterSchema(ctx, subject, avroSchemaOf(txRetyped), -1, -1)
	re = responseError(t, err, 409, 409)
	if !strings.Contains(re.Message, "TYPE_MISMATCH") || !strings.Contains(re.Message, "/fields/2/type") {
		t.Errorf("409 message for a changed type: %s", re.Message)
	}
	// Nothing was registered by the rejected attempts.
	versions, err := cl.SubjectVersions(ctx, subject)
	if err != nil || !slices.Equal(versions, []int{1, 2}) {
		t.Fatalf("versions = %v, %v; want [1 2]", versions, err)
	}

	// The compatibility endpoint, against latest, a given version and all.
	res, err := cl.CheckCompatibility(ctx, subject, -1, avroSchemaOf(txRequired))
	if err != nil || res.Is || len(res.Messages) == 0 {
		t.Fatalf("check required field = %+v, %v; want incompatible with messages", res, err)
	}
	res, err = cl.CheckCompatibility(ctx, subject, 1, avroSchemaOf(txV2))
	if err != nil || !res.Is {
		t.Fatalf("check v2 against v1 = %+v, %v; want compatible", res, err)
	}
	res, err = cl.CheckCompatibility(ctx, subject, -2, avroSchemaOf(txRetyped))
	if err != nil || res.Is {
		t.Fatalf("check retyped against all = %+v, %v; want incompatible", res, err)
	}
	_, err = cl.CheckCompatibility(ctx, "nope", -1, avroSchemaOf(txV1))
	responseError(t, err, 404, 40401)
	_, err = cl.CheckCompatibility(ctx, subject, 9, avroSchemaOf(txV1))
	responseError(t, err, 404, 40402)

	// NONE on the subject disables the check.
	for _, r := range cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatNone}, subject) {
		if r.Err != nil || r.Level != sr.CompatNone {
			t.Fatalf("SetCompatibility = %+v", r)
		}
	}
	res, err = cl.CheckCompatibility(ctx, subject, -1, avroSchemaOf(txRequired))
	if err != nil || !res.Is {
		t.Fatalf("check under NONE = %+v, %v; want compatible", res, err)
	}
	if id := mustRegister(t, cl, subject, txRequired); id != 3 {
		t.Fatalf("under NONE: id %d, want 3", id)
	}
}

func TestForwardAndTransitiveLevels(t *testing.T) {
	ctx := context.Background()
	_, cl, _ := newTestRegistry(t)

	// FORWARD: the old schema must read new data. Adding a required field
	// is fine (old readers skip it), removing one without default is not.
	cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatForward}, "fwd")
	mustRegister(t, cl, "fwd", txV2)
	if id := mustRegister(t, cl, "fwd", txRequired); id != 2 {
		t.Fatalf("FORWARD add required: id %d, want 2", id)
	}
	withoutCard := `{"type":"record","name":"Transaction","namespace":"fraudstream","fields":[
		{"name":"transaction_id","type":"string"},{"name":"amount_cents","type":"long"},
		{"name":"country","type":["null","string"],"default":null},{"name":"mcc","type":"int"}]}`
	_, err := cl.RegisterSchema(ctx, "fwd", avroSchemaOf(withoutCard), -1, -1)
	if re := responseError(t, err, 409, 409); !strings.Contains(re.Message, "'card_id'") {
		t.Fatalf("FORWARD message: %s", re.Message)
	}

	// BACKWARD_TRANSITIVE checks every version, not just the latest:
	// v1 {a:int}, v2 {} (drops a), v3 {a:string default ""} reads v2 data
	// but not v1's int a.
	cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatBackwardTransitive}, "trans")
	mustRegister(t, cl, "trans", `{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}`)
	mustRegister(t, cl, "trans", `{"type":"record","name":"R","fields":[]}`)
	_, err = cl.RegisterSchema(ctx, "trans", avroSchemaOf(`{"type":"record","name":"R","fields":[{"name":"a","type":"string","default":""}]}`), -1, -1)
	if re := responseError(t, err, 409, 409); !strings.Contains(re.Message, "{oldSchemaVersion: 1}") {
		t.Fatalf("transitive message: %s", re.Message)
	}
	// Promotion int → long is readable from every version.
	mustRegister(t, cl, "trans", `{"type":"record","name":"R","fields":[{"name":"a","type":"long","default":0}]}`)
}

func TestConfig(t *testing.T) {
	ctx := context.Background()
	_, cl, url := newTestRegistry(t)

	global := cl.Compatibility(ctx)
	if global[0].Err != nil || global[0].Level != sr.CompatBackward {
		t.Fatalf("global = %+v; want BACKWARD", global[0])
	}
	unset := cl.Compatibility(ctx, "transactions-value")
	responseError(t, unset[0].Err, 404, 40408)
	unset = cl.Compatibility(sr.WithParams(ctx, sr.DefaultToGlobal), "transactions-value")
	if unset[0].Err != nil || unset[0].Level != sr.CompatBackward {
		t.Fatalf("defaultToGlobal = %+v", unset[0])
	}

	set := cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatFullTransitive}, "transactions-value")
	if set[0].Err != nil || set[0].Level != sr.CompatFullTransitive {
		t.Fatalf("set = %+v", set[0])
	}
	got := cl.Compatibility(ctx, "transactions-value")
	if got[0].Err != nil || got[0].Level != sr.CompatFullTransitive {
		t.Fatalf("get after set = %+v", got[0])
	}
	set = cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatNone})
	if set[0].Err != nil || cl.Compatibility(ctx)[0].Level != sr.CompatNone {
		t.Fatalf("global set = %+v", set[0])
	}
	reset := cl.ResetCompatibility(ctx, "transactions-value")
	if reset[0].Err != nil || reset[0].Level != sr.CompatFullTransitive {
		t.Fatalf("reset = %+v", reset[0])
	}
	responseError(t, cl.Compatibility(ctx, "transactions-value")[0].Err, 404, 40408)

	req, _ := http.NewRequest(http.MethodPut, url+"/config", strings.NewReader(`{"compatibility":"SOMETIMES"}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 422 || !strings.Contains(string(body), `"error_code":42203`) {
		t.Fatalf("invalid level: %d %s", resp.StatusCode, body)
	}

	// WithDefaultCompatibility changes the default.
	_, cl2, _ := newTestRegistry(t, WithDefaultCompatibility(sr.CompatNone))
	if l := cl2.Compatibility(ctx)[0].Level; l != sr.CompatNone {
		t.Fatalf("default NONE: got %v", l)
	}
}

func TestDelete(t *testing.T) {
	ctx := context.Background()
	_, cl, _ := newTestRegistry(t)
	const subject = "transactions-value"
	mustRegister(t, cl, subject, txV1)
	mustRegister(t, cl, subject, txV2)

	if err := cl.DeleteSchema(ctx, subject, 1, sr.SoftDelete); err != nil {
		t.Fatal(err)
	}
	versions, _ := cl.SubjectVersions(ctx, subject)
	if !slices.Equal(versions, []int{2}) {
		t.Fatalf("after soft delete of v1: %v", versions)
	}
	_, err := cl.SchemaByVersion(ctx, subject, 1)
	responseError(t, err, 404, 40402)
	deleted, err := cl.SchemaByVersion(sr.WithParams(ctx, sr.ShowDeleted), subject, 1)
	if err != nil || deleted.ID != 1 {
		t.Fatalf("deleted=true: %+v, %v", deleted, err)
	}
	_, err = cl.LookupSchema(ctx, subject, avroSchemaOf(txV1))
	responseError(t, err, 404, 40403)
	found, err := cl.LookupSchema(sr.WithParams(ctx, sr.ShowDeleted), subject, avroSchemaOf(txV1))
	if err != nil || found.Version != 1 {
		t.Fatalf("lookup with deleted=true = %+v, %v", found, err)
	}
	err = cl.DeleteSchema(ctx, subject, 2, sr.HardDelete)
	responseError(t, err, 404, 40407)

	gone, err := cl.DeleteSubject(ctx, subject, sr.SoftDelete)
	if err != nil || !slices.Equal(gone, []int{2}) {
		t.Fatalf("soft delete subject = %v, %v", gone, err)
	}
	subjects, _ := cl.Subjects(ctx)
	if len(subjects) != 0 {
		t.Fatalf("subjects after delete = %v", subjects)
	}
	subjects, _ = cl.Subjects(sr.WithParams(ctx, sr.ShowDeleted))
	if !slices.Equal(subjects, []string{subject}) {
		t.Fatalf("subjects with deleted = %v", subjects)
	}
	// Ids stay resolvable: records on topics carry them.
	if _, err := cl.SchemaByID(ctx, 1); err != nil {
		t.Fatalf("id 1 after delete: %v", err)
	}
	_, err = cl.DeleteSubject(ctx, subject, sr.SoftDelete)
	responseError(t, err, 404, 40404)
	gone, err = cl.DeleteSubject(ctx, subject, sr.HardDelete)
	if err != nil || !slices.Equal(gone, []int{1, 2}) {
		t.Fatalf("hard delete subject = %v, %v", gone, err)
	}
	_, err = cl.SubjectVersions(sr.WithParams(ctx, sr.ShowDeleted), subject)
	responseError(t, err, 404, 40401)
	// Re-registering gets the old id back, as version 1 of a new subject.
	if id := mustRegister(t, cl, subject, txV2); id != 2 {
		t.Fatalf("re-register: id %d, want 2", id)
	}
}

func TestReferences(t *testing.T) {
	ctx := context.Background()
	_, cl, _ := newTestRegistry(t)
	merchant := `{"type":"record","name":"Merchant","namespace":"fraudstream","fields":[{"name":"id","type":"string"},{"name":"mcc","type":"int"}]}`
	mid := mustRegister(t, cl, "merchant", merchant)

	payment := `{"type":"record","name":"Payment","namespace":"fraudstream","fields":[{"name":"merchant","type":"Merchant"}]}`
	_, err := cl.RegisterSchema(ctx, "payments-value", avroSchemaOf(payment), -1, -1)
	responseError(t, err, 422, 42201) // Merchant is unknown without the reference

	withRef := sr.Schema{Schema: payment, References: []sr.SchemaReference{{Name: "fraudstream.Merchant", Subject: "merchant", Version: 1}}}
	pid, err := cl.RegisterSchema(ctx, "payments-value", withRef, -1, -1)
	if err != nil || pid != mid+1 {
		t.Fatalf("register with reference = %d, %v", pid, err)
	}
	got, err := cl.SchemaByID(ctx, pid)
	if err != nil || !slices.Equal(got.References, withRef.References) {
		t.Fatalf("references stored = %+v, %v", got.References, err)
	}
	by, err := cl.SchemaReferences(ctx, "merchant", 1)
	if err != nil || len(by) != 1 || by[0].ID != pid {
		t.Fatalf("referenced by = %+v, %v", by, err)
	}
	// A referenced schema cannot be deleted.
	err = cl.DeleteSchema(ctx, "merchant", 1, sr.SoftDelete)
	responseError(t, err, 422, 42206)
	// The compatibility check resolves references on both sides.
	evolved := `{"type":"record","name":"Payment","namespace":"fraudstream","fields":[{"name":"merchant","type":"Merchant"},{"name":"note","type":"string","default":""}]}`
	res, err := cl.CheckCompatibility(ctx, "payments-value", -1, sr.Schema{Schema: evolved, References: withRef.References})
	if err != nil || !res.Is {
		t.Fatalf("evolved with reference = %+v, %v", res, err)
	}
}

// TestConcurrentRegistration registers from many goroutines (run with
// -race): ids must still be 1…n, one per distinct schema.
func TestConcurrentRegistration(t *testing.T) {
	ctx := context.Background()
	_, cl, _ := newTestRegistry(t)
	const distinct = 8
	schema := func(i int) string {
		return fmt.Sprintf(`{"type":"record","name":"R%d","fields":[{"name":"a","type":"long"}]}`, i)
	}
	ids := make([][2]int, distinct)
	var wg sync.WaitGroup
	errs := make(chan error, 2*distinct)
	for i := range distinct {
		for j := range 2 { // each schema twice, in two subjects
			wg.Go(func() {
				id, err := cl.RegisterSchema(ctx, fmt.Sprintf("s%d-%d", i, j), avroSchemaOf(schema(i)), -1, -1)
				if err != nil {
					errs <- err
					return
				}
				ids[i][j] = id
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := make(map[int]bool)
	for i, pair := range ids {
		if pair[0] != pair[1] {
			t.Fatalf("schema %d got ids %v in two subjects", i, pair)
		}
		seen[pair[0]] = true
	}
	for id := 1; id <= distinct; id++ {
		if !seen[id] {
			t.Fatalf("ids %v: want exactly 1…%d", ids, distinct)
		}
	}
}
