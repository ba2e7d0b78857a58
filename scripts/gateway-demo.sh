#!/usr/bin/env bash
# The gateway on its own: the metering gateway in front of the scripted provider, a job
# token under a shift token, calls in all three wire formats until the budget refuses
# one, then the ledger. Installs what it needs (scripts/lib.sh) and curl if absent.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/lib.sh
command -v curl >/dev/null || ns_apt_install curl
ns_build_tools
echo "==> building nightshift (first time: several minutes, llama.cpp included)"
ns_build
bin=$(realpath -m "${CARGO_TARGET_DIR:-target}")/debug

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

ns_start_scripted "$bin" demo/gateway-script.toml "$work/provider.out"

cat >"$work/nightshift.toml" <<TOML
[store]
url = "sqlite://ledger.db"

[[provider]]
name = "scripted"
kind = "scripted"
base_url = "http://$provider/v1"

# Priced like Claude Sonnet 4.5 so the figures look like a real bill.
[[model]]
name = "demo-sonnet"
provider = "scripted"
input_usd_per_mtok = "3.00"
cached_input_usd_per_mtok = "0.30"
cache_write_usd_per_mtok = "3.75"
output_usd_per_mtok = "15.00"
TOML
ns() { "$bin/nightshift" "$@" --config "$work/nightshift.toml"; }

shift_token=$(ns token create --budget-usd 1.00 --label demo-shift --json | sed -n 's/.*"token": "\(nsk_[0-9a-f]*\)".*/\1/p')
job_token=$(ns token create --budget-usd 0.50 --label job-parser --parent "$shift_token" --json | sed -n 's/.*"token": "\(nsk_[0-9a-f]*\)".*/\1/p')
echo "==> minted a shift token (\$1.00) and a job token under it (\$0.50)"

ns gateway --listen 127.0.0.1:0 >"$work/gateway.out" 2>"$work/gateway.err" &
pids+=($!)
until grep -q "listening on" "$work/gateway.out" 2>/dev/null; do sleep 0.05; done
gw=$(sed -n 's/.*listening on //p' "$work/gateway.out" | head -1)
echo "==> gateway on $gw; the job calls until its budget refuses"

call() { # format path body
    curl -s -o "$work/resp" -w '%{http_code}' "$gw$2" -H "Authorization: Bearer $job_token" \
        -H 'content-type: application/json' -d "$3"
}
# A 20 KB prompt, like an agent's context: the gateway reserves its input at one token
# per byte (a true upper bound), so no call can overshoot the budget.
context=$(for i in $(seq 1 330); do printf 'def parse(line):  # row %03d: fields[:-1] drops the last field\\n' "$i"; done)
prompt="Fix the failing parser test.\\n$context"
chat='{"model":"demo-sonnet","max_tokens":2000,"messages":[{"role":"user","content":"'"$prompt"'"}]}'
messages='{"model":"demo-sonnet","max_tokens":2000,"stream":true,"messages":[{"role":"user","content":"'"$prompt"'"}]}'
responses='{"model":"demo-sonnet","max_output_tokens":2000,"input":"'"$prompt"'"}'
for i in $(seq 1 100); do
    case $((i % 3)) in
        1) fmt=chat; status=$(call chat /v1/chat/completions "$chat") ;;
        2) fmt=messages; status=$(call messages /v1/messages "$messages") ;;
        0) fmt=responses; status=$(call responses /v1/responses "$responses") ;;
    esac
    if [ "$status" != 200 ]; then
        echo "    call $i ($fmt): HTTP $status"
        echo "    $(cat "$work/resp")"
        break
    fi
    printf '    call %2d (%s): HTTP 200\n' "$i" "$fmt"
done

echo
echo "==> ledger by label (shift/job), then by outcome"
ns ledger --by label
echo
ns ledger --by outcome
