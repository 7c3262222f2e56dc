"""``kiwi lockfile freeze | validate | list | prune | refresh`` (SPEC §8.3)."""

from __future__ import annotations

import argparse
from typing import Any

from kiwi_mcp.kernel.faces.cli.base import EXIT_FAILED, EXIT_OK, CliContext

__all__ = ["add_parsers"]


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    lock = sub.add_parser("lockfile", help="freeze and check chains")
    verbs = lock.add_subparsers(dest="verb", metavar="<verb>", required=True)
    p = verbs.add_parser("freeze", help="write <id>@<version>.lock.json for a tool's chain")
    p.add_argument("tool_id")
    p.set_defaults(func=_freeze)
    p = verbs.add_parser("validate", help="compare a tool's chain with its lockfile")
    p.add_argument("tool_id")
    p.set_defaults(func=_validate)
    p = verbs.add_parser("list", help="list lockfiles (project first, then user)")
    p.set_defaults(func=_list)
    p = verbs.add_parser("prune", help="delete lockfiles frozen long ago")
    p.add_argument("--older-than", type=float, required=True, metavar="DAYS")
    p.set_defaults(func=_prune)
    p = verbs.add_parser("refresh", help="re-freeze every lockfile whose chain contains a tool")
    p.add_argument("tool_id")
    p.set_defaults(func=_refresh)


def _freeze(args: argparse.Namespace, ctx: CliContext) -> int:
    from kiwi_mcp.kernel.faces.cli.item_cmds import open_kernel
    from kiwi_mcp.kernel.services.lockfiles.policy import lockfile_for

    kernel = open_kernel(ctx)
    chain = kernel.resolve(args.tool_id)
    kernel.verify_chain(chain)  # never bless a tampered chain
    path = kernel.lockfiles.freeze(lockfile_for(chain))
    if ctx.json:
        ctx.emit_json({"ok": True, "path": str(path), "chain": list(chain.ids)})
    else:
        ctx.out(f"froze {' → '.join(chain.ids)}\n  {path}")
    return EXIT_OK


def _validate(args: argparse.Namespace, ctx: CliContext) -> int:
    from kiwi_mcp.kernel.faces.cli.item_cmds import open_kernel
    from kiwi_mcp.kernel.services.lockfiles.diff import compare
    from kiwi_mcp.kernel.services.lockfiles.policy import lockfile_for

    kernel = open_kernel(ctx)
    chain = kernel.resolve(args.tool_id)
    asked = chain.asked
    locked = kernel.lockfiles.load(asked.id, asked.version)
    if locked is None:
        message = f"no lockfile for {asked.id}@{asked.version}"
        hint = f"Run 'kiwi lockfile freeze {asked.id}'."
        if ctx.json:
            ctx.emit_json({"ok": False, "status": "absent", "message": message, "hint": hint})
        else:
            ctx.diag(f"kiwi: {message}\n  hint: {hint}")
        return EXIT_FAILED
    drifts = compare(locked, lockfile_for(chain))
    if ctx.json:
        ctx.emit_json(
            {
                "ok": not drifts,
                "status": "drift" if drifts else "ok",
                "drifts": [drift.to_dict() for drift in drifts],
            }
        )
    elif drifts:
        ctx.out(f"{asked.id}@{asked.version}: the chain drifted from its lockfile")
        for drift in drifts:
            ctx.out(f"  {drift}")
        ctx.diag(f"  hint: review, then 'kiwi lockfile freeze {asked.id}' to accept")
    else:
        ctx.out(f"{asked.id}@{asked.version}: matches its lockfile")
    return EXIT_FAILED if drifts else EXIT_OK


def _list(args: argparse.Namespace, ctx: CliContext) -> int:
    from kiwi_mcp.kernel.faces.cli.item_cmds import open_kernel

    entries = open_kernel(ctx).lockfiles.list()
    if ctx.json:
        ctx.emit_json([entry.to_dict() for entry in entries])
        return EXIT_OK
    if not entries:
        ctx.out("no lockfiles")
    for entry in entries:
        shadow = "  (shadowed)" if entry.shadowed else ""
        ctx.out(
            f"{entry.id}@{entry.version}  frozen {entry.frozen_at or '?'}  {entry.path}{shadow}"
        )
    return EXIT_OK


def _prune(args: argparse.Namespace, ctx: CliContext) -> int:
    from kiwi_mcp.kernel.faces.cli.item_cmds import open_kernel

    removed = open_kernel(ctx).lockfiles.prune(args.older_than)
    if ctx.json:
        ctx.emit_json({"removed": [str(path) for path in removed]})
    else:
        for path in removed:
            ctx.out(f"removed {path}")
        ctx.out(f"{len(removed)} lockfile(s) removed")
    return EXIT_OK


def _refresh(args: argparse.Namespace, ctx: CliContext) -> int:
    from kiwi_mcp.kernel.faces.cli.item_cmds import open_kernel
    from kiwi_mcp.kernel.services.lockfiles.policy import lockfile_for

    kernel = open_kernel(ctx)
    store = kernel.lockfiles
    target = kernel.resolve(args.tool_id).asked.id
    done: list[dict[str, Any]] = []
    for locked in store.dependants(target):
        chain = kernel.resolve(locked.id)
        kernel.verify_chain(chain)
        path = store.freeze(lockfile_for(chain))
        done.append({"id": locked.id, "path": str(path), "chain": list(chain.ids)})
    if ctx.json:
        ctx.emit_json({"refreshed": done})
    else:
        for entry in done:
            ctx.out(f"re-froze {entry['id']}  {entry['path']}")
        ctx.out(f"{len(done)} lockfile(s) refreshed")
    return EXIT_OK
