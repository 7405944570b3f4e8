package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/fraudstream/fraudstream/operators/validate"
	"github.com/fraudstream/fraudstream/schemas"
)

// Duration is a time.Duration that YAML, flags and env accept as Go duration
// strings plus a day unit ("90d", "7d12h", "500ms").
type Duration time.Duration

// ParseDuration parses a Go duration with an optional leading day count.
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	var days int64
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.ParseInt(s[:i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("duration %q: %w", s, err)
		}
		days, s = n, s[i+1:]
	}
	var rest time.Duration
	if s != "" {
		var err error
		if rest, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("duration %q: want e.g. 90d, 1h30m, 500ms", s)
		}
	}
	return Duration(time.Duration(days)*24*time.Hour + rest), nil
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = v
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// String formats d with a day unit when it is a whole number of days.
func (d Duration) String() string {
	td := time.Duration(d)
	if td != 0 && td%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(td/(24*time.Hour)), 10) + "d"
	}
	return td.String()
}

// Millis returns d in milliseconds.
func (d Duration) Millis() int64 { return time.Duration(d).Milliseconds() }

// Config is fraudstream's configuration: one YAML file (see
// fraudstream.example.yaml for every field with its default), overridable by
// flags and FRAUDSTREAM_* environment variables. Load with LoadConfig, then
// Validate.
type Config struct {
	// Brokers are the Kafka bootstrap servers ("host:port").
	Brokers []string `yaml:"brokers"`
	// Group is the consumer group id; every instance of one pipeline uses the
	// same group. Default "fraudstream".
	Group string `yaml:"group"`
	// InstanceID names this instance (transactional id suffix, logs). Default
	// the host name; must be unique among running instances and stable
	// across restarts (a StatefulSet pod name).
	InstanceID string `yaml:"instance_id"`
	Topics     Topics `yaml:"topics"`
	// CreateTopics creates missing output topics (decisions, dlq, changelog)
	// with the input's partition count at start. Default true.
	CreateTopics *bool `yaml:"create_topics"`
	// ReplicationFactor for created topics (-1 = broker default).
	ReplicationFactor int16 `yaml:"replication_factor"`

	// Format is the wire format of all topics: "confluent" (schema
	// registry) or "avro" (plain binary, writer schema from a file).
	Format   schemas.Format `yaml:"format"`
	Registry Registry       `yaml:"registry"`
	// WriterSchemas are, for format "avro", the schema files producers
	// write transactions and labels with ("" = the embedded schema).
	WriterSchemas WriterSchemas `yaml:"writer_schemas"`

	State      State           `yaml:"state"`
	Model      Model           `yaml:"model"`
	Decision   DecisionConfig  `yaml:"decision"`
	Windows    WindowsConfig   `yaml:"windows"`
	Validation Validation      `yaml:"validation"`
	Metrics    MetricsEndpoint `yaml:"metrics"`
	Batch      Batch           `yaml:"batch"`
	Labels     LabelsConfig    `yaml:"labels"`
	Kafka      KafkaTimeouts   `yaml:"kafka"`
}

// KafkaTimeouts are the consumer group's and the producer's timeouts.
type KafkaTimeouts struct {
	// SessionTimeout: a member that sends no heartbeat for this long (a
	// crash, a frozen process) is dropped and its partitions move. Shorter
	// fails over faster; too short drops members during GC pauses or
	// broker hiccups. Within the brokers' group.min/max.session.timeout.ms
	// (6s to 30m by default). Default 45s.
	SessionTimeout Duration `yaml:"session_timeout"`
	// RebalanceTimeout: how long members may take to rejoin during a
	// rebalance (finish the current batch). Default 60s.
	RebalanceTimeout Duration `yaml:"rebalance_timeout"`
	// TransactionTimeout: the broker aborts a transaction open this long
	// (a crashed member's open batch). At most the brokers'
	// transaction.max.timeout.ms (15m by default). Default 40s.
	TransactionTimeout Duration `yaml:"transaction_timeout"`
}

// LabelsConfig configures the label join.
type LabelsConfig struct {
	// Horizon: decisions are kept this long (event time) waiting for a
	// label; waiting labels this long for their decision. Default 120d.
	Horizon Duration `yaml:"horizon"`
	// PresumeLegit emits an outcome with is_fraud=false for a decision
	// without a label at the horizon. Default false (only counted).
	PresumeLegit bool `yaml:"presume_legit"`
}

// Topics names the topics.
type Topics struct {
	Transactions string `yaml:"transactions"` // input, key card_id
	Labels       string `yaml:"labels"`       // input, key card_id (optional: "" disables)
	Decisions    string `yaml:"decisions"`    // output, key card_id
	DLQ          string `yaml:"dlq"`          // output: original bytes + reason headers
	Changelog    string `yaml:"changelog"`    // state changelog, compacted, co-partitioned
	Outcomes     string `yaml:"outcomes"`     // output: decisions joined with their labels
}

// Registry configures the Confluent schema registry client.
type Registry struct {
	URL string `yaml:"url"`
}

