package registry

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
)

// startRegistry starts s on a random local port and returns a client for it.
func startRegistry(t *testing.T, ctx context.Context, s *Server) *sr.Client {
	t.Helper()
	url, err := s.Start(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("url = %q, want http://127.0.0.1:<port>", url)
	}
	cl, err := sr.NewClient(sr.URLs(url))
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func TestDataFileKeepsIDsAcrossRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "dev", "registry.json") // the directory is created on demand

	first := New(WithDataFile(path))
	cl := startRegistry(t, ctx, first)
	mustRegister(t, cl, "transactions-value", txV1)
	mustRegister(t, cl, "labels-value", labelV1)
	mustRegister(t, cl, "transactions-value", txV2)
	if r := cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatNone}, "labels-value"); r[0].Err != nil {
		t.Fatal(r[0].Err)
	}
	if err := cl.DeleteSchema(ctx, "transactions-value", 1, sr.SoftDelete); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, "dev", "*.tmp-*"))
	if len(leftovers) != 0 {
		t.Fatalf("temporary files left behind: %v", leftovers)
	}

	second := New(WithDataFile(path))
	t.Cleanup(func() { second.Close() })
	cl = startRegistry(t, ctx, second)
	for id, want := range map[int]string{1: txV1, 2: labelV1, 3: txV2} {
		got, err := cl.SchemaTextByID(ctx, id)
		if err != nil || got != want {
			t.Fatalf("after restart, id %d = %q, %v", id, got, err)
		}
	}
	if id := mustRegister(t, cl, "labels-value", labelV1); id != 2 {
		t.Fatalf("re-register after restart: id %d, want 2", id)
	}
	decision := `{"type":"record","name":"Decision","namespace":"fraudstream","fields":[{"name":"transaction_id","type":"string"}]}`
	if id := mustRegister(t, cl, "decisions-value", decision); id != 4 {
		t.Fatalf("new schema after restart: id %d, want 4", id)
	}
	if l := cl.Compatibility(ctx, "labels-value")[0]; l.Err != nil || l.Level != sr.CompatNone {
		t.Fatalf("subject level after restart = %+v", l)
	}
	versions, err := cl.SubjectVersions(ctx, "transactions-value")
	if err != nil || !slices.Equal(versions, []int{2}) {
		t.Fatalf("soft delete lost in restart: versions %v, %v", versions, err)
	}
	// The compatibility check still runs against the reloaded schemas.
	_, err = cl.RegisterSchema(ctx, "transactions-value", avroSchemaOf(txRequired), -1, -1)
	responseError(t, err, 409, 409)
}

func TestCorruptDataFileFailsStart(t *testing.T) {
	for name, content := range map[string]string{
		"not json":       `{"format":1,`,
		"unknown format": `{"format":2,"schemas":[],"subjects":{}}`,
		"dangling id":    `{"format":1,"schemas":[{"id":1,"schemaType":"AVRO","schema":"\"string\""}],"subjects":{"s":{"versions":[{"version":1,"id":7}]}}}`,
		"unsorted ids":   `{"format":1,"schemas":[{"id":2,"schemaType":"AVRO","schema":"\"string\""},{"id":1,"schemaType":"AVRO","schema":"\"int\""}],"subjects":{}}`,
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "registry.json")
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			s := New(WithDataFile(path))
			if _, err := s.Start(context.Background(), ""); err == nil || !strings.Contains(err.Error(), path) {
				s.Close()
				t.Fatalf("Start = %v, want an error naming %s", err, path)
			}
		})
	}
}

// TestFailedWriteIsUndone makes the data file unwritable after start: the
// change must be refused with 50001 and not kept in memory, or a restart
// would hand out different ids than the running registry did.
func TestFailedWriteIsUndone(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "state")
	path := filepath.Join(dir, "registry.json")
	_, cl, _ := newTestRegistry(t, WithDataFile(path))
	mustRegister(t, cl, "transactions-value", txV1)

	// Replace the directory by a plain file: every write now fails.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := cl.RegisterSchema(ctx, "labels-value", avroSchemaOf(labelV1), -1, -1)
	responseError(t, err, 500, 50001)
	_, err = cl.SchemaByID(ctx, 2)
	responseError(t, err, 404, 40403)
	if subjects, _ := cl.Subjects(ctx); !slices.Equal(subjects, []string{"transactions-value"}) {
		t.Fatalf("subjects after failed write = %v", subjects)
	}

	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if id := mustRegister(t, cl, "labels-value", labelV1); id != 2 {
		t.Fatalf("after the disk is back: id %d, want 2", id)
	}
}

func TestStartStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s := New()
	url, err := s.Start(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Start(ctx, ""); err == nil {
		t.Fatal("second Start succeeded while running")
	}
	resp, err := http.Get(url + "/subjects")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	cancel()
	deadline := time.Now().Add(time.Second)
	for {
		resp, err := http.Get(url + "/subjects")
		if err != nil {
			break // stopped
		}
		resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatal("server still answering 1 s after its context was cancelled")
		}
		time.Sleep(5 * time.Millisecond)
	}

	// It can be started again, with its content.
	url, err = s.Start(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("url = %q", url)
	}
}
