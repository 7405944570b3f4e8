// Package eostest holds the exactly-once and elasticity tests of the pipeline:
// the real `fraudstream run` binary, started as separate OS processes, is
// crashed (SIGKILL), scaled out and in, loses its disk and sees a broker
// restart, and the decisions it commits must be exactly those of one
// uninterrupted instance over the same input.
//
// The tests run against an in-process kfake cluster by default (small
// inputs, so that `go test ./...` stays fast) and against real Apache Kafka
// (deploy/kafka/kafka.sh, started and stopped by the tests) with
// FRAUDSTREAM_REAL_KAFKA=1:
//
//	go test ./pipeline/eostest/ -v                                  # kfake, ~20k transactions per scenario
//	FRAUDSTREAM_EOS_FULL=1 go test ./pipeline/eostest/ -v -timeout 30m   # kfake, full sizes
//	FRAUDSTREAM_REAL_KAFKA=1 go test ./pipeline/eostest/ -v -timeout 40m # real Kafka, full sizes
//
// Environment:
//
//	FRAUDSTREAM_REAL_KAFKA=1   real Apache Kafka instead of kfake (full sizes unless -short)
//	FRAUDSTREAM_EOS_FULL=1     full sizes on kfake too (ignored with -short)
//	FRAUDSTREAM_EOS_RECORDS=N  input size of the scenarios (overrides the above)
//	FRAUDSTREAM_EOS_SEED=N     seed of the kill schedule and victims (default 20260101)
//	FRAUDSTREAM_EOS_KILLS=N    kills in the chaos test (default 10)
//	FRAUDSTREAM_EOS_KEEP=1     keep the work directory (instance logs, configs, Kafka logs)
//
// The helpers in the non-test files (Cluster, World, Feed, Pipeline,
// Instance, ReadTopic, Collect, CheckExactlyOnce, CompareDecisions) exist for
// these tests only.
package eostest
