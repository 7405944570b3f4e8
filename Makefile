# fraudstream — the commands a user and CI need. See README.md.
GO       ?= go
BIN      := bin/fraudstream
PKGS     := ./...
PYTHON   ?= python3
VENV     := .venv

.PHONY: all build run test test-kafka bench model parity vet fmt clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/fraudstream

## run: the whole pipeline on an embedded broker, with synthetic traffic (Ctrl-C to stop)
run: build
	./$(BIN) dev $(ARGS)

## test: unit, data-driven and end-to-end (kfake) tests; needs only Go
test: vet build
	$(GO) test -count=1 $(PKGS)

vet:
	@test -z "$$(gofmt -l . | grep -v '^.venv/')" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) vet $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

## bench: per-operator ns/event and allocations, plus end-to-end events/s of dev
bench: build
	{ $(GO) test -run '^$$' -bench 'DecodeTransaction|EncodeDecision' -benchmem -count 6 ./schemas/ ; \
	  $(GO) test -run '^$$' -bench 'ObserveInOrder$$|ObserveLate$$|AppendHead$$' -benchmem -count 6 ./operators/windows/ ; \
	  $(GO) test -run '^$$' -bench . -benchmem -count 6 ./operators/features/ ./operators/decide/ ./models/ ; \
	  $(GO) test -run '^$$' -bench PipelineThroughput -benchtime 1x -count 6 ./pipeline/ ; } | tee bench.txt
	$(GO) run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da bench.txt
	./$(BIN) dev --fresh --data-dir /tmp/fraudstream-bench --duration 10s --rate 0 --drain-timeout 5m --quiet \
		--metrics-addr "" --port 0 --registry-port 0 --summary-json bench-dev.json
	@cat bench-dev.json

## model: rebuild the shipped default model bundle from synthetic history (needs Python 3.11)
# The training set is the pipeline's own point-in-time feature export of the
# simulator (seed 1, 20,000 cards, 120 days): trained on exactly what is served.
TRAIN_CSV := data/train/features-seed1.csv
model: build
	mkdir -p data/train
	./$(BIN) features export --synthetic --seed 1 --cards 20000 --days 120 --unlabelled-legit --output $(TRAIN_CSV)
	$(MAKE) model-train FEATURES_CSV=$(TRAIN_CSV) MODEL_NAME=default MODEL_VERSION=default-fs1-seed1 \
		TRAIN_ARGS="--created-at 2026-11-27T00:00:00Z --note 'fraudstream features export --synthetic --seed 1 --cards 20000 --days 120'"

include models/Makefile.fragment

## parity: the three parity proofs (windows vs the seed's pandas code, leaves vs LightGBM, online vs offline)
parity: build $(MODELS_VENV)/.installed
	mkdir -p data/parity
	./$(BIN) features export --input testdata/parity/events.csv --model models/default --output data/parity/features.csv
	$(MODELS_VENV)/bin/python -W ignore::FutureWarning models/parity.py --events testdata/parity/events.csv \
		--features data/parity/features.csv --model models/default
	$(GO) test -count=1 -run 'TestOnlineOfflineParity' ./pipeline/

## test-kafka: integration tests against real Apache Kafka (KRaft, Maven Central jars)
test-kafka: build
	./deploy/kafka/kafka.sh install
	FRAUDSTREAM_REAL_KAFKA=1 $(GO) test -count=1 -timeout 40m -v ./pipeline/eostest/

clean:
	rm -rf bin data bench.txt bench-dev.json
