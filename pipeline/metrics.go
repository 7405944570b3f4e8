package pipeline

import (
	"sort"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/fraudstream/fraudstream/operators/validate"
	"github.com/fraudstream/fraudstream/schemas"
)

// Metrics are the pipeline's Prometheus metrics, registered on their own
// registry (never the global one). Label values are bounded: actions,
// DLQ reasons, topic names, model versions — never a card or transaction id.
type Metrics struct {
	Registry *prometheus.Registry
	// collectors are the fraudstream collectors registered (MetricNames).
	collectors []prometheus.Collector

	RecordsConsumed   *prometheus.CounterVec   // topic
	Decisions         *prometheus.CounterVec   // action
	Explored          prometheus.Counter       //
	DLQ               *prometheus.CounterVec   // reason
	LateEvents        prometheus.Counter       //
	ProcessingLatency prometheus.Histogram     // poll → decision committed
	EndToEndLatency   prometheus.Histogram     // event_time → decision committed
	Scores            *prometheus.HistogramVec // model_version
	BatchRecords      prometheus.Histogram     //
	TxnCommitted      prometheus.Counter       //
	TxnAborted        prometheus.Counter       //
	CardsCached       prometheus.Gauge         //
	CardLoads         prometheus.Counter       // cache misses served from Pebble
	PartitionsOwned   prometheus.Gauge         //
	Rebalances        *prometheus.CounterVec   // kind: assigned, revoked, lost
	ModelInfo         *prometheus.GaugeVec     // model_version, feature_set
	Restores          prometheus.Counter       // partitions restored from the changelog
	RestoreRecords    prometheus.Counter       // changelog records applied
	RestoreFailures   prometheus.Counter       // restores that failed (retried)
	RestoreRemaining  *prometheus.GaugeVec     // changelog records left to replay, by partition
	Restoring         prometheus.Gauge         // partitions restoring now
	RestoreSeconds    prometheus.Histogram     //
	StateDropped      prometheus.Counter       // partitions' state dropped after the grace period
	ConsumerLag       *prometheus.GaugeVec     // partition
	Labels            *prometheus.CounterVec   // result
	Outcomes          *prometheus.CounterVec   // kind
	DecisionsExpired  *prometheus.CounterVec   // presumed
	LabelDelay        prometheus.Histogram     //
	ModelReloads      *prometheus.CounterVec   // result: ok, rejected
	ModelReloadFailed prometheus.Gauge         //
}

