package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/fraudstream/fraudstream/models"
	"github.com/fraudstream/fraudstream/operators/decide"
	"github.com/fraudstream/fraudstream/operators/features"
	"github.com/fraudstream/fraudstream/operators/labeljoin"
	"github.com/fraudstream/fraudstream/operators/validate"
	"github.com/fraudstream/fraudstream/operators/windows"
	"github.com/fraudstream/fraudstream/schemas"
)

// Scorer is a loaded model: features (in features.Names() order) to a
// probability of fraud. It must be safe for concurrent use.
type Scorer interface {
	Score(features []float64) float64
}

// Serving is the model and decision policy currently in force. It is
// swapped atomically between batches (hot reload), never within one.
type Serving struct {
	model   Scorer
	policy  decide.Policy
	version string
	bundle  *models.Bundle // nil for test scorers
}

// Version is the serving model's version.
func (s *Serving) Version() string { return s.version }

// Policy returns the decision policy.
func (s *Serving) Policy() decide.Policy { return s.policy }

// NewServing builds a Serving from a bundle and the decision config: the
// config's threshold and epsilon, when set, override the bundle's.
func NewServing(b *models.Bundle, dc DecisionConfig) (*Serving, error) {
	p := decide.Policy{Threshold: b.Threshold, Epsilon: b.Epsilon, Seed: dc.ExplorationSeed, ReviewFrom: dc.ReviewFrom}
	if dc.Threshold != nil {
		p.Threshold = *dc.Threshold
	}
	if dc.Epsilon != nil {
		p.Epsilon = *dc.Epsilon
	}
	if err := p.Compile(); err != nil {
		return nil, fmt.Errorf("decision policy for model %s: %w", b.Version, err)
	}
	return &Serving{model: b, policy: p, version: b.Version, bundle: b}, nil
}

// LoadServing loads the bundle in dir and builds its Serving.
func LoadServing(dir string, dc DecisionConfig) (*Serving, error) {
	b, err := models.Load(dir, features.Names())
	if err != nil {
		return nil, err
	}
	return NewServing(b, dc)
}

// Env is what every partition task of one instance shares: codecs, rules,
// the serving model, the state store and metrics. All of it is read-only
// while tasks run, except Serving, which is swapped atomically.
type Env struct {
	cfg          *Config
	transactions *schemas.Codec[schemas.Transaction]
	decisions    *schemas.Codec[schemas.Decision]
	labels       *schemas.Codec[schemas.Label]   // nil without a labels topic
	outcomes     *schemas.Codec[schemas.Outcome] // nil without a labels topic
	joinCfg      labeljoin.Config
	rules        validate.Rules
	windows      windows.Config
	serving      atomic.Pointer[Serving]
	emitFeatures bool
	store        *Store
	metrics      *Metrics
	log          *slog.Logger
	// now is the wall clock, used only for decided_at.
	now func() time.Time
}

// WindowsConfig returns the window operator config the feature set needs.
func (c *Config) WindowsConfig() windows.Config {
	return windows.Config{WindowsMillis: features.WindowsMillis, AllowedLatenessMillis: c.Windows.AllowedLateness.Millis()}
}

// newCodecs builds the codecs for the configured wire format, registering
// the output schemas with the registry.
func newCodecs(ctx context.Context, cfg *Config, env *Env) error {
	tx, dec, err := newMainCodecs(ctx, cfg)
	if err != nil {
		return err
	}
	env.transactions, env.decisions = tx, dec
	if cfg.Topics.Labels == "" {
		return nil
	}
	var lookup schemas.SchemaLookup
	if cfg.Format == schemas.FormatConfluent {
		lookup = registryLookup(cfg.Registry.URL)
	}
	writer := ""
	if cfg.Format == schemas.FormatAvro && cfg.WriterSchemas.Label != "" {
		b, err := os.ReadFile(cfg.WriterSchemas.Label)
		if err != nil {
			return fmt.Errorf("writer_schemas.label: %w", err)
		}
		writer = string(b)
	}
	if env.labels, err = schemas.NewCodec[schemas.Label](schemas.LabelFile, cfg.Format, writer, lookup); err != nil {
		return err
	}
	if env.outcomes, err = schemas.NewCodec[schemas.Outcome](schemas.OutcomeFile, cfg.Format, "", lookup); err != nil {
		return err
	}
	if cfg.Format == schemas.FormatConfluent {
		reg, err := sr.NewClient(sr.URLs(cfg.Registry.URL), sr.HTTPClient(&http.Client{Timeout: 10 * time.Second}))
		if err != nil {
			return err
		}
		id, err := RegisterSchema(ctx, reg, cfg.Topics.Outcomes+"-value", schemas.OutcomeFile)
		if err != nil {
			return err
		}
		env.outcomes.SetSchemaID(id)
	}
	env.joinCfg = labeljoin.Config{HorizonMillis: cfg.Labels.Horizon.Millis(), PresumeLegit: cfg.Labels.PresumeLegit}
	return nil
}

