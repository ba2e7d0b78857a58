#!/usr/bin/env bash
# bench/gateway.sh — latency, throughput and memory of `nightshift gateway` next to its peers.
#
# Targets, all in front of the same stub upstream (the scripted provider, nightshift-scripted):
#   direct      wrk -> stub
#   nightshift  wrk -> nightshift gateway (auth + budgets + ledger) -> stub
#   nginx       wrk -> nginx proxy_pass -> stub        (the floor for a proxy that does nothing)
#   litellm-N   wrk -> LiteLLM proxy, N workers -> stub
#
# Everything listens on 127.0.0.1 only. See bench/README.md for the knobs and the columns.
# This is a benchmark, not a test: it prints numbers, and fails only when it cannot measure.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)

DURATION=${DURATION:-10}                 # seconds per measured cell
WARMUP=${WARMUP:-3}                      # seconds of warm-up per target and mode
CONNS=${CONNS:-"1 8 64"}                 # connection counts, non-streaming
STREAM_CONNS=${STREAM_CONNS-"8"}         # connection counts, streaming ("" to skip)
TARGETS=${TARGETS:-"direct nightshift nginx litellm-1 litellm-2"}
WRK_THREADS=${WRK_THREADS:-2}            # wrk threads (capped at the connection count)
WRK_TIMEOUT=${WRK_TIMEOUT:-30s}          # a response slower than this counts as a timeout error
START_TIMEOUT=${START_TIMEOUT:-180}      # seconds to wait for a server to answer
MAX_TOKENS=${MAX_TOKENS:-16}
SKIP_BUILD=${SKIP_BUILD:-0}              # 1: use the binaries already in BIN_DIR
SKIP_INSTALL=${SKIP_INSTALL:-0}          # 1: do not apt-get / pip install anything
BIN_DIR=${BIN_DIR:-${CARGO_TARGET_DIR:-$REPO/target}/release}
VENV=${VENV:-$BENCH_DIR/.venv}
LITELLM_SPEC=${LITELLM_SPEC:-"litellm[proxy]"}   # e.g. "litellm[proxy]==1.106.2"
OUT_DIR=${OUT_DIR:-$BENCH_DIR/out}
KEEP_WORK=${KEEP_WORK:-0}                # 1: keep the temp dir with configs and logs

