#!/bin/sh
# Run a command inside a private D-Bus session with an unlocked gnome-keyring, so that the
# `keyring` library finds a working SecretService backend (tests, CI, headless machines).
#
#   scripts/keyring-session.sh <command> [args...]
#
# Needs dbus-run-session (package dbus) and gnome-keyring-daemon (package gnome-keyring).
# The keyring lives under $XDG_DATA_HOME/keyrings (default ~/.local/share/keyrings): point
# HOME or XDG_DATA_HOME at a scratch folder to keep it away from a real one. The password is
# $KIWI_KEYRING_PASSWORD (default "kiwi-test"). The daemon exits when the session bus does.
set -eu

if [ -z "${KIWI_IN_KEYRING_SESSION:-}" ]; then
    KIWI_IN_KEYRING_SESSION=1 exec dbus-run-session -- sh "$0" "$@"
fi

# --unlock reads the password on stdin, starts (or joins) the daemon and prints the
# variables that point clients at it.
eval "$(printf '%s' "${KIWI_KEYRING_PASSWORD:-kiwi-test}" \
    | gnome-keyring-daemon --unlock --components=secrets)"
export GNOME_KEYRING_CONTROL
exec "$@"
