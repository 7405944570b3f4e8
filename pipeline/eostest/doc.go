// Package eostest holds the exactly-once and elasticity tests of the pipeline:
// the real `fraudstream run` binary, built once by TestMain and started as
// separate OS processes, is crashed (SIGKILL), scaled out and in (SIGTERM),
// loses its disk, is frozen past its session timeout (SIGSTOP/SIGCONT) and
// sees a broker restart, and the decisions and dead letters it commits
// (read_committed) must be exactly one per input record and equal, in every
// field but decided_at, to those of one uninterrupted instance over the same
// input.
//
// The tests run against an in-process kfake cluster by default (reduced
// sizes, so that `go test ./...` stays fast) and against real Apache Kafka
// (deploy/kafka/kafka.sh, started and stopped by each test on free ports)
// with FRAUDSTREAM_REAL_KAFKA=1:
//
//	go test ./pipeline/eostest/ -v                                        # kfake, ~20k transactions per scenario
//	FRAUDSTREAM_EOS_FULL=1 go test ./pipeline/eostest/ -v -timeout 30m   # kfake, full sizes
//	FRAUDSTREAM_REAL_KAFKA=1 go test ./pipeline/eostest/ -v -timeout 40m # real Kafka, full sizes
//
// Environment:
//
//	FRAUDSTREAM_REAL_KAFKA=1          real Apache Kafka instead of kfake (full sizes unless -short)
//	FRAUDSTREAM_EOS_FULL=1            full sizes on kfake too (ignored with -short)
//	FRAUDSTREAM_EOS_RECORDS=N         input size of the multi-instance scenarios
//	FRAUDSTREAM_EOS_RESTORE_CARDS=N   cards in the restore-throughput partition
//	FRAUDSTREAM_EOS_SEED=N            seed of the kill schedule and victims (default 20260101)
//	FRAUDSTREAM_EOS_KILLS=N           kills in the chaos test (default 10)
//	FRAUDSTREAM_EOS_KEEP=1            keep the work directory of passing tests too
//
// A failing test keeps its work directory (path in the log): per instance
// and start, the JSON log of the process (run-NN.log), with a goroutine dump
// (SIGQUIT) when the test found it stuck; the config files; the Kafka logs.
//
// kfake differs from Kafka where crash tests notice; see ClusterOpts (session
// and transaction timeouts capped so that a SIGKILLed member does not stall
// the kfake variants for a minute) and reapGhosts (members whose process died
// during a JoinGroup/SyncGroup reply are never expired by kfake).
//
// The helpers in the non-test files (Cluster, World, Feed, Pipeline,
// Instance, ReadTopic, Collect, CheckExactlyOnce, CompareDecisions) exist for
// these tests only.
package eostest
