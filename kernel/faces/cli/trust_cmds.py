"""``kiwi keys``, ``kiwi trust`` and ``kiwi audit`` (SPEC §11).

``kiwi sign`` lives with item resolution, not here.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from kiwi_mcp.kernel.faces.cli.base import EXIT_FAILED, EXIT_OK, CliContext

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["add_parsers"]


def add_parsers(sub: Any) -> None:
    """Add ``keys``, ``trust`` and ``audit`` to the top-level sub-parser set ``sub``."""
    keys = sub.add_parser("keys", help="your signing key")
    keys_sub = keys.add_subparsers(dest="keys_command", metavar="{init,show}", required=True)
    keys_sub.add_parser("init", help="make your signing key (if none) and trust it").set_defaults(
        func=_keys_init
    )
    keys_sub.add_parser("show", help="show your public key and fingerprint").set_defaults(
        func=_keys_show
    )

    trust = sub.add_parser("trust", help="the signers you trust")
    trust_sub = trust.add_subparsers(
        dest="trust_command", metavar="{add,list,remove}", required=True
    )
    add = trust_sub.add_parser("add", help="trust a signer's public key (PEM file)")
    add.add_argument("public_key_file", help="e.g. another user's keys/signing_key.pub")
    add.set_defaults(func=_trust_add)
    trust_sub.add_parser("list", help="list trusted signers").set_defaults(func=_trust_list)
    remove = trust_sub.add_parser("remove", help="stop trusting a signer")
    remove.add_argument("fingerprint", help="64 hex characters, from 'kiwi trust list'")
    remove.set_defaults(func=_trust_remove)

    audit = sub.add_parser("audit", help="the project's audit log")
    audit_sub = audit.add_subparsers(dest="audit_command", metavar="{verify,tail}", required=True)
    audit_sub.add_parser("verify", help="check the hash chain").set_defaults(func=_audit_verify)
    tail = audit_sub.add_parser("tail", help="show the last records")
    tail.add_argument("-n", type=_positive_int, default=10, help="how many (default 10)")
    tail.add_argument(
        "-f", dest="follow", action="store_true", help="keep printing new records (Ctrl-C stops)"
    )
    tail.set_defaults(func=_audit_tail)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError("expected a number of at least 1")
    return value


def _user_root() -> Path:
    from kiwi_mcp.kernel.store.paths import user_space_root

    return user_space_root()


def _fail(ctx: CliContext, err: Exception) -> int:
    ctx.diag(str(err))
    return EXIT_FAILED


def _keys_init(args: argparse.Namespace, ctx: CliContext) -> int:
    from kiwi_mcp.kernel.errors import KiwiError
    from kiwi_mcp.kernel.ops.admin import keys_init

    try:
        key = keys_init(_user_root())
    except KiwiError as err:
        return _fail(ctx, err)
    if ctx.json:
        ctx.emit_json(
            {
                "fingerprint": key.fingerprint,
                "created": key.created,
                "public_key_path": str(key.public_key_path),
            }
        )
    else:
        verb = "Made" if key.created else "Kept existing"
        ctx.out(f"{verb} signing key {key.fingerprint} (trusted).")
        ctx.out(f"Public key: {key.public_key_path} — share it with 'kiwi trust add <file>'.")
    return EXIT_OK


def _keys_show(args: argparse.Namespace, ctx: CliContext) -> int:
    from kiwi_mcp.kernel.errors import KiwiError
    from kiwi_mcp.kernel.ops.admin import keys_show

    try:
        key = keys_show(_user_root())
    except KiwiError as err:
        return _fail(ctx, err)
    if ctx.json:
        ctx.emit_json(
            {
                "fingerprint": key.fingerprint,
                "public_key": key.public_pem,
                "public_key_path": str(key.public_key_path),
            }
        )
    else:
        ctx.out(f"Fingerprint: {key.fingerprint}")
        ctx.out(f"Public key ({key.public_key_path}):")
        ctx.out(key.public_pem.rstrip("\n"))
    return EXIT_OK


def _trust_add(args: argparse.Namespace, ctx: CliContext) -> int:
    from pathlib import Path

    from kiwi_mcp.kernel.errors import KiwiError
    from kiwi_mcp.kernel.ops.admin import trust_add

    try:
        fp = trust_add(_user_root(), Path(args.public_key_file))
    except KiwiError as err:
        return _fail(ctx, err)
    if ctx.json:
        ctx.emit_json({"fingerprint": fp, "trusted": True})
    else:
        ctx.out(f"Trusted signer {fp}.")
    return EXIT_OK


def _trust_list(args: argparse.Namespace, ctx: CliContext) -> int:
    from kiwi_mcp.kernel.errors import KiwiError
    from kiwi_mcp.kernel.ops.admin import trust_list

    try:
        trusted = trust_list(_user_root())
    except KiwiError as err:
        return _fail(ctx, err)
    if ctx.json:
        ctx.emit_json({"trusted": [key.to_dict() for key in trusted]})
        return EXIT_OK
    if not trusted:
        ctx.out("No trusted signers. Run 'kiwi keys init' or 'kiwi trust add <public-key-file>'.")
    for key in trusted:
        ctx.out(key.fingerprint + ("  (your key)" if key.own else ""))
    return EXIT_OK


def _trust_remove(args: argparse.Namespace, ctx: CliContext) -> int:
    from kiwi_mcp.kernel.errors import KiwiError
    from kiwi_mcp.kernel.ops.admin import trust_remove

    try:
        trust_remove(_user_root(), args.fingerprint)
    except KiwiError as err:
        return _fail(ctx, err)
    if ctx.json:
        ctx.emit_json({"fingerprint": args.fingerprint, "trusted": False})
    else:
        ctx.out(f"No longer trusting {args.fingerprint}.")
    return EXIT_OK


def _audit_verify(args: argparse.Namespace, ctx: CliContext) -> int:
    from kiwi_mcp.kernel.ops.admin import audit_folder, audit_verify

    folder = audit_folder(ctx.project)
    report = audit_verify(folder)
    if ctx.json:
        ctx.emit_json(report.to_dict())
    elif report.first_bad is None:
        ctx.out(f"Audit chain intact: {report.lines} line(s) in {folder}.")
    else:
        bad = report.first_bad
        ctx.diag(
            f"[AUDIT_BROKEN] {folder / bad.file}, line {bad.line}: {bad.reason}\n"
            "  hint: the log was changed after it was written; keep a copy and investigate."
        )
    return EXIT_OK if report.ok else EXIT_FAILED


def _audit_tail(args: argparse.Namespace, ctx: CliContext) -> int:
    import json

    from kiwi_mcp.kernel.ops.admin import audit_folder, audit_line, audit_tail

    folder = audit_folder(ctx.project)
    records = audit_tail(folder, args.n)
    if ctx.json and not args.follow:
        ctx.emit_json({"records": records})
        return EXIT_OK
    if not records and not args.follow:
        ctx.out("The audit log is empty.")
    for record in records:
        ctx.out(json.dumps(record, ensure_ascii=False) if ctx.json else audit_line(record))
    if args.follow:
        _follow(ctx, folder, max((r.get("seq", 0) for r in records), default=0))
    return EXIT_OK


def _follow(ctx: CliContext, folder: Path, seq: int) -> None:
    """Print each new record as it lands (JSON Lines under --json) until interrupted."""
    import json
    import time

    from kiwi_mcp.kernel.ops.admin import audit_follow, audit_line

    while True:
        for record in audit_follow(folder, seq):
            ctx.out(json.dumps(record, ensure_ascii=False) if ctx.json else audit_line(record))
            seq = max(seq, int(record["seq"]))
        ctx.stdout.flush()
        time.sleep(0.25)
