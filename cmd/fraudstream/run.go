package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/fraudstream/fraudstream/pipeline"
	"github.com/fraudstream/fraudstream/schemas"
)

func init() {
	register("run", "run the pipeline (a consumer-group member) against a Kafka cluster", cmdRun)
}

// configFlags binds the flags that override a loaded config. Applied after
// the file and the environment, so the precedence is flag > env > file >
// default.
type configFlags struct {
	path                                string
	brokers                             stringList
	group, instance, registry, stateDir string
	modelDir, format, metricsAddr       string
	logLevel, logFormat                 string
}

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flagSet("run", stderr)
	var cf configFlags
	fs.StringVar(&cf.path, "config", "", "YAML config file (see fraudstream.example.yaml); env FRAUDSTREAM_* and flags override it")
	fs.Var(&cf.brokers, "brokers", "Kafka bootstrap servers, comma-separated")
	fs.StringVar(&cf.group, "group", "", "consumer group id")
	fs.StringVar(&cf.instance, "instance-id", "", "unique, stable instance id (default: host name)")
	fs.StringVar(&cf.registry, "registry", "", "schema registry URL")
	fs.StringVar(&cf.stateDir, "state-dir", "", "Pebble state directory")
	fs.StringVar(&cf.modelDir, "model", "", "model bundle directory")
	fs.StringVar(&cf.format, "format", "", "wire format: confluent or avro")
	fs.StringVar(&cf.metricsAddr, "metrics-addr", "", "listen address of /metrics, /healthz, /readyz (\"off\" disables)")
	fs.StringVar(&cf.logLevel, "log-level", "info", "debug, info, warn, error")
	fs.StringVar(&cf.logFormat, "log-format", "text", "text or json")
	modelPoll := fs.Duration("model-poll", 2*time.Second, "how often to check the model bundle directory for a new bundle (SIGHUP reloads at once; 0 = only SIGHUP)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := cf.load()
	if err != nil {
		return err
	}
	log, err := newLogger(stderr, cf.logLevel, cf.logFormat)
	if err != nil {
		return err
	}
	r, err := pipeline.NewRunner(ctx, cfg, pipeline.WithLogger(log))
	if err != nil {
		return err
	}
	if u := r.MetricsURL(); u != "" {
		fmt.Fprintf(stderr, "metrics: %s (also /healthz, /readyz)\n", u)
	}
	if *modelPoll > 0 {
		r.WatchModel(ctx, *modelPoll)
	}
	return r.Run(ctx)
}

func (cf *configFlags) load() (pipeline.Config, error) {
	cfg, err := pipeline.LoadConfig(cf.path)
	if err != nil {
		return cfg, err
	}
	cfg.ApplyEnv(os.Getenv)
	if len(cf.brokers) > 0 {
		cfg.Brokers = cf.brokers
	}
	for _, o := range []struct {
		v   string
		dst *string
	}{{cf.group, &cfg.Group}, {cf.instance, &cfg.InstanceID}, {cf.registry, &cfg.Registry.URL},
		{cf.stateDir, &cfg.State.Dir}, {cf.modelDir, &cfg.Model.Dir}, {cf.metricsAddr, &cfg.Metrics.Addr}} {
		if o.v != "" {
			*o.dst = o.v
		}
	}
	if cf.format != "" {
		cfg.Format = schemas.Format(cf.format)
	}
	if cf.metricsAddr == "off" {
		cfg.Metrics.Addr = ""
	}
	return cfg, nil
}
