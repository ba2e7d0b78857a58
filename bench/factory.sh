#!/usr/bin/env bash
# bench/factory.sh — what the factory itself costs: memory per loop waiting on the model, and
# the time an iteration spends outside the model on a small and on a 10,000-file repository.
#
#   1. memory: JOBS concurrent jobs (default 1000) on JOBS tiny generated repositories, a
#      scripted model that answers each call after DELAY_MS; RSS of `nightshift run` sampled
#      while every loop waits, against the RSS of the same shift with one job.
#   2. overhead: one job, ITERATIONS iterations, a model that answers at once (write_file of
#      one file, then finish(done=false)), no gate commands; per-iteration times from the
#      factory's own event log, minus the model time the ledger records. On a tiny repository
#      and on one with FILES files, then again with debug logging to see where the time goes.
#
# Everything runs on 127.0.0.1 in a temporary folder. See bench/README.md for the knobs.
# This is a benchmark, not a test: it prints numbers, and fails only when it cannot measure.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
PROBE="$BENCH_DIR/factory/probe.py"

JOBS=${JOBS:-1000}                       # concurrent jobs (= loops waiting) in the memory part
DELAY_MS=${DELAY_MS:-auto}               # model delay in the memory part; auto: 10 s + 40 ms per job
BASE_DELAY_MS=${BASE_DELAY_MS:-3000}     # model delay of the one-job baseline
FILES=${FILES:-10000}                    # files in the big repository of the overhead part
ITERATIONS=${ITERATIONS:-20}             # iterations per overhead run
REPEAT=${REPEAT:-3}                      # overhead runs per repository (their iterations are pooled)
PARTS=${PARTS:-"memory overhead"}        # which parts to run
BREAKDOWN=${BREAKDOWN:-1}                # 1: also run the overhead part with debug logging, per phase
SAMPLE_MS=${SAMPLE_MS:-100}              # RSS sampling period
RUN_TIMEOUT=${RUN_TIMEOUT:-1200}         # seconds before a `nightshift run` is killed
SKIP_BUILD=${SKIP_BUILD:-0}              # 1: use the binaries already in BIN_DIR
SKIP_INSTALL=${SKIP_INSTALL:-0}          # 1: do not apt-get anything
KEEP_WORK=${KEEP_WORK:-0}                # 1: keep the temporary folder (repos, stores, logs)
BIN_DIR=${BIN_DIR:-${CARGO_TARGET_DIR:-$REPO/target}/release}
OUT_DIR=${OUT_DIR:-$BENCH_DIR/out}
WORK_ROOT=${WORK_ROOT:-${TMPDIR:-/tmp}}  # where the temporary folder goes (its filesystem matters)

