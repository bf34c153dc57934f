#!/usr/bin/env bash
# Runs serve_bench against corelm serve and llama-server on the same GGUF file, the same number of
# slots and the same context per slot, alternately, ROUNDS times, and prints one JSON line per
# (server, round, concurrency level). Both use THREADS threads.
#   bench/serve/compare.sh MODEL.gguf [SLOTS=4] [CTX_PER_SLOT=1024] [ROUNDS=2]
# Environment: BUILD_DIR (build), LLAMA_DIR (../shared/peers/llama.cpp), THREADS (2),
#   CLIENTS (1,2,4,8), REQUESTS (2 per client), MAX_TOKENS (128), PORT (18080).
set -euo pipefail
cd "$(dirname "$0")/../.."
MODEL=${1:?usage: compare.sh MODEL.gguf [SLOTS] [CTX_PER_SLOT] [ROUNDS]}
SLOTS=${2:-4}
CTX=${3:-1024}
ROUNDS=${4:-2}
BUILD_DIR=${BUILD_DIR:-build}
LLAMA_DIR=${LLAMA_DIR:-../shared/peers/llama.cpp}
THREADS=${THREADS:-2}
CLIENTS=${CLIENTS:-1,2,4,8}
REQUESTS=${REQUESTS:-2}
MAX_TOKENS=${MAX_TOKENS:-128}
PORT=${PORT:-18080}

wait_ready() {
  for _ in $(seq 1 600); do
    curl -sf "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "compare.sh: the server on port $PORT never became ready" >&2
  return 1
}

run_one() {  # label, command...
  local label=$1
  shift
  "$@" >/dev/null 2>"/tmp/serve-compare-$label.log" &
  local pid=$!
  wait_ready
  "$BUILD_DIR/bench/serve_bench" --port "$PORT" --clients "$CLIENTS" --requests "$REQUESTS" \
    --max-tokens "$MAX_TOKENS" --label "$label" --json
  kill -TERM $pid
  wait $pid || true
}

echo "# $(lscpu | grep 'Model name' | sed 's/  */ /g'); slots $SLOTS, context/slot $CTX, threads $THREADS"
for round in $(seq 1 "$ROUNDS"); do
  run_one "corelm-r$round" "$BUILD_DIR/corelm" serve "$MODEL" --port "$PORT" -p "$SLOTS" \
    --max-context "$CTX" -t "$THREADS"
  run_one "llama-server-r$round" "$LLAMA_DIR/llama-server" -m "$MODEL" --port "$PORT" \
    -np "$SLOTS" -c $((CTX * SLOTS)) -t "$THREADS" --no-webui
done