// NewMetrics creates and registers the metrics.
func NewMetrics() *Metrics {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &Metrics{
		Registry: r,
		RecordsConsumed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fraudstream_records_consumed_total", Help: "Input records consumed, by topic."}, []string{"topic"}),
		Decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fraudstream_decisions_total", Help: "Decisions committed, by action."}, []string{"action"}),
		Explored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fraudstream_explored_total", Help: "Flagged transactions approved by the exploration policy."}),
		DLQ: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fraudstream_dlq_records_total", Help: "Records sent to the dead-letter topic, by reason."}, []string{"reason"}),
		LateEvents: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fraudstream_late_events_total", Help: "Transactions older than their card's newest event (processed exactly)."}),
		ProcessingLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "fraudstream_processing_latency_seconds", Help: "From poll to the decision's transaction committed.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}),
		EndToEndLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "fraudstream_end_to_end_latency_seconds", Help: "From the transaction's event_time to its decision committed.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 14)}),
		Scores: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "fraudstream_score", Help: "Model scores, by model version.",
			Buckets: prometheus.LinearBuckets(0.05, 0.05, 19)}, []string{"model_version"}),
		BatchRecords: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "fraudstream_batch_records", Help: "Input records per Kafka transaction.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 10)}),
		TxnCommitted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fraudstream_kafka_transactions_committed_total", Help: "Kafka transactions committed."}),
		TxnAborted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fraudstream_kafka_transactions_aborted_total", Help: "Kafka transactions aborted (rebalance, error); their work is redone."}),
		CardsCached: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "fraudstream_state_cards_cached", Help: "Card states held in memory."}),
		CardLoads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fraudstream_state_card_loads_total", Help: "Card states read from Pebble (cache misses)."}),
		PartitionsOwned: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "fraudstream_partitions_owned", Help: "Input partitions this instance processes."}),
		Rebalances: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fraudstream_rebalance_events_total", Help: "Partition assignment changes, by kind (assigned, revoked, lost)."}, []string{"kind"}),
		ModelInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "fraudstream_model_info", Help: "1 for the model bundle currently serving."}, []string{"model_version", "feature_set"}),
		Restores: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fraudstream_state_restores_total", Help: "Partitions whose state was restored from the changelog."}),
		RestoreRecords: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fraudstream_state_restore_records_total", Help: "Changelog records applied to Pebble by restores."}),
		RestoreFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fraudstream_state_restore_failures_total", Help: "Partition restores that failed and were retried."}),
		RestoreRemaining: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "fraudstream_state_restore_remaining_records", Help: "Changelog offsets left to replay by the restore of a partition (present while it restores)."}, []string{"partition"}),
		Restoring: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "fraudstream_state_restoring_partitions", Help: "Partitions restoring from the changelog right now."}),
		RestoreSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "fraudstream_state_restore_duration_seconds", Help: "Time to restore one partition from the changelog.",
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 10)}),
		StateDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fraudstream_state_partitions_dropped_total", Help: "Local partition states deleted after the grace period without ownership."}),
		ConsumerLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "fraudstream_consumer_lag_records", Help: "Records of an input partition after the last one processed (high watermark minus position), as of the last fetch."}, []string{"topic", "partition"}),
		Labels: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fraudstream_labels_total", Help: "Labels by fate: joined, duplicate, contradicting, waiting, expired_unmatched, malformed."}, []string{"result"}),
		Outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fraudstream_outcomes_total", Help: "Outcomes (decisions joined with labels) written, by kind."}, []string{"kind"}),
		DecisionsExpired: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fraudstream_decisions_expired_total", Help: "Decisions that reached the label horizon without a label, by whether an outcome presumed them legit."}, []string{"presumed"}),
		LabelDelay: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "fraudstream_label_delay_seconds", Help: "Label time minus event time of joined labels.",
			Buckets: []float64{3600, 6 * 3600, 86400, 2 * 86400, 4 * 86400, 7 * 86400, 14 * 86400, 30 * 86400, 45 * 86400, 60 * 86400, 90 * 86400, 120 * 86400}}),
		ModelReloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fraudstream_model_reloads_total", Help: "Model bundle reload attempts, by result (ok, rejected)."}, []string{"result"}),
		ModelReloadFailed: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "fraudstream_model_reload_failed", Help: "1 while the last model reload attempt was refused (the previous model keeps serving)."}),
	}
	m.collectors = append(m.collectors, m.RecordsConsumed, m.Decisions, m.Explored, m.DLQ, m.LateEvents, m.ProcessingLatency,
		m.EndToEndLatency, m.Scores, m.BatchRecords, m.TxnCommitted, m.TxnAborted, m.CardsCached, m.CardLoads,
		m.PartitionsOwned, m.Rebalances, m.ModelInfo, m.ModelReloads, m.ModelReloadFailed,
		m.Restores, m.RestoreRecords, m.RestoreFailures, m.RestoreRemaining, m.Restoring, m.RestoreSeconds, m.StateDropped,
		m.Labels, m.Outcomes, m.DecisionsExpired, m.LabelDelay, m.ConsumerLag)
	r.MustRegister(m.collectors...)
	// Pre-create the bounded label values so that dashboards and alerts
	// see zeros, not absent series.
	for _, a := range []string{schemas.ActionApprove, schemas.ActionDecline, schemas.ActionReview} {
		m.Decisions.WithLabelValues(a)
	}
	for _, r := range validate.AllReasons {
		m.DLQ.WithLabelValues(r)
	}
	for _, k := range []string{"joined", "duplicate", "contradicting", "waiting", "expired_unmatched", "malformed"} {
		m.Labels.WithLabelValues(k)
	}
	for _, k := range []string{"label", "correction", "presumed_legit"} {
		m.Outcomes.WithLabelValues(k)
	}
	for _, k := range []string{"ok", "rejected"} {
		m.ModelReloads.WithLabelValues(k)
	}
	for _, k := range []string{"assigned", "revoked", "lost"} {
		m.Rebalances.WithLabelValues(k)
	}
	return m
}

// MetricNames returns the name of every metric the pipeline registers
// (including label-vector metrics that have no series yet), sorted: the
// source of truth for alert rules and dashboards (deploy/deploy_test.go).
func MetricNames() []string {
	m := NewMetrics()
	if _, err := NewMonitoring(m); err != nil {
		panic(err)
	}
	ch := make(chan *prometheus.Desc, 64)
	go func() {
		for _, c := range m.collectors {
			c.Describe(ch)
		}
		close(ch)
	}()
	seen := map[string]bool{}
	for d := range ch {
		// Desc exposes its name only through String: Desc{fqName: "x", ...}.
		s := d.String()
		if i := strings.Index(s, `fqName: "`); i >= 0 {
			rest := s[i+len(`fqName: "`):]
			if j := strings.IndexByte(rest, '"'); j > 0 && strings.HasPrefix(rest, "fraudstream_") {
				seen[rest[:j]] = true
			}
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
