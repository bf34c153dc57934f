#!/usr/bin/env bash
# Mistral 7B in under 4 GiB: makes a random-weight Mistral-7B-v0.3-shaped model in DIR (if
# absent), converts it to q4s32 and runs it, printing the conversion's peak RSS and time, the
# run's peak RSS (as /usr/bin/time -v reports it) and decode speed. Not part of `make test`.
#   bench/memory_7b.sh DIR [--full-context]
# --full-context also prefills 2016 tokens so the whole 2048-token KV cache is resident.
set -euo pipefail
DIR=${1:?usage: bench/memory_7b.sh DIR [--full-context]}
FULL=${2:-}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${SHARED:-$ROOT/../shared}
CORELM=${CORELM:-$ROOT/build/corelm}
HF="$DIR/7b-hf"
PKG="$DIR/7b-q4s32.clm"
mkdir -p "$DIR"

gib() { awk -v kb="$1" 'BEGIN { printf "%.3f GiB", kb / 1048576 }'; }
max_rss() { awk -F': ' '/Maximum resident set size/ { print $2 }' "$1"; }
elapsed() { awk -F': ' '/Elapsed \(wall clock\)/ { print $2 }' "$1"; }

if [ ! -f "$HF/model.safetensors.index.json" ]; then
  free_kb=$(df -Pk "$DIR" | awk 'NR == 2 { print $4 }')
  if [ "$free_kb" -lt $((20 * 1024 * 1024)) ]; then
    echo "memory_7b: need 20 GB free in $DIR (15 GB model + 4.5 GB package), have $((free_kb / 1024 / 1024)) GB" >&2
    exit 1
  fi
  /usr/bin/python3 "$SHARED/tools/make_random_model.py" --preset 7b --out "$HF" \
    --tokenizer "$SHARED/data/mistral-spm-models/mistral_instruct_tokenizer_240323.model.v3"
fi

/usr/bin/time -v "$CORELM" convert "$HF" -o "$PKG" --quiet 2> "$DIR/convert.log"
echo "convert: $(elapsed "$DIR/convert.log") wall, peak RSS $(gib "$(max_rss "$DIR/convert.log")")"
grep -E "^wrote|added error" "$DIR/convert.log"

PROMPT="Best recommendations for a place to visit in Paris in August 2024:"
for kv in q8 f16; do
  /usr/bin/time -v "$CORELM" generate "$PROMPT" "$PKG" --max-context 2048 --kv-cache "$kv" --max-new-tokens 64 \
    --ignore-eos > /dev/null 2> "$DIR/generate-$kv.log"
  echo "generate (--max-context 2048 --kv-cache $kv): peak RSS $(gib "$(max_rss "$DIR/generate-$kv.log")"); $(grep -o 'decode: [^|]*' "$DIR/generate-$kv.log")"
done

"$CORELM" bench "$PKG" -p 64 -n 64 -r 3 --kv-cache q8

if [ "$FULL" = "--full-context" ]; then
  /usr/bin/time -v "$CORELM" bench "$PKG" -p 2016 -n 32 -r 1 --kv-cache q8 --no-bandwidth > "$DIR/full.out" 2> "$DIR/full.log"
  cat "$DIR/full.out"
  echo "full 2048-token context (q8 KV): peak RSS $(gib "$(max_rss "$DIR/full.log")")"
fi
