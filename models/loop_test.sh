#!/usr/bin/env bash
# The data scientist's loop, end to end, as the README describes it:
#   produce synthetic history → features export (from the topic) → train.py →
#   fraudstream model validate → hot reload into a running `fraudstream dev`.
# Needs: bin/fraudstream (make build) and the training venv (make model-venv).
# Exits non-zero if any step fails or the running pipeline does not switch
# to the new model.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=./bin/fraudstream
PY=${PY:-.cache/models-venv/bin/python}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
port=$((20000 + RANDOM % 20000)); reg=$((port + 1)); met=$((port + 2))
mkdir -p "$work/model"
cp models/default/model.txt models/default/bundle.json "$work/model/"

echo "loop: start dev (no built-in traffic) on 127.0.0.1:$port"
$BIN dev --traffic=false --quiet --data-dir "$work/dev" --port $port --registry-port $reg \
	--metrics-addr 127.0.0.1:$met --model "$work/model" --duration 10m 2>"$work/dev.log" &
for _ in $(seq 100); do grep -q "metrics:" "$work/dev.log" 2>/dev/null && break; sleep 0.2; done

echo "loop: produce 60 days of synthetic history (3,000 cards)"
$BIN produce --brokers 127.0.0.1:$port --registry http://127.0.0.1:$reg --synthetic --seed 11 --cards 3000 --days 60

echo "loop: export point-in-time features from the topics"
$BIN features export --topic transactions --labels-topic labels --brokers 127.0.0.1:$port \
	--registry http://127.0.0.1:$reg --unlabelled-legit --output "$work/features.csv"

echo "loop: train"
$PY models/train.py --input "$work/features.csv" --output-dir "$work/new" --name loop --version loop-1 \
	--created-at 2026-11-27T00:00:00Z --num-trees 20 >"$work/train.log"
tail -5 "$work/train.log"

echo "loop: validate"
$BIN model validate "$work/new"

echo "loop: hot reload into the running pipeline"
cp "$work/new/model.txt" "$work/model/model.txt.tmp" && mv "$work/model/model.txt.tmp" "$work/model/model.txt"
cp "$work/new/bundle.json" "$work/model/bundle.json.tmp" && mv "$work/model/bundle.json.tmp" "$work/model/bundle.json"
for _ in $(seq 100); do
	if $PY - "$met" <<'PY'
import sys, urllib.request
m = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics").read().decode()
sys.exit(0 if 'fraudstream_model_info{feature_set="fs1",model_version="loop-1"} 1' in m else 1)
PY
	then
		echo "loop: the running pipeline serves loop-1"
		$BIN produce --brokers 127.0.0.1:$port --registry http://127.0.0.1:$reg --synthetic --seed 12 --cards 200 --days 1 2>/dev/null
		sleep 3
		n=$($BIN tail --brokers 127.0.0.1:$port --registry http://127.0.0.1:$reg --topic decisions | grep -c '"model_version":"loop-1"' || true)
		echo "loop: $n decisions made by loop-1"
		[ "$n" -gt 0 ] || { echo "loop: no decision carries the new model version"; exit 1; }
		echo "loop: OK"
		exit 0
	fi
	sleep 0.2
done
echo "loop: the pipeline did not pick up the new bundle"; tail -20 "$work/dev.log"; exit 1
