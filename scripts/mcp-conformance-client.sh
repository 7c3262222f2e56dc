#!/usr/bin/env bash
# Check Kiwi as an MCP *client* (SPEC §14) against the official MCP conformance suite's client
# scenarios, on loopback only: for each scenario the suite starts its test server and runs
# scripts/conformance-client.py <server-url>, which does what an operator does — `kiwi mcp add
# conf --url <url>` (initialize, tools/list, pins), then `kiwi run mcp/conf/<tool>` per tool.
# The baseline of scenarios Kiwi does not pass, each with its reason, is
# scripts/conformance-client-expected-failures.yaml.
#
# The suite is pinned as in scripts/mcp-conformance.sh (0.2.0-alpha.11), under .ci/node/tools/.
# Exits non-zero on any unexpected failure (or a baseline entry that started passing).
#
#   scripts/mcp-conformance-client.sh [--scenario NAME]     # KIWI=/path/to/kiwi for another install
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
conformance_version="0.2.0-alpha.11"
tools="$root/.ci/node/tools"

kiwi="${KIWI:-}"
if [ -z "$kiwi" ]; then
    if [ -x "$root/.venv/bin/kiwi" ]; then kiwi="$root/.venv/bin/kiwi"; else kiwi="$(command -v kiwi)"; fi
fi
[ -x "$kiwi" ] || { echo "mcp-conformance-client: no kiwi executable (set KIWI=…)" >&2; exit 2; }
python="$(dirname "$kiwi")/python"
[ -x "$python" ] || python="$(command -v python3)"

node_bin="$("$root/scripts/install-node.sh")"
export PATH="$node_bin:$PATH"
if [ "$(node -p "require('$tools/node_modules/@modelcontextprotocol/conformance/package.json').version" 2>/dev/null || true)" != "$conformance_version" ]; then
    mkdir -p "$tools"
    npm install --silent --no-audit --no-fund --prefix "$tools" \
        "@modelcontextprotocol/conformance@$conformance_version" >&2
fi

work="$(mktemp -d)"
trap '"$kiwi" warm stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
# the commands below run through a warm process of their own (as a user's would), stopped at exit
export KIWI_WARM_DIR="$work/warm"
export KIWI="$kiwi" KIWI_USER_SPACE="$work/user" KIWI_AUTH_BACKEND=file
export KIWI_CONFORMANCE_PROJECT="$work/project"
"$kiwi" keys init >/dev/null

selection=(--suite all)
if [ "${1:-}" = "--scenario" ] && [ -n "${2:-}" ]; then selection=(--scenario "$2"); fi
cd "$work"
"$tools/node_modules/.bin/conformance" client \
    --command "$python $root/scripts/conformance-client.py" \
    "${selection[@]}" \
    --expected-failures "$root/scripts/conformance-client-expected-failures.yaml"
