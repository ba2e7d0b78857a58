#!/usr/bin/env bash
# What entering the sandbox costs per process start (target: <= 50 ms added): `true` run
# N times plainly, under a bare bwrap, and in nightshift's full sandbox. Prints a Markdown
# table and writes it to bench/out/sandbox-YYYYMMDD-HHMMSS.md. Not a test.
#
#   bench/sandbox.sh            # 200 starts each
#   STARTS=1000 bench/sandbox.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ns_build_tools
ns_sandbox_tools
STARTS=${STARTS:-200}
# Only the process crate (its example and the init beside it): no llama.cpp to build.
cargo build -q --release -p nightshift-process --bins --examples >&2
mkdir -p bench/out
out="bench/out/sandbox-$(date -u +%Y%m%d-%H%M%S).md"
{
    echo "bench/sandbox.sh, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD)," \
        "$(nproc) CPUs, $(uname -r), $(bwrap --version)"
    echo
    "${CARGO_TARGET_DIR:-target}/release/examples/sandbox_start" "$STARTS"
} | tee "$out"
