#!/usr/bin/env bash
# bench/workers.sh — memory per running agent, for each worker: the built-in agent and the
# agent CLIs (Codex, Claude Code, OpenCode), while every agent waits on a slow model.
#
# For each worker, `nightshift run` runs a shift of 1 job, then of JOBS jobs at once (JOBS
# tiny repositories, concurrency JOBS), against a scripted model that answers each call after
# DELAY_MS with a short text. The whole process tree's resident memory (`nightshift run` and
# every descendant: the CLIs, their native binaries, their shells) is sampled from /proc
# every SAMPLE_MS; the table gives the peaks and the memory each extra running agent adds:
#
#   per agent = (peak of the tree with JOBS jobs − peak with 1 job) / (JOBS − 1)
#
# Everything runs on 127.0.0.1 in a temporary folder. Needs the agent CLIs installed
# (scripts/install-agents.sh, run here unless SKIP_INSTALL=1). A benchmark, not a test: it
# prints numbers, and fails only when it cannot measure.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
RSS="$BENCH_DIR/workers/rss.py"

WORKERS=${WORKERS:-"builtin codex claude-code opencode"}
JOBS=${JOBS:-4}                    # agents running at once in the second run of each worker
DELAY_MS=${DELAY_MS:-15000}        # how long the model takes to answer each call
SAMPLE_MS=${SAMPLE_MS:-100}        # RSS sampling period
RUN_TIMEOUT=${RUN_TIMEOUT:-300}    # seconds before a `nightshift run` is killed
SKIP_BUILD=${SKIP_BUILD:-0}        # 1: use the binaries already in BIN_DIR
SKIP_INSTALL=${SKIP_INSTALL:-0}    # 1: do not run scripts/install-agents.sh
KEEP_WORK=${KEEP_WORK:-0}          # 1: keep the temporary folder
BIN_DIR=${BIN_DIR:-${CARGO_TARGET_DIR:-$REPO/target}/release}
OUT_DIR=${OUT_DIR:-$BENCH_DIR/out}

