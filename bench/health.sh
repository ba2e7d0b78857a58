#!/usr/bin/env bash
# bench/health.sh — what `[gates.health]` adds to an iteration on a 10,000-file repository.
#
# One job, ITERATIONS iterations of the built-in agent driven by the scripted model (each
# rewrites one module: a real change the policy accepts), no gate commands; run twice on the
# same FILES-file Python repository: without `[gates.health]`, and with it (lizard complexity
# and duplication, ruff, tests counted — on the changed files of the base and the commit).
# The gate time per iteration comes from the factory's own event log (`iteration_gated`'s
# `gate_ms`) and the health gate's own duration from its result. The peer: the same tools
# run the way a whole-tree CI step would, on every file (what running on the changed files
# saves). A benchmark, not a test: it prints a table (and writes it to bench/out/health.md).
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
FILES=${FILES:-10000}
ITERATIONS=${ITERATIONS:-6}
SKIP_BUILD=${SKIP_BUILD:-0}
BIN_DIR=${BIN_DIR:-${CARGO_TARGET_DIR:-$REPO/target}/release}
OUT_DIR=${OUT_DIR:-$BENCH_DIR/out}

if [[ $SKIP_BUILD != 1 ]]; then
  (cd "$REPO" && cargo build --release -q -p nightshift --no-default-features && cargo build --release -q -p nightshift-testkit --bin nightshift-scripted)
fi
tools=$("$REPO/scripts/install-health-tools.sh")
LIZARD=$(sed -n 's/^lizard=//p' <<<"$tools")
RUFF=$(sed -n 's/^ruff=//p' <<<"$tools")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/nightshift-health-bench.XXXXXX")
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

# The repository: FILES modules of two functions each, and one test file.
python3 - "$WORK/repo" "$FILES" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, "pkg", "m%03d" % (i // 100))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "mod_%05d.py" % i), "w") as f:
        f.write("def f%d(x):\n    if x > %d:\n        return x - 1\n    return x + 1\n\n\ndef g%d(items):\n    total = 0\n    for it in items:\n        if it:\n            total += it\n    return total\n" % (i, i, i))
with open(os.path.join(root, "test_pkg.py"), "w") as f:
    f.write("def test_one():\n    assert 1 == 1\n")
PY
git -C "$WORK/repo" init -q -b main && git -C "$WORK/repo" add -A && git -C "$WORK/repo" -c user.name=b -c user.email=b@b commit -q -m repo

# The script: each iteration rewrites one module with one more branch.
python3 - "$WORK/script.toml" "$ITERATIONS" <<'PY'
import json, sys
out = ["cycle = true\n"]
for i in range(1, int(sys.argv[2]) + 1):
    body = "def f0(x):\n" + "".join("    if x == %d:\n        return %d\n" % (k, k) for k in range(i)) + "    return x\n"
    out.append("[[steps]]\nusage = { input_tokens = 1000, output_tokens = 20 }\ntool_calls = [\n"
               "  { name = \"write_file\", arguments = { path = \"pkg/m000/mod_00000.py\", content = %s } },\n"
               "  { name = \"finish\", arguments = { summary = \"step %d\", done = false } },\n]\n" % (json.dumps(body), i))
open(sys.argv[1], "w").write("\n".join(out))
PY

run_shift() {  # run_shift NAME GATES_TOML
  local name=$1 gates=$2 dir="$WORK/$1"
  mkdir -p "$dir"
  "$BIN_DIR/nightshift-scripted" --listen 127.0.0.1:0 --script "$WORK/script.toml" >"$dir/provider.log" 2>&1 &
  PIDS+=($!)
  local addr=""
  for _ in $(seq 1 100); do addr=$(sed -n 's/^listening on //p' "$dir/provider.log"); [[ -n $addr ]] && break; sleep 0.1; done
  printf '[store]\nurl = "sqlite://bench.db"\n\n[[provider]]\nname = "scripted"\nkind = "openai-compatible"\nbase_url = "http://%s/v1"\n\n[[model]]\nname = "m"\nprovider = "scripted"\ninput_usd_per_mtok = "1"\noutput_usd_per_mtok = "1"\n' "$addr" >"$dir/nightshift.toml"
  printf 'name = "%s"\n\n[fleet]\nrepos = ["%s"]\n\n[recipe]\nprompt = "x"\nworker = "builtin"\nmodel = "m"\n\n[gates]\ncommands = []\n%s\n\n[stop]\nmax_iterations = %s\nstall_iterations = 100\n\n[budget]\nshift_usd = 10\njob_usd = 10\n' \
    "$name" "$WORK/repo" "$gates" "$ITERATIONS" >"$dir/shift.toml"
  (cd "$dir" && "$BIN_DIR/nightshift" run shift.toml --config nightshift.toml --json >run.json 2>run.err)
}
run_shift plain ""
run_shift health $'[gates.health]\nlint = ["ruff"]'

stats() {  # stats DB SHIFT: median gate_ms, median health gate ms, iterations
  python3 - "$1" "$2" <<'PY'
import json, sqlite3, statistics, sys
db = sqlite3.connect(sys.argv[1])
gate = [json.loads(d)["gate_ms"] for (d,) in db.execute("SELECT data FROM events WHERE shift = ? AND kind = 'iteration_gated'", (sys.argv[2],))]
health = [ms for (ms,) in db.execute("SELECT duration_ms FROM gate_results WHERE shift = ? AND gate = 'health'", (sys.argv[2],))]
print(len(gate), statistics.median(gate), statistics.median(health) if health else 0)
PY
}
read -r n_plain gate_plain _ < <(stats "$WORK/plain/bench.db" plain)
read -r n_health gate_health health_ms < <(stats "$WORK/health/bench.db" health)

ms() { local s; s=$(date +%s%N); "$@" >/dev/null 2>&1 || true; echo $(( ($(date +%s%N) - s) / 1000000 )); }
changed="$WORK/repo/pkg/m000/mod_00000.py"
liz_one=$(ms "$LIZARD" --csv -Eduplicate "$changed")
liz_all=$(ms "$LIZARD" --csv -Eduplicate "$WORK/repo")
ruff_one=$(ms "$RUFF" check --no-cache --exit-zero "$changed")
ruff_all=$(ms "$RUFF" check --no-cache --exit-zero "$WORK/repo")

mkdir -p "$OUT_DIR"
{
  echo "# health analysers per iteration ($FILES files, $(nproc) cores, $(date -u +%Y-%m-%d))"
  echo
  echo "| what | ms | ratio |"
  echo "|---|---:|---:|"
  echo "| gates per iteration, no [gates.health] (median of $n_plain) | $gate_plain | 1.0 |"
  echo "| gates per iteration, with [gates.health] lint = [\"ruff\"] (median of $n_health) | $gate_health | $(python3 -c "print(round($gate_health / max($gate_plain, 1), 1))") |"
  echo "| the health gate alone (base + commit, sandboxed, median) | $health_ms | |"
  echo "| peer: lizard on the 1 changed file, once | $liz_one | 1.0 |"
  echo "| peer: lizard on the whole tree, once | $liz_all | $(python3 -c "print(round($liz_all / max($liz_one, 1), 1))") |"
  echo "| peer: ruff on the 1 changed file, once | $ruff_one | 1.0 |"
  echo "| peer: ruff on the whole tree, once | $ruff_all | $(python3 -c "print(round($ruff_all / max($ruff_one, 1), 1))") |"
} | tee "$OUT_DIR/health.md"
