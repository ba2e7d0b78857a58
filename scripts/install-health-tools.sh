#!/usr/bin/env bash
# Install the code-health analysers of `[gates.health]` — lizard (complexity, duplication) and
# ruff (Python lint) — from PyPI into a virtualenv in a cache outside the clone:
#
#   ${NIGHTSHIFT_TOOLS_CACHE:-$HOME/.cache/nightshift}/health/<versions>/bin/{lizard,ruff}
#
# where the factory finds them without any variable (NIGHTSHIFT_LIZARD_BIN and
# NIGHTSHIFT_RUFF_BIN name other binaries; one on PATH is used first). Idempotent: a
# complete install is reused (a stamp file marks it). Prints `NAME=PATH` a line.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

LIZARD_VERSION=${LIZARD_VERSION:-1.24.3}
RUFF_VERSION=${RUFF_VERSION:-0.17.6}
CACHE=${NIGHTSHIFT_TOOLS_CACHE:-$HOME/.cache/nightshift}
DEST="$CACHE/health/lizard-$LIZARD_VERSION.ruff-$RUFF_VERSION"

python3 -c 'import venv, ensurepip' 2>/dev/null || ns_apt_install python3-venv
if [ ! -f "$DEST/.complete" ]; then
    printf '==> installing lizard %s and ruff %s into %s\n' "$LIZARD_VERSION" "$RUFF_VERSION" "$DEST" >&2
    # Made in place (a venv's scripts name their interpreter by path); the stamp comes last.
    rm -rf "$DEST"
    python3 -m venv "$DEST"
    "$DEST/bin/pip" install -q --disable-pip-version-check "lizard==$LIZARD_VERSION" "ruff==$RUFF_VERSION"
    touch "$DEST/.complete"
fi
echo "lizard=$DEST/bin/lizard"
echo "ruff=$DEST/bin/ruff"