log() { printf '[workers-bench %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ $JOBS =~ ^[0-9]+$ && $JOBS -ge 2 ]] || die "JOBS must be a number ≥ 2 (got $JOBS)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/nightshift-workers-bench.XXXXXX")
PROVIDER_PID=""
FAILED=1
cleanup() {
  [[ -n $PROVIDER_PID ]] && kill "$PROVIDER_PID" 2>/dev/null
  if [[ $FAILED == 1 || $KEEP_WORK == 1 ]]; then log "work kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ $SKIP_INSTALL == 1 ]]; then
  [[ -n ${NIGHTSHIFT_AGENTS_DIR:-} ]] || NIGHTSHIFT_AGENTS_DIR=$(readlink -f "$REPO/.cache/agents")
else
  NIGHTSHIFT_AGENTS_DIR=$("$REPO/scripts/install-agents.sh" | sed -n 's/^NIGHTSHIFT_AGENTS_DIR=//p')
fi
export NIGHTSHIFT_AGENTS_DIR
[[ -d $NIGHTSHIFT_AGENTS_DIR/node_modules/.bin ]] || die "no agent CLIs in $NIGHTSHIFT_AGENTS_DIR: run scripts/install-agents.sh"

if [[ $SKIP_BUILD == 1 ]]; then
  log "SKIP_BUILD=1: using binaries in $BIN_DIR"
else
  log "cargo build --release (the workspace's binaries)"
  (cd "$REPO" && . scripts/lib.sh && ns_build_tools && ns_sandbox_tools && ns_build_release)
fi
[[ -x $BIN_DIR/nightshift && -x $BIN_DIR/nightshift-scripted ]] || die "no nightshift binaries in $BIN_DIR"

# The slow model: every call waits DELAY_MS, then answers a short text (no tool call), so
# each agent sends one request, waits, and finishes its turn.
cat >"$WORK/script.toml" <<EOF
cycle = true
[[steps]]
text = "Nothing to change."
usage = { input_tokens = 1000, output_tokens = 4 }
delay_ms = $DELAY_MS
EOF
setsid "$BIN_DIR/nightshift-scripted" --listen 127.0.0.1:0 --script "$WORK/script.toml" \
  >"$WORK/provider.log" 2>&1 </dev/null &
PROVIDER_PID=$!
for _ in $(seq 1 100); do
  ADDR=$(sed -n 's/^listening on //p' "$WORK/provider.log")
  [[ -n $ADDR ]] && break
  sleep 0.1
done
[[ -n ${ADDR:-} ]] || die "the scripted provider did not start"

# measure WORKER N: one shift of N jobs; prints the JSON of rss.py
measure() {
  local worker=$1 n=$2 dir="$WORK/$1-$2" i
  mkdir -p "$dir/repos"
  for i in $(seq 1 "$n"); do
    mkdir -p "$dir/repos/r$i"
    echo "tiny repository $i" >"$dir/repos/r$i/README.md"
    git -C "$dir/repos/r$i" init -q -b main
    git -C "$dir/repos/r$i" add -A
    git -C "$dir/repos/r$i" -c user.name=bench -c user.email=bench@example.invalid commit -q -m fixture
  done
  cat >"$dir/nightshift.toml" <<EOF
[store]
url = "sqlite://bench.db"

[[provider]]
name = "scripted"
kind = "scripted"
base_url = "http://$ADDR/v1"

[[model]]
name = "bench-model"
provider = "scripted"
input_usd_per_mtok = "1.00"
output_usd_per_mtok = "4.00"
EOF
  cat >"$dir/shift.toml" <<EOF
name = "bench-$worker"

[fleet]
repos = ["repos/*"]

[recipe]
prompt = "Benchmark: change nothing, say so."
worker = "$worker"
model = "bench-model"

[gates.policy]
require_change = false

[stop]
max_iterations = 1

[budget]
shift_usd = 1000
job_usd = 10

[run]
concurrency = $n
EOF
  log "$worker: $n job(s), the model answers after $DELAY_MS ms"
  python3 "$RSS" --out "$dir/rss.json" --stdout "$dir/report.json" --stderr "$dir/run.log" \
    --cwd "$dir" --sample-ms "$SAMPLE_MS" --timeout "$RUN_TIMEOUT" -- \
    env NIGHTSHIFT_LOG=warn "$BIN_DIR/nightshift" run shift.toml --config nightshift.toml --json \
    || { tail -n 20 "$dir/run.log" >&2; die "$worker: nightshift run failed"; }
  python3 - "$dir/report.json" "$n" "$worker" <<'EOF' || die "$worker: the agents did not finish their turns"
import json, sys
r = json.load(open(sys.argv[1]))
jobs = r["jobs"]
assert len(jobs) == int(sys.argv[2]), jobs
for j in jobs:
    assert j["calls"] == 1 and j["stop_reason"] in ("done", "max_iterations"), (sys.argv[3], j)
EOF
  cat "$dir/rss.json"
}


ROWS=()
for worker in $WORKERS; do
  one=$(measure "$worker" 1)
  many=$(measure "$worker" "$JOBS")
  ROWS+=("$(python3 - "$worker" "$JOBS" "$one" "$many" <<'EOF'
import json, sys
w, n, one, many = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3]), json.loads(sys.argv[4])
mib = lambda k: f"{k / 1024:.1f}"
per = (many["tree_peak_kib"] - one["tree_peak_kib"]) / (n - 1)
print(f"| {w} | {mib(one['tree_peak_kib'])} | {one['children_processes']} | "
      f"{mib(many['tree_peak_kib'])} | {many['children_processes']} | "
      f"{mib(one['root_peak_kib'])} | **{mib(per)}** |")
EOF
)")
done

STAMP=$(date -u +%Y%m%d-%H%M%S)
mkdir -p "$OUT_DIR"
{
  echo "Memory per running agent: $(nproc) CPUs, $(date -u '+%Y-%m-%d %H:%M UTC'), model delay $DELAY_MS ms, $JOBS agents at once"
  echo "(agents: $(basename "$NIGHTSHIFT_AGENTS_DIR"); nightshift from $BIN_DIR)"
  echo
  echo "| worker | peak RSS, 1 agent (MiB) | processes | peak RSS, $JOBS agents (MiB) | processes | nightshift itself, 1 agent (MiB) | per extra agent (MiB) |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${ROWS[@]}"
} | tee "$OUT_DIR/workers-$STAMP.md"
FAILED=0
