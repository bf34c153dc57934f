#!/usr/bin/env bash
# make fuzz: runs each libFuzzer target of BUILD_DIR (a CORELM_FUZZ build: make build-sanitize)
# for FUZZ_SECONDS, one after another, single process. Each starts from a scratch copy of
# fuzz/corpus/<target>/ (plus fuzz/regressions/<target>/), so the committed corpus is not changed
# unless FUZZ_MERGE=1 (make fuzz-merge), which merges what a run found back into it (libFuzzer
# -merge=1 keeps only inputs that add coverage). A crash, a leak, a timeout or running out of
# memory fails the run: the reproducer's path is printed (copy it to fuzz/regressions/<target>/).
# FUZZ_KEEP_GOING=1 (a local campaign) runs libFuzzer with -fork=1 (one worker process at a time)
# and goes on after a finding, keeping every reproducer under FUZZ_WORK/<target>/artifacts/.
# FUZZ_SEED (1) fixes libFuzzer's random seed, so CI explores the same inputs on every run (a run
# still stops after FUZZ_SECONDS, so a faster machine goes further); FUZZ_SEED=0 picks a new one.
#   BUILD_DIR (build-sanitize), FUZZ_SECONDS (30), FUZZ_TARGETS (all), FUZZ_WORK (BUILD_DIR/fuzz-work)
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build-sanitize}
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
FUZZ_WORK=${FUZZ_WORK:-$BUILD_DIR/fuzz-work}
FUZZ_MERGE=${FUZZ_MERGE:-0}
FUZZ_KEEP_GOING=${FUZZ_KEEP_GOING:-0}
FUZZ_SEED=${FUZZ_SEED:-1}
if [ -z "${FUZZ_TARGETS:-}" ]; then
  FUZZ_TARGETS=$(ls fuzz/fuzz_*.cpp | sed 's|fuzz/fuzz_||; s|\.cpp$||' | tr '\n' ' ')
fi

# The longest input each target tries (its seeds fit, with room to grow).
max_len() {
  case "$1" in
    package | gguf | sentencepiece) echo 65536 ;;
    tokenizer_json | jinja) echo 32768 ;;
    *) echo 8192 ;;
  esac
}
dict_for() {
  case "$1" in
    jinja) echo fuzz/dict/jinja.dict ;;
    tokenizer_json | config | safetensors | package) echo fuzz/dict/json.dict ;;
  esac
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1:print_stacktrace=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export TMPDIR=${TMPDIR:-/tmp}

failed=()
for t in $FUZZ_TARGETS; do
  bin="$BUILD_DIR/fuzz/fuzz_$t"
  if [ ! -x "$bin" ]; then
    echo "fuzz: no $bin (configure with CORELM_FUZZ=ON: make build-sanitize)" >&2
    exit 2
  fi
  work="$FUZZ_WORK/$t"
  rm -rf "$work"
  mkdir -p "$work/corpus" "$work/artifacts"
  cp fuzz/corpus/"$t"/* "$work/corpus/" 2>/dev/null || true
  seeds=("$work/corpus")
  [ -d "fuzz/regressions/$t" ] && seeds+=("fuzz/regressions/$t")
  opts=(-max_total_time="$FUZZ_SECONDS" -max_len="$(max_len "$t")" -rss_limit_mb=2048
    -malloc_limit_mb=2048 -timeout=10 -seed="$FUZZ_SEED" -print_final_stats=1 -artifact_prefix="$work/artifacts/")
  d=$(dict_for "$t")
  [ -n "$d" ] && opts+=(-dict="$d")
  [ "$FUZZ_KEEP_GOING" = 1 ] && opts+=(-fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1)
  log="$work/log.txt"
  start=$(date +%s)
  "$bin" "${opts[@]}" "${seeds[@]}" >"$log" 2>&1
  rc=$?
  secs=$(($(date +%s) - start))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  if [ -z "$execs" ]; then  # -fork prints "#<runs>: cov: ..." lines instead of final stats
    execs=$(sed -n 's/^#\([0-9]*\): cov:.*/\1/p' "$log" | tail -1)
    [ -n "$execs" ] && [ $secs -gt 0 ] && speed=$((execs / secs))
  fi
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
  echo "fuzz $t: ${execs:-?} runs in ${secs} s (${speed:-?}/s), ${cov:-cov: ?}, corpus $(ls "$work/corpus" | wc -l) files; log $log"
  crashes=$(ls "$work/artifacts" | wc -l)
  if [ $rc -ne 0 ] || [ "$crashes" -gt 0 ]; then
    failed+=("$t")
    echo "fuzz $t: FAILED (exit $rc); the end of its log:" >&2
    grep -E 'ERROR|SUMMARY|runtime error|what\(\)|in corelm|LLVMFuzzerTestOneInput' "$log" |
      cut -c1-240 | head -20 >&2
    for a in "$work"/artifacts/*; do
      [ -e "$a" ] && echo "fuzz $t: reproducer $a (replay: $bin $a; keep it: cp $a fuzz/regressions/$t/)" >&2
    done
  elif [ "$FUZZ_MERGE" = 1 ]; then
    "$bin" -merge=1 -max_len="$(max_len "$t")" "fuzz/corpus/$t" "$work/corpus" >>"$log" 2>&1 ||
      echo "fuzz $t: merge failed (see $log)" >&2
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: findings in ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: no findings in $(echo $FUZZ_TARGETS) (${FUZZ_SECONDS} s each)"
