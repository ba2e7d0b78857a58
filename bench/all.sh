#!/usr/bin/env bash
# Every benchmark, one after the other, each printing its table (and writing it to
# bench/out/): the gateway against nginx and LiteLLM, the factory's overhead per iteration,
# the agent CLIs' workers, the local model, the floor on a big store, the health gate on a 10,000-file repository. Not tests: they fail only when they cannot
# measure. About 20 minutes after the release build; see bench/README.md for each one's knobs.
set -euo pipefail
cd "$(dirname "$0")/.."
for b in gateway factory workers sandbox local floor health; do
    echo "==> bench/$b.sh" >&2
    "./bench/$b.sh"
done
