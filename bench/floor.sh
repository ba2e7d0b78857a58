#!/usr/bin/env bash
# bench/floor.sh — the floor on a big store: JOBS jobs (default 1,000) of ITERATIONS
# iterations (default 20) — their gates, events and ledger rows, written by seed.py as the
# factory writes them — served by `nightshift serve` (release build): the answer times of
# the line, a shift page, a job page and /metrics; a shift page loaded in headless chromium;
# one event's fan-out to CLIENTS (default 50) live streams; the floor's memory.
# A benchmark, not a test: it prints a table (and writes it to bench/out/floor.md).
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
JOBS=${JOBS:-1000}
ITERATIONS=${ITERATIONS:-20}
CLIENTS=${CLIENTS:-50}
SKIP_BUILD=${SKIP_BUILD:-0}
BIN_DIR=${BIN_DIR:-${CARGO_TARGET_DIR:-$REPO/target}/release}
OUT_DIR=${OUT_DIR:-$BENCH_DIR/out}
PY=${PY:-$REPO/.venv/bin/python}

if [[ $SKIP_BUILD != 1 ]]; then
  # The floor needs no local model: no llama.cpp in this build.
  (cd "$REPO" && cargo build --release -q -p nightshift --no-default-features)
fi
[[ -x $PY ]] || PY=python3
WORK=$(mktemp -d "${TMPDIR:-/tmp}/nightshift-floor-bench.XXXXXX")
SERVE_PID=""
cleanup() { [[ -n $SERVE_PID ]] && kill "$SERVE_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

cd "$WORK"
printf '[store]\nurl = "sqlite://ledger.db"\n' > nightshift.toml
"$BIN_DIR/nightshift" status --config nightshift.toml >/dev/null   # creates and migrates the store
seeded=$("$PY" "$BENCH_DIR/floor/seed.py" ledger.db "$JOBS" "$ITERATIONS")
"$BIN_DIR/nightshift" serve --config nightshift.toml --listen 127.0.0.1:0 > serve.out 2>/dev/null &
SERVE_PID=$!
for _ in $(seq 1 100); do [[ -s serve.out ]] && break; sleep 0.1; done
BASE=$(head -1 serve.out | sed 's#/$##')

mkdir -p "$OUT_DIR"
{
  echo "floor: $seeded; $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$REPO" rev-parse --short HEAD), $(nproc) CPUs"
  echo
  "$PY" "$BENCH_DIR/floor/probe.py" "$BASE" "$SERVE_PID" "$WORK" "$BIN_DIR/nightshift" "$CLIENTS"
} | tee "$OUT_DIR/floor.md"
