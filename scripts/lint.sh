#!/usr/bin/env bash
# What AGENTS.md promises of every change, checked: formatting, clippy with warnings as
# errors, and no unused dependency (cargo-machete, installed from crates.io when missing).
# .ci/run runs this before the test command.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

. scripts/lib.sh
ns_build_tools
command -v python3 >/dev/null || ns_apt_install python3

echo "==> cargo fmt --check"
cargo fmt --all -- --check

echo "==> cargo clippy --workspace --all-targets -D warnings"
cargo clippy -q --workspace --all-targets -- -D warnings

echo "==> unused dependencies (cargo-machete)"
command -v cargo-machete >/dev/null || cargo install -q cargo-machete --locked --version 0.9.2
cargo machete

echo "==> crates/README.md against cargo metadata"
python3 scripts/check-crates-readme.py