log() { printf '[bench %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

has_target() { [[ " $TARGETS " == *" $1 "* ]]; }
has_litellm() { [[ " $TARGETS " == *" litellm-"* ]]; }

# ---------------------------------------------------------------- processes and clean-up

WORK=$(mktemp -d /tmp/nightshift-bench.XXXXXX)
chmod 755 "$WORK"          # nginx workers may run as another user
PGIDS=()
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
  local pg
  for pg in "${PGIDS[@]}"; do stop_group "$pg"; done
  PGIDS=()
  if [[ $FAILED == 1 || $KEEP_WORK == 1 ]]; then
    log "configs and server logs kept in $WORK"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_bg NAME CMD... : start CMD in its own session/process group, log to $WORK/NAME.log.
# Sets BG_PID (which is also the process-group id).
start_bg() {
  local name=$1; shift
  setsid "$@" >"$WORK/$name.log" 2>&1 </dev/null &
  BG_PID=$!
  PGIDS+=("$BG_PID")
}

stop_bg() {      # stop_bg PID: stop one server started by start_bg
  local pg=$1 keep=() p
  stop_group "$pg"
  for p in "${PGIDS[@]}"; do [[ $p == "$pg" ]] || keep+=("$p"); done
  PGIDS=("${keep[@]+"${keep[@]}"}")
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ---------------------------------------------------------------- install and build

install_tools() {
  local apt=() sudo=""
  [[ $(id -u) == 0 ]] || sudo=sudo
  command -v wrk >/dev/null || apt+=(wrk)
  if has_target nginx && ! command -v nginx >/dev/null && [[ ! -x /usr/sbin/nginx ]]; then apt+=(nginx); fi
  command -v curl >/dev/null || apt+=(curl)
  command -v python3 >/dev/null || apt+=(python3)
  if has_litellm && [[ ! -x $VENV/bin/litellm ]] && ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    apt+=(python3-venv)
  fi
  if ((${#apt[@]})); then
    [[ $SKIP_INSTALL == 1 ]] && die "missing tools (${apt[*]}) and SKIP_INSTALL=1"
    log "apt-get install ${apt[*]}"
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${apt[@]}" >&2
  fi
  if has_litellm && [[ ! -x $VENV/bin/litellm ]]; then
    [[ $SKIP_INSTALL == 1 ]] && die "no LiteLLM in $VENV and SKIP_INSTALL=1"
    log "installing $LITELLM_SPEC into $VENV (takes a few minutes the first time)"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip >&2
    "$VENV/bin/pip" install -q "$LITELLM_SPEC" >&2
  fi
}

build() {
  if [[ $SKIP_BUILD == 1 ]]; then
    log "SKIP_BUILD=1: using binaries in $BIN_DIR"
  else
    log "cargo build --release (the workspace's binaries)"
    (cd "$REPO" && . scripts/lib.sh && ns_build_tools && ns_build_release)
  fi
  [[ -x $BIN_DIR/nightshift-scripted ]] || die "no $BIN_DIR/nightshift-scripted"
  if has_target nightshift; then [[ -x $BIN_DIR/nightshift ]] || die "no $BIN_DIR/nightshift"; fi
}

# ---------------------------------------------------------------- requests

body() {   # body MODE
  local extra=""
  [[ $1 == stream ]] && extra=',"stream":true'
  printf '{"model":"bench-model","messages":[{"role":"user","content":"Say hello."}],"max_tokens":%s%s}' \
    "$MAX_TOKENS" "$extra"
}

# wait_ready NAME PID URL TOKEN: poll with a real request until it answers 200 with the stub's text
wait_ready() {
  local name=$1 pid=$2 url=$3 token=$4 t0=$SECONDS code
  local auth=()
  [[ -n $token ]] && auth=(-H "Authorization: Bearer $token")
  while :; do
    kill -0 "$pid" 2>/dev/null || { tail -n 30 "$WORK/$name.log" >&2; die "$name exited during start-up"; }
    code=$(curl -s -o "$WORK/$name.first-response" -w '%{http_code}' --max-time 10 \
      -H 'Content-Type: application/json' "${auth[@]}" --data "$(body json)" "$url" 2>/dev/null) || code=000
    if [[ $code == 200 ]] && grep -q 'hello world' "$WORK/$name.first-response"; then
      log "$name ready after $((SECONDS - t0)) s"
      # one streaming request too, to see that streaming works end to end
      curl -s -N --max-time 10 -H 'Content-Type: application/json' "${auth[@]}" \
        --data "$(body stream)" "$url" >"$WORK/$name.first-stream" 2>/dev/null || true
      return 0
    fi
    if ((SECONDS - t0 > START_TIMEOUT)); then
      log "last answer ($code): $(head -c 400 "$WORK/$name.first-response" 2>/dev/null)"
      tail -n 30 "$WORK/$name.log" >&2
      die "$name did not answer within ${START_TIMEOUT}s"
    fi
    sleep 0.5
  done
}

write_lua() {   # write_lua FILE MODE TOKEN
  local file=$1 mode=$2 token=$3
  {
    echo 'wrk.method = "POST"'
    echo "wrk.body = [[$(body "$mode")]]"
    echo 'wrk.headers["Content-Type"] = "application/json"'
    [[ -n $token ]] && echo "wrk.headers[\"Authorization\"] = \"Bearer $token\""
    cat <<'EOF'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f\n",
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
EOF
  } >"$file"
}

declare -A RPS P50 P99 ERRS SENT
NOTES=()      # extra lines for the report's header
ROWS=()       # "target|mode|conns" in measuring order
MEM_ROWS=()   # markdown rows of the memory table

# run_wrk LUA URL CONNS SECONDS -> prints the RESULT fields
run_wrk() {
  local lua=$1 url=$2 c=$3 secs=$4 t=$WRK_THREADS out
  ((t > c)) && t=$c
  out=$(wrk -t"$t" -c"$c" -d"${secs}s" --timeout "$WRK_TIMEOUT" -s "$lua" "$url" 2>&1) || {
    echo "$out" >&2; die "wrk failed"; }
  echo "$out" | awk '/^RESULT /{ sub(/^RESULT /, ""); print; found=1 } END { exit !found }' || {
    echo "$out" >&2; die "wrk printed no RESULT line"; }
}

# measure TARGET URL TOKEN: warm up and measure every cell for one running target
measure() {
  local target=$1 url=$2 token=$3 mode conns c lua
  local res req dur p50 p99 max ec er ew es et
  for mode in json stream; do
    conns=$CONNS
    [[ $mode == stream ]] && conns=$STREAM_CONNS
    [[ -z $conns ]] && continue
    lua="$WORK/$target-$mode.lua"
    write_lua "$lua" "$mode" "$token"
    log "$target $mode: warm-up ${WARMUP}s"
    res=$(run_wrk "$lua" "$url" 8 "$WARMUP")
    SENT[$target]=$(( ${SENT[$target]:-2} + ${res%% *} ))   # 2: the start-up checks
    for c in $conns; do
      res=$(run_wrk "$lua" "$url" "$c" "$DURATION")
      read -r req dur p50 p99 max ec er ew es et <<<"$res"
      local key="$target|$mode|$c"
      ROWS+=("$key")
      RPS[$key]=$(awk -v r="$req" -v d="$dur" 'BEGIN { printf "%.0f", r / (d / 1e6) }')
      P50[$key]=$p50
      P99[$key]=$p99
      ERRS[$key]=$((ec + er + ew + es + et))
      SENT[$target]=$((SENT[$target] + req))
      log "$target $mode c=$c: ${RPS[$key]} req/s p50 ${p50}us p99 ${p99}us errors ${ERRS[$key]}"
    done
  done
}

# record_mem LABEL PGID: peak RSS (VmHWM) of every process in the group
record_mem() {
  local label=$1 pg=$2 pid kb n=0 sum=0 max=0 detail=""
  for pid in $(pgrep -g "$pg" 2>/dev/null || true); do
    kb=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
    [[ -z $kb ]] && continue
    n=$((n + 1)); sum=$((sum + kb)); ((kb > max)) && max=$kb
    detail+="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-40 | sed 's/ *$//'): $((kb / 1024)) MB; "
  done
  MEM_ROWS+=("| $label | $n | $(awk -v k="$sum" 'BEGIN { printf "%.1f", k / 1024 }') | $(awk -v k="$max" 'BEGIN { printf "%.1f", k / 1024 }') |")
  log "memory $label: $detail"
}

# ---------------------------------------------------------------- targets

STUB_PORT=""
start_stub() {
  STUB_PORT=$(free_port)
  start_bg stub "$BIN_DIR/nightshift-scripted" --listen "127.0.0.1:$STUB_PORT" \
    --fixed-text "hello world" --input-tokens 12 --output-tokens 2
  STUB_PID=$BG_PID
  wait_ready stub "$STUB_PID" "http://127.0.0.1:$STUB_PORT/v1/chat/completions" ""
}

bench_direct() {
  measure direct "http://127.0.0.1:$STUB_PORT/v1/chat/completions" ""
}

bench_nightshift() {
  local port cfg token
  port=$(free_port)
  cfg="$WORK/nightshift.toml"
  mkdir -p "$WORK/nightshift"
  cat >"$cfg" <<EOF
[store]
url = "sqlite://$WORK/nightshift/ledger.db"

[[provider]]
name = "stub"
kind = "openai-compatible"
base_url = "http://127.0.0.1:$STUB_PORT/v1"

[[model]]
name = "bench-model"
provider = "stub"
input_usd_per_mtok = "1.00"
output_usd_per_mtok = "2.00"
EOF
  "$BIN_DIR/nightshift" token create --config "$cfg" --budget-usd 1000000 --label bench --json \
    >"$WORK/nightshift-token.json" 2>"$WORK/nightshift-token.err" ||
    { cat "$WORK/nightshift-token.err" >&2; die "nightshift token create failed"; }
  # the JSON may be pretty-printed or share stdout with other lines
  token=$(python3 -c '
import json, sys
text = sys.stdin.read()
for chunk in [text] + text.splitlines():
    try:
        print(json.loads(chunk)["token"]); break
    except (ValueError, KeyError, TypeError):
        pass
else:
    sys.exit(1)' <"$WORK/nightshift-token.json") ||
    { cat "$WORK/nightshift-token.json" >&2; die "no token in the output of nightshift token create"; }
  start_bg nightshift "$BIN_DIR/nightshift" gateway --config "$cfg" --listen "127.0.0.1:$port"
  local pid=$BG_PID
  wait_ready nightshift "$pid" "http://127.0.0.1:$port/v1/chat/completions" "$token"
  measure nightshift "http://127.0.0.1:$port/v1/chat/completions" "$token"
  record_mem "nightshift gateway" "$pid"
  # Proof that metering was on: one ledger row per call (the schema is the store's; skip quietly
  # if it changed).
  local rows
  rows=$(python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from ledger").fetchone()[0])' \
    "$WORK/nightshift/ledger.db" 2>/dev/null) &&
    NOTES+=("- nightshift ledger: $rows rows after about ${SENT[nightshift]} completed calls (warm-up included)")
  stop_bg "$pid"
}

bench_nginx() {
  local port nginx
  port=$(free_port)
  nginx=$(command -v nginx || echo /usr/sbin/nginx)
  mkdir -p "$WORK/nginx"
  chmod 777 "$WORK/nginx"
  cat >"$WORK/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes auto;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx/body;
  proxy_temp_path $WORK/nginx/proxy;
  fastcgi_temp_path $WORK/nginx/fastcgi;
  uwsgi_temp_path $WORK/nginx/uwsgi;
  scgi_temp_path $WORK/nginx/scgi;
  upstream stub {
    server 127.0.0.1:$STUB_PORT;
    keepalive 256;
  }
  server {
    listen 127.0.0.1:$port;
    keepalive_requests 1000000;
    location / {
      proxy_pass http://stub;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
EOF
  start_bg nginx "$nginx" -c "$WORK/nginx.conf" -p "$WORK/nginx"
  local pid=$BG_PID
  wait_ready nginx "$pid" "http://127.0.0.1:$port/v1/chat/completions" ""
  measure nginx "http://127.0.0.1:$port/v1/chat/completions" ""
  record_mem "nginx (master + $(($(pgrep -g "$pid" | wc -l) - 1)) workers)" "$pid"
  stop_bg "$pid"
}

bench_litellm() {   # bench_litellm WORKERS
  local workers=$1 port key=sk-bench-master
  port=$(free_port)
  cat >"$WORK/litellm-$workers.yaml" <<EOF
model_list:
  - model_name: bench-model
    litellm_params:
      model: openai/bench-model
      api_base: http://127.0.0.1:$STUB_PORT/v1
      api_key: sk-stub
litellm_settings:
  telemetry: false
  set_verbose: false
general_settings:
  master_key: $key
EOF
  # Offline: the bundled model-cost map, no telemetry, quiet logs.
  start_bg "litellm-$workers" env LITELLM_LOCAL_MODEL_COST_MAP=True LITELLM_TELEMETRY=False \
    LITELLM_LOG=ERROR LITELLM_MODE=PRODUCTION NO_DOCS=True DISABLE_SCHEMA_UPDATE=True \
    "$VENV/bin/litellm" --config "$WORK/litellm-$workers.yaml" \
    --host 127.0.0.1 --port "$port" --num_workers "$workers"
  local pid=$BG_PID
  wait_ready "litellm-$workers" "$pid" "http://127.0.0.1:$port/v1/chat/completions" "$key"
  measure "litellm-$workers" "http://127.0.0.1:$port/v1/chat/completions" "$key"
  record_mem "LiteLLM, $workers worker(s) (all processes)" "$pid"
  stop_bg "$pid"
}

# ---------------------------------------------------------------- report

ms() { awk -v u="$1" 'BEGIN { printf "%.2f", u / 1000 }'; }
added() { [[ -n $2 ]] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.2f", (a - b) / 1000 }' || echo "–"; }

target_label() {
  case $1 in
    direct) echo "direct (stub)" ;;
    nightshift) echo "nightshift gateway" ;;
    nginx) echo "nginx proxy_pass" ;;
    litellm-*) echo "LiteLLM, ${1#litellm-} worker(s)" ;;
    *) echo "$1" ;;
  esac
}

report() {
  local key t m c base
  local litellm_v="" nginx_v wrk_v rev
  nginx_v=$( { command -v nginx >/dev/null && nginx -v || /usr/sbin/nginx -v; } 2>&1 | sed 's/^nginx version: //') || nginx_v="?"
  wrk_v=$(wrk -v 2>&1 | head -n 1 | awk '{ print $1, $2 }') || true
  has_litellm && litellm_v=$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("litellm"))' 2>/dev/null || echo "?")
  rev=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo "no commit")
  echo "# nightshift gateway benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "- machine: $(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r); load generator, proxies and stub share these CPUs"
  echo "- repo: $rev; tools: wrk ${wrk_v#wrk }, $nginx_v${litellm_v:+, LiteLLM $litellm_v}"
  echo "- ${DURATION} s per cell after a ${WARMUP} s warm-up; wrk threads ≤ ${WRK_THREADS}; request: POST /v1/chat/completions, $(body json | wc -c) bytes, max_tokens ${MAX_TOKENS}; stub answers \"hello world\" (12 + 2 tokens)"
  echo "- added = through-proxy percentile minus direct percentile at the same connections and mode"
  if ((${#NOTES[@]})); then printf '%s\n' "${NOTES[@]}"; fi
  echo
  echo "| target | mode | conns | req/s | p50 ms | p99 ms | added p50 ms | added p99 ms | errors |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
  for key in "${ROWS[@]}"; do
    IFS='|' read -r t m c <<<"$key"
    base="direct|$m|$c"
    if [[ $t == direct || -z ${P50[$base]+x} ]]; then
      printf '| %s | %s | %s | %s | %s | %s | – | – | %s |\n' "$(target_label "$t")" "$m" "$c" \
        "${RPS[$key]}" "$(ms "${P50[$key]}")" "$(ms "${P99[$key]}")" "${ERRS[$key]}"
    else
      printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$(target_label "$t")" "$m" "$c" \
        "${RPS[$key]}" "$(ms "${P50[$key]}")" "$(ms "${P99[$key]}")" \
        "$(added "${P50[$key]}" "${P50[$base]}")" "$(added "${P99[$key]}" "${P99[$base]}")" "${ERRS[$key]}"
    fi
  done
  echo
  echo "Peak memory (VmHWM from /proc/PID/status, read after the target's last cell):"
  echo
  echo "| process | processes | peak RSS, sum MB | largest process MB |"
  echo "|---|---:|---:|---:|"
  printf '%s\n' "${MEM_ROWS[@]}"
}

# ---------------------------------------------------------------- main

main() {
  install_tools
  build
  mkdir -p "$OUT_DIR"
  log "work dir $WORK; targets: $TARGETS; ${DURATION}s per cell"
  start_stub
  local t
  for t in $TARGETS; do
    case $t in
      direct) bench_direct ;;
      nightshift) bench_nightshift ;;
      nginx) bench_nginx ;;
      litellm-[0-9]*) bench_litellm "${t#litellm-}" ;;
      *) die "unknown target $t" ;;
    esac
  done
  record_mem "stub upstream (nightshift-scripted)" "$STUB_PID"
  local out
  out="$OUT_DIR/gateway-$(date -u +%Y%m%d-%H%M%S).md"
  report | tee "$out"
  log "written to $out"
  FAILED=0
}

main "$@"
