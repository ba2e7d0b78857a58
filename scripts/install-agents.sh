#!/usr/bin/env bash
# Install the agent CLIs the factory can run as workers — Codex, Claude Code and OpenCode —
# from npm into a cache outside the clone, and link it as `.cache/agents` in the clone.
#
#   ${NIGHTSHIFT_TOOLS_CACHE:-$HOME/.cache/nightshift}/agents/<versions>/node_modules/.bin/{codex,claude,opencode}
#   .cache/agents -> that folder (what the tests and `nightshift run` look for)
#
# Idempotent: a complete install is reused at once (a stamp file marks it complete). Also
# installs what OpenCode would npm-install on its first start (`@opencode-ai/plugin` of the
# same version), so that no run downloads anything. Installs node and npm with apt-get when
# they are missing. Prints the binaries' paths, one `NAME=PATH` a line.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

CODEX_VERSION=${CODEX_VERSION:-0.169.0}
CLAUDE_CODE_VERSION=${CLAUDE_CODE_VERSION:-2.1.330}
OPENCODE_VERSION=${OPENCODE_VERSION:-1.18.33}

KEY="codex-$CODEX_VERSION.claude-code-$CLAUDE_CODE_VERSION.opencode-$OPENCODE_VERSION"
CACHE=${NIGHTSHIFT_TOOLS_CACHE:-$HOME/.cache/nightshift}
DEST="$CACHE/agents/$KEY"
LINK=.cache/agents

log() { printf '==> %s\n' "$*" >&2; }

if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
    ns_apt_install nodejs npm
fi
# The CLIs' launchers run on node; they are tested with node 20 (Claude Code's package asks
# for 22 but runs on 20). An older node is named here, so a CLI failing later is explained.
NODE_MAJOR=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$NODE_MAJOR" -lt 20 ]; then
    echo "warning: the agent CLIs are tested with node 20 or newer; this machine has $(node --version 2>/dev/null || echo none)." >&2
    echo "         If a CLI fails to start, install a newer nodejs (e.g. NodeSource's) and run $0 again." >&2
fi

if [ ! -f "$DEST/.complete" ]; then
    log "installing the agent CLIs into $DEST (about 1.1 GB, once)"
    rm -rf "$DEST.partial"
    mkdir -p "$DEST.partial"
    printf '{ "name": "nightshift-agents", "private": true }\n' >"$DEST.partial/package.json"
    npm install --prefix "$DEST.partial" --no-audit --no-fund --loglevel=error \
        "@openai/codex@$CODEX_VERSION" \
        "@anthropic-ai/claude-code@$CLAUDE_CODE_VERSION" \
        "opencode-ai@$OPENCODE_VERSION"
    # What OpenCode installs into its config folder on first start; the worker links it
    # there, so a run never reaches the registry.
    mkdir -p "$DEST.partial/opencode-plugin"
    printf '{ "name": "opencode-config", "private": true }\n' >"$DEST.partial/opencode-plugin/package.json"
    npm install --prefix "$DEST.partial/opencode-plugin" --no-audit --no-fund --loglevel=error --save-exact \
        "@opencode-ai/plugin@$OPENCODE_VERSION"
    for bin in codex claude opencode; do
        [ -x "$DEST.partial/node_modules/.bin/$bin" ] || { echo "npm did not install \`$bin\`" >&2; exit 1; }
    done
    rm -rf "$DEST"
    mv "$DEST.partial" "$DEST"
    touch "$DEST/.complete"
fi

mkdir -p .cache
if [ "$(readlink "$LINK" 2>/dev/null || true)" != "$DEST" ]; then
    rm -rf "$LINK"
    ln -s "$DEST" "$LINK"
fi
echo "NIGHTSHIFT_AGENTS_DIR=$DEST"
for bin in codex claude opencode; do
    echo "$bin=$DEST/node_modules/.bin/$bin"
done
