package pipeline

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestExampleConfigIsTheDefault(t *testing.T) {
	cfg, err := LoadConfig("../fraudstream.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	d := DefaultConfig()
	if cfg.Group != d.Group || cfg.Topics != d.Topics || cfg.State != d.State || cfg.Windows != d.Windows ||
		cfg.Batch != d.Batch || cfg.Metrics != d.Metrics || cfg.Format != d.Format || cfg.Kafka != d.Kafka {
		t.Fatalf("example config drifted from the defaults:\n%+v\n%+v", cfg, d)
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	dir := t.TempDir()
	write := func(body string) string {
		p := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if _, err := LoadConfig(write("brokerz: [a]\n")); err == nil || !strings.Contains(err.Error(), "brokerz") {
		t.Fatalf("unknown field: %v", err)
	}
	if _, err := LoadConfig(write("windows:\n  allowed_lateness: 7 days\n")); err == nil || !strings.Contains(err.Error(), "7 days") {
		t.Fatalf("bad duration: %v", err)
	}
	cfg, err := LoadConfig(write("format: json\nstate:\n  cache_cards: 5\nvalidation:\n  currencies: [euro]\nbatch:\n  max_records: 0\n" +
		"kafka:\n  session_timeout: 0s\n  transaction_timeout: 1h\n"))
	if err != nil {
		t.Fatal(err)
	}
	err = cfg.Validate()
	for _, want := range []string{"format", "state.cache_cards", "validation.currencies", "batch.max_records", "kafka.session_timeout", "kafka.transaction_timeout"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s: %v", want, err)
		}
	}
	cfg, _ = LoadConfig(write("windows:\n  allowed_lateness: 7d12h\n"))
	if time.Duration(cfg.Windows.AllowedLateness) != 7*24*time.Hour+12*time.Hour {
		t.Fatalf("7d12h parsed as %v", cfg.Windows.AllowedLateness)
	}
}

func TestApplyEnv(t *testing.T) {
	cfg := DefaultConfig()
	env := map[string]string{"FRAUDSTREAM_BROKERS": "a:1,b:2", "FRAUDSTREAM_GROUP": "g", "FRAUDSTREAM_FORMAT": "avro"}
	cfg.ApplyEnv(func(k string) string { return env[k] })
	if len(cfg.Brokers) != 2 || cfg.Group != "g" || cfg.Format != "avro" {
		t.Fatalf("%+v", cfg)
	}
}
