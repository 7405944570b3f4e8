package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/fraudstream/fraudstream/models"
	"github.com/fraudstream/fraudstream/operators/features"
	"github.com/fraudstream/fraudstream/pipeline"
)

func init() {
	register("model", "model validate BUNDLE: check a model bundle against this pipeline before deploying it", cmdModel)
}

func cmdModel(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) < 2 || args[0] != "validate" {
		return errors.New("usage: fraudstream model validate BUNDLE_DIR [--config FILE]")
	}
	fs := flagSet("model validate", stderr)
	configPath := fs.String("config", "", "pipeline config whose decision overrides to check the bundle with")
	if err := fs.Parse(args[2:]); err != nil {
		return err
	}
	dir := args[1]
	// models.Load checks the file formats, the model header against the
	// declared features, the checksum, the threshold, ε and the golden rows
	// (leaves vs the scores LightGBM recorded at training time).
	b, err := models.Load(dir, features.Names())
	if err != nil {
		return err
	}
	if err := b.CheckGolden(1e-12); err != nil {
		return err
	}
	cfg, err := pipeline.LoadConfig(*configPath)
	if err != nil {
		return err
	}
	s, err := pipeline.NewServing(b, cfg.Decision)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "ok: %s version %s, feature set %s (%d features, matches this pipeline), %d trees, %d golden rows within 1e-12 (max diff %.3g), policy %s\n",
		b.Name, b.Version, b.FeatureSet, len(b.Features), b.NumTrees(), len(b.Meta.Golden), b.GoldenMaxDiff(), policyString(s))
	return nil
}

func policyString(s *pipeline.Serving) string {
	p := s.Policy()
	return p.String()
}
