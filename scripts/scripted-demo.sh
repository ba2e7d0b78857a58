#!/usr/bin/env bash
# The scripted demo shift (`NIGHTSHIFT_DEMO=scripted scripts/demo.sh` runs it too). The
# built-in agent works on two example repositories (a
# Python package and a Rust crate, each with a failing test) through the metering gateway,
# driven by the scripted provider so it runs offline and the same every time. Gates run
# the repositories' own tests; the first fix of calc-py is wrong and is kept as a defect,
# not landed. Then the shift's report, the ledger per job, and what landed.
# Needs a Rust toolchain, git and python3; installs git and python3 if absent.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/lib.sh
command -v python3 >/dev/null || ns_apt_install python3
ns_build_tools
ns_sandbox_tools
echo "==> building nightshift (first time: several minutes, llama.cpp included)"
ns_build
bin=$(realpath -m "${CARGO_TARGET_DIR:-target}")/debug

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

# The example repositories become real git repositories in a scratch folder.
ns_example_repos "$work"
cp demo/shift.toml "$work/shift.toml"

ns_start_scripted "$bin" demo/agent-script.toml "$work/provider.out"

cat >"$work/nightshift.toml" <<TOML
[store]
url = "sqlite://ledger.db"

[[provider]]
name = "scripted"
kind = "openai-compatible"
base_url = "http://$provider/v1"

# Priced like Claude Sonnet 4.5 so the figures look like a real bill.
[[model]]
name = "demo-sonnet"
provider = "scripted"
input_usd_per_mtok = "3.00"
cached_input_usd_per_mtok = "0.30"
output_usd_per_mtok = "15.00"
TOML

cd "$work"
echo "==> nightshift run shift.toml   (2 jobs, \$1.00 shift budget, \$0.50 per job)"
"$bin/nightshift" run shift.toml --config nightshift.toml
echo
echo "==> nightshift ledger --shift demo --by job"
"$bin/nightshift" ledger --config nightshift.toml --shift demo --by job
echo
echo "==> nightshift diff demo calc-py   (landed on branch nightshift/demo/calc-py of repos/calc-py)"
"$bin/nightshift" diff demo calc-py --config nightshift.toml
echo
echo "==> the rejected first attempt is kept: git show refs/nightshift/demo/calc-py/1"
git -C "$(ls -d .nightshift/mirrors/calc-py-*.git)" show --stat --format='%h %s' refs/nightshift/demo/calc-py/1 | head -4
