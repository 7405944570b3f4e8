package pipeline

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func copyBundle(t *testing.T, from, to string) {
	t.Helper()
	for _, f := range []string{"model.txt", "bundle.json"} {
		b, err := os.ReadFile(filepath.Join(from, f))
		if err != nil {
			t.Fatal(err)
		}
		// Write then rename: the watcher never sees half a file.
		tmp := filepath.Join(to, "."+f+".tmp")
		if err := os.WriteFile(tmp, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(to, f)); err != nil {
			t.Fatal(err)
		}
	}
}

// A running pipeline picks up a new bundle between batches without a
// restart or a lost decision; a bad bundle is refused (error log, metric)
// and the old one keeps serving; every decision names the model that made it.
func TestHotReload(t *testing.T) {
	w := newTestWorld(t, 2, 120, 30)
	cfg := w.config("reload")
	cfg.Batch.MaxRecords = 200
	cfg.Model.Dir = t.TempDir()
	copyBundle(t, testModel, cfg.Model.Dir)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, err := NewRunner(ctx, cfg, WithLogger(testLogger(t)), func(o *runnerOpts) { o.stepDelay = 30 * time.Millisecond })
	if err != nil {
		t.Fatal(err)
	}
	r.WatchModel(ctx, 20*time.Millisecond)
	// Throttle: process in small steps so the reloads land mid-stream.
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timeout waiting for %s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	first := r.Env().Serving().Version()
	waitFor("some decisions", func() bool { return r.Progress.Decisions.Load() > 0 })

	// A bad bundle: refused, the old model keeps serving.
	bad := t.TempDir()
	copyBundle(t, testModel, bad)
	if err := os.WriteFile(filepath.Join(bad, "bundle.json"), []byte(`{"format": "fraudstream.model-bundle/1", "features": [`), 0o644); err != nil {
		t.Fatal(err)
	}
	copyBundle(t, bad, cfg.Model.Dir)
	waitFor("the bad bundle to be refused", func() bool {
		return metricValue(r.Metrics().ModelReloads.WithLabelValues("rejected")) >= 1
	})
	if v := r.Env().Serving().Version(); v != first {
		t.Fatalf("a refused bundle replaced the model: %s", v)
	}
	if metricValue(r.Metrics().ModelReloadFailed) != 1 {
		t.Fatal("reload_failed gauge not set")
	}

	// A good new bundle: served from the next batch on.
	copyBundle(t, "../models/default", cfg.Model.Dir)
	waitFor("the new bundle", func() bool { return r.Env().Serving().Version() != first })
	second := r.Env().Serving().Version()
	waitFor("all records", func() bool { return r.Progress.EventsIn.Load() >= w.produced })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if metricValue(r.Metrics().ModelReloadFailed) != 0 {
		t.Fatal("reload_failed gauge still set after a good reload")
	}
	decisions := w.decisions(cfg.Topics.Decisions)
	byVersion := map[string]int{}
	for _, d := range decisions {
		byVersion[d.ModelVersion]++
	}
	dlq := len(w.readAll(cfg.Topics.DLQ))
	if int64(len(decisions)+dlq) != w.produced {
		t.Fatalf("lost or duplicated: %d decisions + %d dead letters != %d produced", len(decisions), dlq, w.produced)
	}
	if byVersion[first] == 0 || byVersion[second] == 0 || len(byVersion) != 2 {
		t.Fatalf("decisions by model version: %v (want both %s and %s)", byVersion, first, second)
	}
	t.Logf("decisions by model version: %v", byVersion)
}

// metricValue reads a counter's or gauge's current value.
func metricValue(m prometheus.Metric) float64 {
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		panic(err)
	}
	if d.Counter != nil {
		return d.Counter.GetValue()
	}
	return d.Gauge.GetValue()
}
