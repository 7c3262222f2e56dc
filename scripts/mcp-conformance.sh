#!/usr/bin/env bash
# Check `kiwi serve` against the official MCP tools, on loopback only:
#
#   1. the MCP Inspector CLI over stdio: tools/list, a tools/call of `execute` that runs a
#      signed tool, and one that fails (an isError result with an error code);
#   2. the MCP conformance suite (server mode, every scenario: `--suite all`) against
#      `kiwi serve --http` on 127.0.0.1, twice: each scenario at its own protocol version
#      (the initialize handshake for 2025-era ones), then every scenario of the 2026-07-28
#      wire at that version (`--spec-version 2026-07-28`, stateless requests), both with
#      scripts/conformance-expected-failures.yaml as the baseline. The suite's test tools
#      that Kiwi can serve honestly are tools of the project, listed with `--expose`.
#
# The suite is pinned to the version the official MCP Python SDK (`mcp` 2.x, which Kiwi is
# built on) pins in its own CI: 0.2.0-alpha.11 (python-sdk PR #3282, "Bump conformance
# harness to 0.2.0-alpha.11"; its SDK 2.0 tier assessment was scored with the same).
#
# The served project is a copy of scripts/conformance-project/ signed with a throw-away key.
# Node 22 and the two npm tools (pinned) are installed under .ci/node/ on first use.
# Exits non-zero on any unexpected failure (or a baseline entry that started passing).
#
#   scripts/mcp-conformance.sh            # KIWI=/path/to/kiwi to test another install
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
conformance_version="0.2.0-alpha.11"
inspector_version="2.12.0"
tools="$root/.ci/node/tools"

kiwi="${KIWI:-}"
if [ -z "$kiwi" ]; then
    if [ -x "$root/.venv/bin/kiwi" ]; then kiwi="$root/.venv/bin/kiwi"; else kiwi="$(command -v kiwi)"; fi
fi
[ -x "$kiwi" ] || { echo "mcp-conformance: no kiwi executable (set KIWI=…)" >&2; exit 2; }

node_bin="$("$root/scripts/install-node.sh")"
export PATH="$node_bin:$PATH"

installed_version() { # <package>: the version installed under $tools, or nothing
    node -p "require('$tools/node_modules/$1/package.json').version" 2>/dev/null || true
}
if [ "$(installed_version @modelcontextprotocol/conformance)" != "$conformance_version" ] ||
    [ "$(installed_version @modelcontextprotocol/inspector)" != "$inspector_version" ]; then
    mkdir -p "$tools"
    npm install --silent --no-audit --no-fund --prefix "$tools" \
        "@modelcontextprotocol/conformance@$conformance_version" \
        "@modelcontextprotocol/inspector@$inspector_version" >&2
fi

work="$(mktemp -d)"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    "$kiwi" warm stop >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

# the commands below run through a warm process of their own (as a user's would), stopped at exit
export KIWI_WARM_DIR="$work/warm"
export KIWI_USER_SPACE="$work/user"
export KIWI_VERIFY=signed
project="$work/project"
cp -R "$root/scripts/conformance-project" "$project"
"$kiwi" keys init >/dev/null
for kind in tool directive knowledge; do "$kiwi" --project "$project" sign "$kind" '**' >/dev/null; done

failures=0
check() { # <label> <file> <pattern>…: every pattern must occur in the file
    local label="$1" file="$2"
    shift 2
    for pattern in "$@"; do
        if ! grep -q -- "$pattern" "$file"; then
            echo "FAIL inspector: $label: expected $pattern in:" >&2
            head -c 2000 "$file" >&2
            failures=$((failures + 1))
            return
        fi
    done
    echo "ok   inspector: $label"
}

inspector=("$tools/node_modules/.bin/mcp-inspector" --cli
    -e "KIWI_USER_SPACE=$KIWI_USER_SPACE" -e "KIWI_VERIFY=$KIWI_VERIFY"
    "$kiwi" --project "$project" serve)
(cd "$work" && timeout 120 "${inspector[@]}" --method tools/list >"$work/list.json" 2>"$work/inspector.log") || true
check "tools/list offers the five tools" "$work/list.json" \
    '"name": "search"' '"name": "load"' '"name": "execute"' '"name": "sign"' '"name": "help"'
(cd "$work" && timeout 120 "${inspector[@]}" --method tools/call --tool-name execute \
    --tool-arg item_type=tool --tool-arg item_id=echo >"$work/call.json" 2>>"$work/inspector.log") || true
check "tools/call execute runs a signed tool" "$work/call.json" '"ok": true' '"echo": "hello from kiwi"'
(cd "$work" && timeout 120 "${inspector[@]}" --method tools/call --tool-name execute \
    --tool-arg item_type=tool --tool-arg item_id=no-such-tool >"$work/fail.json" 2>>"$work/inspector.log") || true
check "tools/call of a missing tool is an error result" "$work/fail.json" \
    '"isError": true' '"code": "ITEM_NOT_FOUND"'

exposed=(--expose test_error_handling --expose test_simple_text --expose test_tool_with_progress
    --expose json_schema_2020_12_tool --expose test_mcp_param_header)
: >"$work/server.log" # exists before the server opens it: the wait loop below reads it at once
"$kiwi" --project "$project" serve --http --host 127.0.0.1 --port 0 "${exposed[@]}" 2>"$work/server.log" &
server_pid=$!
url=""
for _ in $(seq 1 200); do # up to 20 s for the "serving … at URL" line
    url="$(sed -n 's/^kiwi: serving MCP (Streamable HTTP) at \(http:[^ ]*\)$/\1/p' "$work/server.log")"
    [ -n "$url" ] && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$url" ]; then
    echo "FAIL kiwi serve --http did not start:" >&2
    cat "$work/server.log" >&2
    exit 1
fi

legs=("each scenario at its own version|--suite all"
    "the 2026-07-28 wire|--suite all --spec-version 2026-07-28")
for leg in "${legs[@]}"; do
    label="${leg%%|*}"
    read -r -a options <<<"${leg#*|}"
    echo "=== conformance: $label (${options[*]}) ==="
    status=0
    (cd "$work" && "$tools/node_modules/.bin/conformance" server --url "$url" "${options[@]}" \
        --expected-failures "$root/scripts/conformance-expected-failures.yaml") >"$work/conformance.log" 2>&1 || status=$?
    sed -n '/=== SUMMARY ===/,$p' "$work/conformance.log"
    if [ "$status" -ne 0 ]; then
        echo "FAIL conformance suite, $label (exit $status); server log:" >&2
        tail -n 40 "$work/server.log" >&2
        failures=$((failures + 1))
    fi
done

if [ "$failures" -ne 0 ]; then
    echo "mcp-conformance: $failures check(s) failed" >&2
    exit 1
fi
echo "mcp-conformance: all checks passed"
