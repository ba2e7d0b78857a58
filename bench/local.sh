#!/usr/bin/env bash
# bench/local.sh — speed of the local model (llama.cpp in-process): prompt processing and
# generation tokens/s on 1 and 2 threads and with the `auto` policy, with the machine quiet
# and with another process keeping one core busy.
#
# It runs the `local_bench` example of crates/nightshift-local (release build) on the model
# scripts/fetch-model.sh fetches. See bench/README.md for the knobs and the columns.
# This is a benchmark, not a test: it prints numbers, and fails only when it cannot measure.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)

PROMPT_TOKENS=${PROMPT_TOKENS:-256}     # tokens of prompt per run
GEN_TOKENS=${GEN_TOKENS:-64}            # tokens generated per run
REPEAT=${REPEAT:-3}                     # runs per cell (the median is reported)
CELLS=${CELLS:-"1,2,auto"}              # thread settings measured
LOADS=${LOADS:-"quiet busy"}            # machine states measured
MODES=${MODES:-"text tools"}            # free text, and one tool call under the grammar
BUSY_CPU=${BUSY_CPU:-1}                 # the core the busy loop is pinned to
SKIP_BUILD=${SKIP_BUILD:-0}             # 1: use the example already built
MODEL=${NIGHTSHIFT_LOCAL_MODEL:-}
OUT_DIR=${OUT_DIR:-$BENCH_DIR/out}
TARGET=${CARGO_TARGET_DIR:-$REPO/target}

log() { printf '[bench %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

BUSY_PID=
cleanup() {
  if [ -n "$BUSY_PID" ]; then kill "$BUSY_PID" 2>/dev/null || true; wait "$BUSY_PID" 2>/dev/null || true; fi
}
trap cleanup EXIT INT TERM

command -v python3 >/dev/null || die "python3 is needed to format the table"
command -v taskset >/dev/null || die "taskset (util-linux) is needed to pin the busy loop"
[ -n "$MODEL" ] || MODEL=$("$REPO/scripts/fetch-model.sh")
[ -f "$MODEL" ] || die "no model at $MODEL"

if [ "$SKIP_BUILD" != 1 ]; then
  log "cargo build --release (the workspace's binaries and examples)"
  (cd "$REPO" && . scripts/lib.sh && ns_build_tools && ns_build_release)
fi
BIN=$TARGET/release/examples/local_bench
[ -x "$BIN" ] || die "$BIN is missing (build it, or unset SKIP_BUILD)"

CPUS=$(nproc)
[ "$BUSY_CPU" -lt "$CPUS" ] || die "BUSY_CPU=$BUSY_CPU but the machine has $CPUS CPUs"
LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
RAW=$(mktemp)

for load in $LOADS; do
  case $load in
    quiet) ;;
    busy)
      # One core kept 100% busy by another process, as a build or a test run would.
      taskset -c "$BUSY_CPU" sh -c 'while :; do :; done' &
      BUSY_PID=$!
      sleep 1 ;;
    *) die "unknown load '$load' (quiet, busy)" ;;
  esac
  for mode in $MODES; do
    log "load=$load mode=$mode: $CELLS threads, $PROMPT_TOKENS prompt + up to $GEN_TOKENS generated tokens, $REPEAT runs each"
    # llama.cpp's own messages go to a file, shown if the run fails.
    "$BIN" "$MODEL" "$PROMPT_TOKENS" "$GEN_TOKENS" "$REPEAT" "$CELLS" "$mode" 2>"$RAW.err" \
      | sed "s/^{/{\"load\": \"$load\", /" >> "$RAW" \
      || { tail -n 30 "$RAW.err" >&2; die "local_bench failed (load=$load, mode=$mode); its last messages are above"; }
  done
  cleanup
  BUSY_PID=
done

mkdir -p "$OUT_DIR"
OUT=$OUT_DIR/local-$(date -u +%Y%m%d-%H%M%S).md
python3 - "$RAW" "$MODEL" "$CPUS" "$LOAD_AT_START" "$(uname -m)" \
  "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')" <<'PY' | tee "$OUT"
import json, os, sys
raw, model, cpus, load, arch, cpu = sys.argv[1:7]
rows = [json.loads(l) for l in open(raw) if l.strip()]
print(f"# Local model speed ({os.path.basename(model)})\n")
print(f"{cpus} CPUs ({cpu}, {arch}); load average at start: {load}.")
if rows:
    print(f"Median of the runs of each cell. `text`: {rows[0]['generated_tokens']} tokens generated whatever the model says; "
          "`tools`: one tool call under the JSON-schema grammar, which ends when its object closes.\n")
print("| load | mode | threads | prompt tokens | prompt tok/s | generated | generation tok/s | grammar fallbacks | threads used | others' load (cores) |")
print("|---|---|---|---:|---:|---:|---:|---|---|---|")
for r in rows:
    used = ",".join(str(t) for t in r["threads_used"])
    others = ",".join(f"{l/1000:.1f}" for l in r["others_load_permille"])
    fb = ",".join(str(f) for f in r["grammar_fallbacks"]) if r["mode"] == "tools" else "–"
    print(f"| {r['load']} | {r['mode']} | {r['cell']} | {r['prompt_tokens']} | {r['pp_tok_s']:.0f} | {r['generated_tokens']} | {r['tg_tok_s']:.1f} | {fb} | {used} | {others} |")
PY
rm -f "$RAW" "$RAW.err"
log "table written to $OUT"
