#!/usr/bin/env bash
# Debian packages the test suite needs: a real SecretService keyring (gnome-keyring on a
# private D-Bus session) for the AuthStore tests. Idempotent; installs only what is missing.
set -euo pipefail

# --- MCP upstream servers (issue 18) -------------------------------------------------------
# The pinned reference MCP servers the MCP client's tests run against (npm, under
# .ci/node/upstreams/; see the script). Without npm the tests that need them skip, saying so.
if command -v npm >/dev/null 2>&1; then
  bash "$(dirname "$0")/install-mcp-upstreams.sh" >/dev/null ||
    echo "install-system-deps: the MCP upstream servers did not install (the tests retry and say why)" >&2
else
  echo "install-system-deps: npm not found: the MCP upstream server tests will skip" >&2
fi
# --------------------------------------------------------------------------------------------

need=()
command -v dbus-run-session >/dev/null 2>&1 || need+=(dbus dbus-x11)
command -v gnome-keyring-daemon >/dev/null 2>&1 || need+=(gnome-keyring)
if [ "${#need[@]}" -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi
echo "installing Debian packages: ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