// WriterSchemas are schema file paths for format "avro".
type WriterSchemas struct {
	Transaction string `yaml:"transaction"`
	Label       string `yaml:"label"`
}

// State configures the local Pebble state store.
type State struct {
	// Dir holds the Pebble database. Default "./data/state".
	Dir string `yaml:"dir"`
	// CacheCards bounds the number of card states held in memory across all
	// partitions of this instance (the rest lives in Pebble). Default 500,000.
	CacheCards int `yaml:"cache_cards"`
	// DropUnownedAfter deletes the local state of a partition this instance
	// has not owned for this long (it moved to another instance; if it
	// comes back, it is restored from the changelog). Default 1h; 0 keeps
	// it forever.
	DropUnownedAfter Duration `yaml:"drop_unowned_after"`
}

// Model configures the model bundle.
type Model struct {
	// Dir is the model bundle directory (model.txt + bundle.json). Default
	// "models/default".
	Dir string `yaml:"dir"`
}

// DecisionConfig configures the decision policy. Zero threshold/epsilon mean
// "take the bundle's".
type DecisionConfig struct {
	Threshold *float64 `yaml:"threshold"`
	// ReviewFrom sends scores in [review_from, threshold) to review; 0 = off.
	ReviewFrom float64 `yaml:"review_from"`
	// Epsilon is the exploration share of flagged transactions (multiple of
	// 0.001). Default: the bundle's, else 0.05.
	Epsilon *float64 `yaml:"epsilon"`
	// ExplorationSeed names the exploration experiment. Default
	// "fraudstream".
	ExplorationSeed string `yaml:"exploration_seed"`
	// EmitFeatures writes the served feature values into each decision.
	// Default true.
	EmitFeatures *bool `yaml:"emit_features"`
}

// WindowsConfig configures the window operator.
type WindowsConfig struct {
	// AllowedLateness: events older than the card's newest event by more
	// than the longest window (90d) plus this go to the DLQ as too_late.
	// Default 7d.
	AllowedLateness Duration `yaml:"allowed_lateness"`
}

// Validation mirrors validate.Rules.
type Validation struct {
	MinAmount     *float64 `yaml:"min_amount"`
	MaxAmount     *float64 `yaml:"max_amount"`
	Currencies    []string `yaml:"currencies"`
	MaxFutureSkew Duration `yaml:"max_future_skew"`
	CheckKey      *bool    `yaml:"check_key"`
}

// Metrics configures the HTTP endpoint (/metrics, /healthz, /readyz).
type MetricsEndpoint struct {
	// Addr to listen on; "" disables. Default "127.0.0.1:9100".
	Addr string `yaml:"addr"`
}

// Batch tunes the consume-process-produce loop.
type Batch struct {
	// MaxRecords per transaction. Default 20,000.
	MaxRecords int `yaml:"max_records"`
}

// DefaultConfig returns a configuration that works for `make run`.
func DefaultConfig() Config {
	t := true
	return Config{
		Brokers: []string{"127.0.0.1:9092"},
		Group:   "fraudstream",
		Topics: Topics{Transactions: "transactions", Labels: "labels", Decisions: "decisions",
			DLQ: "transactions.dlq", Changelog: "fraudstream-state-changelog", Outcomes: "outcomes"},
		CreateTopics:      &t,
		ReplicationFactor: -1,
		Format:            schemas.FormatConfluent,
		Registry:          Registry{URL: "http://127.0.0.1:8081"},
		State:             State{Dir: "./data/state", CacheCards: 500_000, DropUnownedAfter: Duration(time.Hour)},
		Model:             Model{Dir: "models/default"},
		Decision:          DecisionConfig{ExplorationSeed: "fraudstream", EmitFeatures: &t},
		Windows:           WindowsConfig{AllowedLateness: Duration(7 * 24 * time.Hour)},
		Validation:        Validation{MaxFutureSkew: Duration(5 * time.Minute)},
		Metrics:           MetricsEndpoint{Addr: "127.0.0.1:9100"},
		Batch:             Batch{MaxRecords: 20_000},
		Labels:            LabelsConfig{Horizon: Duration(120 * 24 * time.Hour)},
		Kafka: KafkaTimeouts{SessionTimeout: Duration(45 * time.Second), RebalanceTimeout: Duration(60 * time.Second),
			TransactionTimeout: Duration(40 * time.Second)},
	}
}

