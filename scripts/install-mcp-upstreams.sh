#!/usr/bin/env bash
# Install the reference MCP servers that Kiwi's MCP client is tested against (SPEC §14): the
# npm packages `@modelcontextprotocol/server-everything` and `@modelcontextprotocol/server-filesystem`,
# pinned, under .ci/node/upstreams/ with the project's Node 22 (scripts/install-node.sh).
# (`mcp-server-time` comes from PyPI through the `test` extra in pyproject.toml.)
#
# Idempotent: pinned versions already installed are kept. Prints the node bin folder on stdout.
#
#   scripts/install-mcp-upstreams.sh      # tests find the servers in .ci/node/upstreams/
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
everything_version="2026.8.31"
filesystem_version="2026.8.31"
dest="$root/.ci/node/upstreams"

node_bin="$("$root/scripts/install-node.sh")"
export PATH="$node_bin:$PATH"

installed_version() { # <package>: the version installed under $dest, or nothing
    node -p "require('$dest/node_modules/$1/package.json').version" 2>/dev/null || true
}
if [ "$(installed_version @modelcontextprotocol/server-everything)" != "$everything_version" ] ||
    [ "$(installed_version @modelcontextprotocol/server-filesystem)" != "$filesystem_version" ]; then
    mkdir -p "$dest"
    npm install --silent --no-audit --no-fund --prefix "$dest" \
        "@modelcontextprotocol/server-everything@$everything_version" \
        "@modelcontextprotocol/server-filesystem@$filesystem_version" >&2
fi
echo "$node_bin"
