#!/usr/bin/env bash
# Every test: the Rust workspace (cargo nextest), the official OpenAI and Anthropic Python
# SDKs against the real gateway binary, and the fuzz targets' smoke run. Installs what it
# needs: Debian packages (git, python3, python3-venv), PyPI packages into .venv, cargo-nextest.
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

echo "==> Python SDKs into .venv"
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -r tests/sdk/requirements.txt

echo "==> Rust workspace"
cargo build -p nightshift -p nightshift-testkit
cargo nextest run --workspace --no-fail-fast

echo "==> fuzz targets, smoke run on stable"
(cd fuzz && CARGO_TARGET_DIR="$PWD/../target/fuzz" cargo test -q --tests)

# Last, so the run ends on pytest's own summary line.
echo "==> official SDKs against the gateway"
.venv/bin/python -m pytest -q tests/sdk
