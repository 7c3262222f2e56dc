"""``kiwi auth signin | logout | status`` (SPEC §8.2, §11).

Tokens are read from stdin, or on a terminal typed at a prompt that does not echo them —
never from arguments, where they would land in shell history and ``ps`` output — and no
command ever prints one.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from kiwi_mcp.kernel.faces.cli.base import EXIT_OK, CliContext

if TYPE_CHECKING:
    from pathlib import Path

    from kiwi_mcp.kernel.ops.admin import AuthBackendInfo

__all__ = ["add_parsers"]


def add_parsers(sub: Any) -> None:
    """Add ``auth`` and its subcommands to the top-level sub-parser set."""
    auth = sub.add_parser("auth", help="sign in to services; tokens are kept in the OS keyring")
    commands = auth.add_subparsers(dest="auth_command", metavar="<auth command>", required=True)

    signin = commands.add_parser(
        "signin",
        help="store a token for a service (typed at a hidden prompt, or read from stdin)",
        description="Store a credential. Tokens are never taken from arguments: on a terminal "
        "without --token-stdin, kiwi asks for the token and does not echo it; otherwise they "
        "are read from stdin, and with both --token-stdin and --refresh-token-stdin the first "
        "line is the access token and the second the refresh token.",
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


def _where() -> tuple[Path, str]:
    """The user space and the ``KIWI_AUTH_BACKEND`` choice, from the environment."""
    import os

    from kiwi_mcp.kernel.store.paths import user_space_root

    return user_space_root(), os.environ.get("KIWI_AUTH_BACKEND", "auto") or "auto"


def _signin(args: argparse.Namespace, ctx: CliContext) -> int:
    from kiwi_mcp.kernel.errors import UsageError
    from kiwi_mcp.kernel.ops.admin import auth_signin

    prompted = not args.token_stdin and not args.refresh_token_stdin
    if prompted and not _stdin_is_terminal():
        raise UsageError(
            "no token given",
            hint=f"Pipe the token in: 'kiwi auth signin {args.service} --token-stdin', or run "
            "it in a terminal to type it (tokens are never taken from arguments).",
        )
    if args.refresh_token_stdin and not args.token_url:
        raise UsageError(
            "a refresh token needs the token endpoint",
            hint="Add --token-url URL (and --client-id ID if the provider wants one).",
        )
    if args.expires_in is not None and args.expires_in <= 0:
        raise UsageError("--expires-in must be positive", hint="Give the lifetime in seconds.")
    refresh: str | None = None
    if prompted:
        access = _prompt_token(args.service)
    else:
        lines = _read_lines(int(args.token_stdin) + int(args.refresh_token_stdin))
        access = lines[0] if args.token_stdin else ""
        refresh = lines[-1] if args.refresh_token_stdin else None
    scopes = tuple(s.strip() for s in (args.scopes or "").split(",") if s.strip())
    user_space, backend = _where()
    stored = auth_signin(
        user_space,
        backend,
        args.service,
        access_token=access,
        refresh_token=refresh,
        expires_in=args.expires_in,
        scopes=scopes,
        token_url=args.token_url,
        client_id=args.client_id,
    )
    ctx.diag(f"Signed in to {args.service}; the credential is stored in {_label(stored)}.")
    return EXIT_OK


def _logout(args: argparse.Namespace, ctx: CliContext) -> int:
    from kiwi_mcp.kernel.ops.admin import auth_logout

    auth_logout(*_where(), args.service)
    ctx.diag(f"Signed out of {args.service}.")
    return EXIT_OK


def _status(args: argparse.Namespace, ctx: CliContext) -> int:
    from kiwi_mcp.kernel.ops.admin import auth_status

    report = auth_status(*_where())
    if args.status_json or ctx.json:
        ctx.emit_json(report.to_dict())
        return EXIT_OK
    ctx.out(f"backend: {_label(report.backend)}")
    if not report.services:
        ctx.out("no stored credentials (sign in with 'kiwi auth signin <service> --token-stdin')")
        return EXIT_OK
    for status in report.services:
        if status.expires_at is None:
            expiry = "does not expire"
        else:
            expiry = ("expired " if status.expired else "expires ") + _utc(status.expires_at)
        refresh = "refreshable" if status.has_refresh else "no refresh token"
        scopes = ",".join(status.scopes) or "-"
        ctx.out(f"  {status.service}: {expiry}; {refresh}; scopes {scopes}")
    return EXIT_OK


def _label(backend: AuthBackendInfo) -> str:
    if backend.fallback_reason is not None:
        return f"the file fallback {backend.path} (because {backend.fallback_reason})"
    if backend.is_file:
        return f"the file store {backend.path} (KIWI_AUTH_BACKEND=file)"
    return f"the OS keyring, {backend.name}"


def _stdin_is_terminal() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def _prompt_token(service: str) -> str:
    """The token typed at the terminal, not echoed (``getpass``: the controlling terminal,
    else stdin, with echo turned off either way).

    Raises:
        UsageError: nothing was typed, or the terminal cannot stop echoing.
    """
    import getpass
    import warnings

    from kiwi_mcp.kernel.errors import UsageError

    with warnings.catch_warnings():
        # getpass falls back to an echoing read with only a warning; a token must not show
        warnings.simplefilter("error", getpass.GetPassWarning)
        try:
            value = getpass.getpass(f"Token for {service} (typing is hidden): ").strip()
        except EOFError:
            value = ""
        except getpass.GetPassWarning:
            raise UsageError(
                "this terminal cannot hide what is typed",
                hint=f"Pipe the token in: 'kiwi auth signin {service} --token-stdin'.",
            ) from None
    if not value:
        raise UsageError(
            "no token entered",
            hint="Paste the token at the prompt and press Enter, or pipe it in: "
            f"'kiwi auth signin {service} --token-stdin'.",
        )
    return value


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
