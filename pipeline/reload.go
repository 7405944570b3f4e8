package pipeline

import (
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/fraudstream/fraudstream/operators/features"
)

// ModelWatcher reloads the model bundle when it changes on disk (polled) or
// when the process gets SIGHUP. A new bundle is validated completely (feature
// list, golden rows, policy) before it is swapped in, between batches; a bad
// bundle is refused, logged and counted, and the old one keeps serving.
//
// Deploying a new model: write the new bundle next to the served one and
// rename the directory into place (or copy model.txt and bundle.json — the
// watcher waits until both files have been stable for one poll interval, so
// it never loads a half-copied bundle).
type ModelWatcher struct {
	r        *Runner
	dir      string
	interval time.Duration
	lastSig  string
	pending  string
}

// WatchModel starts watching cfg.Model.Dir every interval (0 = 2s) until ctx
// ends.
func (r *Runner) WatchModel(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = 2 * time.Second
	}
	w := &ModelWatcher{r: r, dir: r.cfg.Model.Dir, interval: interval}
	w.lastSig = w.signature()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				r.log.Info("SIGHUP: reloading model bundle", "dir", w.dir)
				w.reload()
			case <-t.C:
				sig := w.signature()
				switch {
				case sig == w.lastSig:
					w.pending = ""
				case sig != w.pending:
					w.pending = sig // changed: wait one interval for it to settle
				default:
					w.reload()
				}
			}
		}
	}()
}

// signature identifies the bundle files' current contents cheaply.
func (w *ModelWatcher) signature() string {
	sig := ""
	for _, f := range []string{"bundle.json", "model.txt"} {
		fi, err := os.Stat(filepath.Join(w.dir, f))
		if err != nil {
			sig += f + ":missing;"
			continue
		}
		sig += f + ":" + fi.ModTime().String() + ":" + strconv.FormatInt(fi.Size(), 10) + ";"
	}
	return sig
}

func (w *ModelWatcher) reload() {
	w.lastSig, w.pending = w.signature(), ""
	if err := w.r.ReloadModel(w.dir); err != nil {
		w.r.log.Error("model bundle refused; the previous model keeps serving", "dir", w.dir, "err", err)
	}
}

// ReloadModel loads the bundle in dir and, if it is valid, serves it from the
// next batch on.
func (r *Runner) ReloadModel(dir string) error {
	m := r.env.metrics
	s, err := LoadServing(dir, r.cfg.Decision)
	if err != nil {
		m.ModelReloads.WithLabelValues("rejected").Inc()
		m.ModelReloadFailed.Set(1)
		return err
	}
	old := r.env.serving.Swap(s)
	m.ModelReloads.WithLabelValues("ok").Inc()
	m.ModelReloadFailed.Set(0)
	m.ModelInfo.WithLabelValues(old.version, features.SetVersion).Set(0)
	m.ModelInfo.WithLabelValues(s.version, features.SetVersion).Set(1)
	r.log.Info("model bundle reloaded", "from", old.version, "to", s.version, "policy", s.policy.String())
	return nil
}