// LoadConfig reads a YAML file over the defaults. Unknown fields are errors
// (a typo must not silently fall back to a default).
func LoadConfig(path string) (Config, error) {
	cfg := DefaultConfig()
	if path == "" {
		return cfg, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("read config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return cfg, fmt.Errorf("config %s: %w (see fraudstream.example.yaml for the fields)", path, err)
	}
	return cfg, nil
}

// ApplyEnv overrides fields from FRAUDSTREAM_* environment variables:
// BROKERS (comma-separated), GROUP, INSTANCE_ID, REGISTRY_URL, STATE_DIR,
// MODEL_DIR, FORMAT, METRICS_ADDR.
func (c *Config) ApplyEnv(getenv func(string) string) {
	set := func(name string, dst *string) {
		if v := getenv("FRAUDSTREAM_" + name); v != "" {
			*dst = v
		}
	}
	if v := getenv("FRAUDSTREAM_BROKERS"); v != "" {
		c.Brokers = strings.Split(v, ",")
	}
	set("GROUP", &c.Group)
	set("INSTANCE_ID", &c.InstanceID)
	set("REGISTRY_URL", &c.Registry.URL)
	set("STATE_DIR", &c.State.Dir)
	set("MODEL_DIR", &c.Model.Dir)
	set("METRICS_ADDR", &c.Metrics.Addr)
	if v := getenv("FRAUDSTREAM_FORMAT"); v != "" {
		c.Format = schemas.Format(v)
	}
}

// Rules returns the validation rules the config describes.
func (c *Config) Rules() validate.Rules {
	r := validate.DefaultRules()
	if c.Validation.MinAmount != nil {
		r.MinAmount = *c.Validation.MinAmount
	}
	if c.Validation.MaxAmount != nil {
		r.MaxAmount = *c.Validation.MaxAmount
	}
	if c.Validation.Currencies != nil {
		r.Currencies = c.Validation.Currencies
	}
	r.MaxFutureSkewMillis = c.Validation.MaxFutureSkew.Millis()
	if c.Validation.CheckKey != nil {
		r.CheckKey = *c.Validation.CheckKey
	}
	return r
}

// Validate checks the configuration and returns every problem found, each
// naming the field and the allowed values.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(c.Brokers) == 0 {
		bad("brokers: at least one host:port is required (e.g. [\"127.0.0.1:9092\"])")
	}
	for _, b := range c.Brokers {
		if !strings.Contains(b, ":") {
			bad("brokers: %q is not host:port", b)
		}
	}
	if c.Group == "" {
		bad("group: required (the consumer group id shared by all instances)")
	}
	if c.Topics.Transactions == "" || c.Topics.Decisions == "" || c.Topics.DLQ == "" || c.Topics.Changelog == "" {
		bad("topics: transactions, decisions, dlq and changelog are required")
	}
	seen := map[string]string{}
	for name, t := range map[string]string{"transactions": c.Topics.Transactions, "labels": c.Topics.Labels,
		"decisions": c.Topics.Decisions, "dlq": c.Topics.DLQ, "changelog": c.Topics.Changelog, "outcomes": c.Topics.Outcomes} {
		if t == "" {
			continue
		}
		if other, ok := seen[t]; ok {
			bad("topics: %s and %s are both %q; every topic must be distinct", name, other, t)
		}
		seen[t] = name
	}
	if err := c.Format.Validate(); err != nil {
		bad("format: %v", err)
	}
	if c.Format == schemas.FormatConfluent && c.Registry.URL == "" {
		bad("registry.url: required with format \"confluent\" (or set format: avro)")
	}
	if c.State.Dir == "" {
		bad("state.dir: required (a directory for the Pebble state store)")
	}
	if c.State.CacheCards < 1000 {
		bad("state.cache_cards: %d is too small (minimum 1000)", c.State.CacheCards)
	}
	if c.Model.Dir == "" {
		bad("model.dir: required (a model bundle directory with model.txt and bundle.json)")
	}
	if c.Windows.AllowedLateness < 0 {
		bad("windows.allowed_lateness: must be >= 0, got %s", c.Windows.AllowedLateness)
	}
	if c.Topics.Labels != "" && c.Topics.Outcomes == "" {
		bad("topics.outcomes: required when topics.labels is set (joined outcomes are written there)")
	}
	if c.Labels.Horizon <= 0 {
		bad("labels.horizon: must be > 0, got %s", c.Labels.Horizon)
	}
	k := c.Kafka
	if k.SessionTimeout < Duration(time.Second) || k.SessionTimeout > Duration(30*time.Minute) {
		bad("kafka.session_timeout: %s outside [1s, 30m] (brokers accept 6s to 30m by default)", k.SessionTimeout)
	}
	if k.RebalanceTimeout < Duration(time.Second) || k.RebalanceTimeout > Duration(30*time.Minute) {
		bad("kafka.rebalance_timeout: %s outside [1s, 30m]", k.RebalanceTimeout)
	}
	if k.TransactionTimeout < Duration(time.Second) || k.TransactionTimeout > Duration(15*time.Minute) {
		bad("kafka.transaction_timeout: %s outside [1s, 15m] (the brokers' transaction.max.timeout.ms is 15m by default)", k.TransactionTimeout)
	}
	if c.Batch.MaxRecords < 1 || c.Batch.MaxRecords > 1_000_000 {
		bad("batch.max_records: %d outside [1, 1000000]", c.Batch.MaxRecords)
	}
	r := c.Rules()
	if err := r.Compile(); err != nil {
		bad("%v", err)
	}
	if t := c.Decision.Threshold; t != nil && !(*t >= 0 && *t <= 1) {
		bad("decision.threshold: %v must be in [0, 1]", *t)
	}
	if e := c.Decision.Epsilon; e != nil && !(*e >= 0 && *e <= 0.5) {
		bad("decision.epsilon: %v must be in [0, 0.5]", *e)
	}
	return errors.Join(errs...)
}