log() { printf '[factory-bench %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
has_part() { [[ " $PARTS " == *" $1 "* ]]; }

[[ $JOBS =~ ^[0-9]+$ && $JOBS -ge 2 ]] || die "JOBS must be a number ≥ 2 (got $JOBS)"
[[ $ITERATIONS =~ ^[0-9]+$ && $ITERATIONS -ge 2 ]] || die "ITERATIONS must be a number ≥ 2"
[[ $REPEAT =~ ^[0-9]+$ && $REPEAT -ge 1 ]] || die "REPEAT must be a number ≥ 1"
if [[ $DELAY_MS == auto ]]; then DELAY_MS=$((10000 + 40 * JOBS)); fi

# ---------------------------------------------------------------- processes and clean-up

mkdir -p "$WORK_ROOT"
WORK=$(mktemp -d "$WORK_ROOT/nightshift-factory-bench.XXXXXX")
PGIDS=()        # scripted providers, each in its own session
RUN_PIDFILES=() # `nightshift run` processes started by probe.py
PROBE_PID=""    # probe.py while it runs one
FAILED=1

stop_group() {   # stop_group PGID: TERM the process group, then KILL what is left
  local pg=$1 i
  kill -TERM -- "-$pg" 2>/dev/null || kill -TERM "$pg" 2>/dev/null || return 0
  for i in $(seq 1 50); do
    kill -0 -- "-$pg" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL -- "-$pg" 2>/dev/null || true
}

cleanup() {
  local pg f pid
  [[ -n $PROBE_PID ]] && kill -TERM "$PROBE_PID" 2>/dev/null
  for f in "${RUN_PIDFILES[@]+"${RUN_PIDFILES[@]}"}"; do
    pid=$(cat "$f" 2>/dev/null) || continue
    kill -0 "$pid" 2>/dev/null && { kill -TERM "$pid" 2>/dev/null; sleep 1; kill -KILL "$pid" 2>/dev/null; }
  done
  for pg in "${PGIDS[@]+"${PGIDS[@]}"}"; do stop_group "$pg"; done
  PGIDS=()
  if [[ $FAILED == 1 || $KEEP_WORK == 1 ]]; then
    log "repositories, stores and logs kept in $WORK"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- install and build

install_tools() {
  local apt=() sudo=""
  [[ $(id -u) == 0 ]] || sudo=sudo
  command -v git >/dev/null || apt+=(git)
  command -v python3 >/dev/null || apt+=(python3)
  if ((${#apt[@]})); then
    [[ $SKIP_INSTALL == 1 ]] && die "missing tools (${apt[*]}) and SKIP_INSTALL=1"
    log "apt-get install ${apt[*]}"
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${apt[@]}" >&2
  fi
  python3 -c 'import sqlite3' || die "python3 has no sqlite3 module"
}

build() {
  if [[ $SKIP_BUILD == 1 ]]; then
    log "SKIP_BUILD=1: using binaries in $BIN_DIR"
  else
    log "cargo build --release (the workspace's binaries)"
    (cd "$REPO" && . scripts/lib.sh && ns_build_tools && ns_sandbox_tools && ns_build_release)
  fi
  [[ -x $BIN_DIR/nightshift ]] || die "no $BIN_DIR/nightshift"
  [[ -x $BIN_DIR/nightshift-scripted ]] || die "no $BIN_DIR/nightshift-scripted"
}

# ---------------------------------------------------------------- pieces

# start_provider NAME SCRIPT: the scripted model in its own session; sets PROV_ADDR
start_provider() {
  local name=$1 script=$2 i
  setsid "$BIN_DIR/nightshift-scripted" --listen 127.0.0.1:0 --script "$script" \
    >"$WORK/$name.provider.log" 2>&1 </dev/null &
  local pid=$!
  PGIDS+=("$pid")
  for i in $(seq 1 100); do
    PROV_ADDR=$(sed -n 's/^listening on //p' "$WORK/$name.provider.log")
    [[ -n $PROV_ADDR ]] && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  cat "$WORK/$name.provider.log" >&2
  die "the scripted provider ($name) did not start"
}

# write_config DIR ADDR: nightshift.toml with the store beside it and the scripted model
write_config() {
  cat >"$1/nightshift.toml" <<EOF
[store]
url = "sqlite://bench.db"

[[provider]]
name = "scripted"
kind = "openai-compatible"
base_url = "http://$2/v1"

[[model]]
name = "bench-model"
provider = "scripted"
input_usd_per_mtok = "1.00"
output_usd_per_mtok = "4.00"
EOF
}

# write_spec DIR NAME CONCURRENCY MAX_ITERATIONS: shift.toml over DIR/repos/*, no gate commands
write_spec() {
  cat >"$1/shift.toml" <<EOF
name = "$2"

[fleet]
repos = ["repos/*"]

[recipe]
prompt = "Benchmark: write the file the model asks for."
worker = "builtin"
model = "bench-model"
max_turns = 4

[gates]
commands = []

[stop]
max_iterations = $4
stall_iterations = 1000

[budget]
shift_usd = 1000000
job_usd = 1000

[run]
concurrency = $3
EOF
}

# run_shift DIR TAG [VAR=VALUE...]: `nightshift run` under probe.py (RSS sampling); results in
# $WORK/TAG.json, its report in $WORK/TAG.report.json, its stderr in $WORK/TAG.log
run_shift() {
  local dir=$1 tag=$2; shift 2
  local pidfile="$WORK/$tag.pid" rc=0 t0=$SECONDS
  RUN_PIDFILES+=("$pidfile")
  log "$tag: nightshift run ($(ls "$dir/repos" | wc -l) job(s))"
  # In the background and waited for, so that a signal to this script is handled at once.
  env NO_COLOR=1 "$@" python3 "$PROBE" run --out "$WORK/$tag.json" --stdout "$WORK/$tag.report.json" \
    --stderr "$WORK/$tag.log" --db "$dir/bench.db" --cwd "$dir" --pidfile "$pidfile" \
    --sample-ms "$SAMPLE_MS" --timeout "$RUN_TIMEOUT" -- \
    "$BIN_DIR/nightshift" run shift.toml --config nightshift.toml --json &
  PROBE_PID=$!
  wait "$PROBE_PID" || rc=$?
  PROBE_PID=""
  if ((rc != 0)); then
    log "$tag: nightshift run failed (see $WORK/$tag.log); last lines:"
    grep -v ' iteration [0-9]*/' "$WORK/$tag.log" | tail -n 15 >&2 || true
    return 1
  fi
  log "$tag: done in $((SECONDS - t0)) s"
}

# ---------------------------------------------------------------- part 1: memory per waiting loop

bench_memory() {
  local d1="$WORK/mem-1" dn="$WORK/mem-n" t0
  mkdir -p "$d1" "$dn"
  python3 "$PROBE" script-wait "$WORK/wait-base.toml" "$BASE_DELAY_MS"
  python3 "$PROBE" script-wait "$WORK/wait.toml" "$DELAY_MS"

  # The baseline: the same shift with one job.
  python3 "$PROBE" gen-repos "$d1/repos" 1
  start_provider wait-base "$WORK/wait-base.toml"
  write_config "$d1" "$PROV_ADDR"
  write_spec "$d1" wait-1 1 1
  run_shift "$d1" mem-1 || log "mem-1: the baseline run failed"

  t0=$SECONDS
  python3 "$PROBE" gen-repos "$dn/repos" "$JOBS"
  log "generated $JOBS repositories in $((SECONDS - t0)) s ($(du -sh "$dn/repos" | cut -f1))"
  start_provider wait "$WORK/wait.toml"
  write_config "$dn" "$PROV_ADDR"
  write_spec "$dn" "wait-$JOBS" "$JOBS" 1
  if run_shift "$dn" mem-n; then :; else log "mem-n: the run failed; reporting what was sampled"; fi
  if [[ -f $dn/bench.db ]]; then
    python3 "$PROBE" setup --db "$dn/bench.db" --shift "wait-$JOBS" --out "$WORK/mem-n-setup.json" || true
  fi
  if [[ -f $WORK/mem-n.json ]]; then
    local top
    top=$(python3 "$PROBE" waiting --run "$WORK/mem-n.json" --jobs "$JOBS") || top="?"
    log "mem-n: at most $top of $JOBS loops waited on the model at once"
  fi
}

# ---------------------------------------------------------------- part 2: overhead per iteration

# overhead_run KIND TAG SHIFT [VAR=VALUE...]: one job on the KIND (tiny|big) repository
overhead_run() {
  local kind=$1 tag=$2 shift_name=$3; shift 3
  local dir="$WORK/$tag"
  mkdir -p "$dir/repos"
  cp -a "$WORK/src-$kind" "$dir/repos/$kind"
  start_provider "$tag" "$WORK/iter.toml"
  write_config "$dir" "$PROV_ADDR"
  write_spec "$dir" "$shift_name" 1 "$ITERATIONS"
  run_shift "$dir" "$tag" "$@" || return 1
}

bench_overhead() {
  local t0 kind
  python3 "$PROBE" script-iter "$WORK/iter.toml" "$ITERATIONS" NOTES.md
  python3 "$PROBE" gen-repos "$WORK/src-tiny-parent" 1
  mv "$WORK/src-tiny-parent/"* "$WORK/src-tiny"
  t0=$SECONDS
  python3 "$PROBE" gen-big "$WORK/src-big" "$FILES"
  log "generated the $FILES-file repository in $((SECONDS - t0)) s ($(du -sh "$WORK/src-big" | cut -f1))"

  local r
  for kind in tiny big; do
    for r in $(seq 1 "$REPEAT"); do
      if overhead_run "$kind" "iter-$kind-$r" "iter-$kind-$r"; then
        python3 "$PROBE" iterations --db "$WORK/iter-$kind-$r/bench.db" --shift "iter-$kind-$r" \
          --job "$kind" --out "$WORK/iter-$kind-$r.json" || log "iter-$kind-$r: cannot read its store"
      fi
    done
    if [[ $BREAKDOWN == 1 ]]; then
      if overhead_run "$kind" "debug-$kind" "debug-$kind" \
        NIGHTSHIFT_LOG=warn,nightshift_git::command=debug,nightshift_agent=debug,sqlx::query=debug; then
        python3 "$PROBE" breakdown --log "$WORK/debug-$kind.log" --out "$WORK/breakdown-$kind.json" ||
          log "debug-$kind: cannot read its log"
      fi
    fi
  done
}

# ---------------------------------------------------------------- report

report() {
  local rev dirty=""
  rev=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo "no commit")
  git -C "$REPO" diff --quiet HEAD -- crates 2>/dev/null || dirty=" (crates/ has uncommitted changes)"
  echo "# nightshift factory benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "- machine: $(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r); load average at start $LOAD_START"
  echo "- work folder on $(df -T "$WORK" | awk 'NR == 2 { print $2 }') ($WORK_ROOT); $(git --version); Python $(python3 -c 'import platform; print(platform.python_version())')"
  echo "- repo: $rev$dirty; binaries: $BIN_DIR"
  echo "- every job: the built-in agent, one model call per iteration (scripted: \`write_file\` + \`finish\`), no gate commands, default policy; the in-process gateway meters every call into the SQLite store"
  echo
  python3 "$PROBE" table --work "$WORK" --parts "$PARTS" --jobs "$JOBS" --delay-ms "$DELAY_MS" \
    --files "$FILES" --iterations "$ITERATIONS" --repeat "$REPEAT"
}

main() {
  LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
  install_tools
  build
  mkdir -p "$OUT_DIR"
  log "work folder $WORK; parts: $PARTS; JOBS=$JOBS DELAY_MS=$DELAY_MS FILES=$FILES ITERATIONS=$ITERATIONS REPEAT=$REPEAT"
  local want fds
  want=$((JOBS * 5 + 1024))
  fds=$(ulimit -n)
  if [[ $fds != unlimited ]] && ((fds < want)); then
    ulimit -n "$want" 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    log "open files limit: $fds -> $(ulimit -n) (3 sockets per waiting loop, more while they commit)"
  fi
  has_part memory && bench_memory
  has_part overhead && bench_overhead
  local out
  out="$OUT_DIR/factory-$(date -u +%Y%m%d-%H%M%S).md"
  report | tee "$out"
  log "written to $out"
  FAILED=0
}

main "$@"
