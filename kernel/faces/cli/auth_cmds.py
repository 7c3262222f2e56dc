"""``kiwi auth signin | logout | status`` (SPEC §8.2, §11).

Tokens are read from stdin only — never from arguments, where they would land in shell
history and ``ps`` output — and no command ever prints one.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from kiwi_mcp.kernel.faces.cli.base import EXIT_OK, CliContext

if TYPE_CHECKING:
    from kiwi_mcp.kernel.services.auth.store import AuthStore

__all__ = ["add_parsers"]


def add_parsers(sub: Any) -> None:
    """Add ``auth`` and its subcommands to the top-level sub-parser set."""
    auth = sub.add_parser("auth", help="sign in to services; tokens are kept in the OS keyring")
    commands = auth.add_subparsers(dest="auth_command", metavar="<auth command>", required=True)

    signin = commands.add_parser(
        "signin",
        help="store a token for a service (read from stdin)",
        description="Store a credential. Tokens are read from stdin, never from arguments: "
        "with both --token-stdin and --refresh-token-stdin the first line is the access "
        "token and the second the refresh token.",
    )
    signin.add_argument("service", help="service name, e.g. anthropic")
    signin.add_argument("--token-stdin", action="store_true", help="read the access token")
    signin.add_argument("--refresh-token-stdin", action="store_true", help="read a refresh token")
    signin.add_argument("--token-url", metavar="URL", help="OAuth2 token endpoint (refresh)")
    signin.add_argument("--client-id", metavar="ID", help="OAuth2 client id (refresh)")
    signin.add_argument(
        "--expires-in", metavar="S", type=float, help="seconds until the access token expires"
    )
    signin.add_argument("--scopes", metavar="a,b", help="comma-separated scopes the token holds")
    signin.set_defaults(func=_signin)

    logout = commands.add_parser("logout", help="forget a service's credential")
    logout.add_argument("service")
    logout.set_defaults(func=_logout)

    status = commands.add_parser("status", help="list stored credentials (never their values)")
    # Its own dest: the global --json is hoisted in front and must not be reset by a default.
    status.add_argument("--json", dest="status_json", action="store_true", help="print JSON")
    status.set_defaults(func=_status)


def _open_store() -> AuthStore:
    import os

    from kiwi_mcp.kernel.services.auth.store import open_auth_store
    from kiwi_mcp.kernel.store.paths import user_space_root

    backend = os.environ.get("KIWI_AUTH_BACKEND", "auto") or "auto"
    return open_auth_store(user_space_root(), backend=backend)


def _signin(args: argparse.Namespace, ctx: CliContext) -> int:
    import time

    from kiwi_mcp.kernel.errors import UsageError
    from kiwi_mcp.kernel.services.auth.store import AuthRecord

    if not args.token_stdin and not args.refresh_token_stdin:
        raise UsageError(
            "no token given",
            hint=f"Pipe the token in: 'kiwi auth signin {args.service} --token-stdin' "
            "(tokens are never taken from arguments).",
        )
    if args.refresh_token_stdin and not args.token_url:
        raise UsageError(
            "a refresh token needs the token endpoint",
            hint="Add --token-url URL (and --client-id ID if the provider wants one).",
        )
    wanted = int(args.token_stdin) + int(args.refresh_token_stdin)
    lines = _read_lines(wanted)
    access = lines[0] if args.token_stdin else ""
    refresh = lines[-1] if args.refresh_token_stdin else None
    if args.expires_in is not None and args.expires_in <= 0:
        raise UsageError("--expires-in must be positive", hint="Give the lifetime in seconds.")
    expires_at = time.time() + args.expires_in if args.expires_in is not None else None
    if not access:
        expires_at = 0.0  # only a refresh token: the first use refreshes
    scopes = tuple(s.strip() for s in (args.scopes or "").split(",") if s.strip())
    record = AuthRecord(
        access_token=access,
        refresh_token=refresh,
        expires_at=expires_at,
        scopes=scopes,
        token_url=args.token_url,
        client_id=args.client_id,
    )
    store = _open_store()
    store.signin(args.service, record)
    where = _backend_label(store)
    ctx.diag(f"Signed in to {args.service}; the credential is stored in {where}.")
    return EXIT_OK


def _logout(args: argparse.Namespace, ctx: CliContext) -> int:
    store = _open_store()
    store.logout(args.service)
    ctx.diag(f"Signed out of {args.service}.")
    return EXIT_OK


def _status(args: argparse.Namespace, ctx: CliContext) -> int:
    store = _open_store()
    statuses = store.status()
    if args.status_json or ctx.json:
        ctx.emit_json(
            {
                "backend": store.backend_name,
                "file_fallback": store.fallback_reason is not None,
                "fallback_reason": store.fallback_reason,
                "path": None if store.backend_path is None else str(store.backend_path),
                "services": [status.to_dict() for status in statuses],
            }
        )
        return EXIT_OK
    ctx.out(f"backend: {_backend_label(store)}")
    if not statuses:
        ctx.out("no stored credentials (sign in with 'kiwi auth signin <service> --token-stdin')")
        return EXIT_OK
    for status in statuses:
        if status.expires_at is None:
            expiry = "does not expire"
        else:
            expiry = ("expired " if status.expired else "expires ") + _utc(status.expires_at)
        refresh = "refreshable" if status.has_refresh else "no refresh token"
        scopes = ",".join(status.scopes) or "-"
        ctx.out(f"  {status.service}: {expiry}; {refresh}; scopes {scopes}")
    return EXIT_OK


def _backend_label(store: AuthStore) -> str:
    if store.fallback_reason is not None:
        return f"the file fallback {store.backend_path} (because {store.fallback_reason})"
    if store.is_file_backend:
        return f"the file store {store.backend_path} (KIWI_AUTH_BACKEND=file)"
    return f"the OS keyring, {store.backend_name}"


def _read_lines(count: int) -> list[str]:
    from kiwi_mcp.kernel.errors import UsageError

    lines: list[str] = []
    for _ in range(count):
        line = sys.stdin.readline()
        value = line.strip()
        if not value:
            raise UsageError(
                f"expected {count} non-empty line(s) on stdin, got {len(lines)}",
                hint="Pipe the token(s) in, one per line: access token first, then refresh.",
            )
        lines.append(value)
    return lines


def _utc(epoch: float) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(epoch, tz=datetime.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