func newMainCodecs(ctx context.Context, cfg *Config) (*schemas.Codec[schemas.Transaction], *schemas.Codec[schemas.Decision], error) {
	var lookup schemas.SchemaLookup
	var reg *sr.Client
	if cfg.Format == schemas.FormatConfluent {
		var err error
		reg, err = sr.NewClient(sr.URLs(cfg.Registry.URL), sr.HTTPClient(&http.Client{Timeout: 10 * time.Second}))
		if err != nil {
			return nil, nil, fmt.Errorf("schema registry client %s: %w", cfg.Registry.URL, err)
		}
		lookup = clientLookup(reg)
	}
	writer := ""
	if cfg.Format == schemas.FormatAvro && cfg.WriterSchemas.Transaction != "" {
		b, err := os.ReadFile(cfg.WriterSchemas.Transaction)
		if err != nil {
			return nil, nil, fmt.Errorf("writer_schemas.transaction: %w", err)
		}
		writer = string(b)
	}
	tx, err := schemas.NewCodec[schemas.Transaction](schemas.TransactionFile, cfg.Format, writer, lookup)
	if err != nil {
		return nil, nil, err
	}
	dec, err := schemas.NewCodec[schemas.Decision](schemas.DecisionFile, cfg.Format, "", lookup)
	if err != nil {
		return nil, nil, err
	}
	if reg != nil {
		id, err := RegisterSchema(ctx, reg, cfg.Topics.Decisions+"-value", schemas.DecisionFile)
		if err != nil {
			return nil, nil, err
		}
		dec.SetSchemaID(id)
	}
	return tx, dec, nil
}

// RegisterSchema registers an embedded schema under subject and returns its
// id.
func RegisterSchema(ctx context.Context, reg *sr.Client, subject, file string) (int, error) {
	text, err := schemas.Text(file)
	if err != nil {
		return 0, err
	}
	ss, err := reg.CreateSchema(ctx, subject, sr.Schema{Schema: text, Type: sr.TypeAvro})
	if err != nil {
		return 0, fmt.Errorf("register schema %s under subject %s: %w", file, subject, err)
	}
	return ss.ID, nil
}

// Serving returns the model and policy currently in force.
func (e *Env) Serving() *Serving { return e.serving.Load() }

// registryLookup returns a SchemaLookup against a registry URL.
func registryLookup(url string) schemas.SchemaLookup {
	reg, err := sr.NewClient(sr.URLs(url), sr.HTTPClient(&http.Client{Timeout: 10 * time.Second}))
	if err != nil {
		return func(context.Context, int) (string, error) { return "", err }
	}
	return clientLookup(reg)
}

// clientLookup is a SchemaLookup over a registry client: "not found" is
// ErrUnknownSchema (the record goes to the DLQ), anything else is transient.
func clientLookup(reg *sr.Client) schemas.SchemaLookup {
	return func(ctx context.Context, id int) (string, error) {
		s, err := reg.SchemaByID(ctx, id)
		if err != nil {
			var re *sr.ResponseError
			if errors.As(err, &re) && re.StatusCode == http.StatusNotFound {
				return "", fmt.Errorf("%w: %v", schemas.ErrUnknownSchema, err)
			}
			return "", err
		}
		return s.Schema, nil
	}
}
