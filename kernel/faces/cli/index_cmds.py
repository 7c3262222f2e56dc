"""``kiwi index status | refresh | rebuild`` (SPEC §15)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import TYPE_CHECKING

from kiwi_mcp.kernel.faces.cli.base import EXIT_OK, CliContext

if TYPE_CHECKING:
    from kiwi_mcp.kernel.core.spaces import SpaceName
    from kiwi_mcp.kernel.ops.index import Updated

__all__ = ["add_parsers"]


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    index = sub.add_parser("index", help="the search indexes of the spaces")
    verbs = index.add_subparsers(dest="verb", metavar="<verb>", required=True)
    p = verbs.add_parser(
        "status",
        help="what each index holds, and what it left out and why",
        description="Each space's index: how many items of each kind are searchable under"
        " KIWI_VERIFY, and every file left out (unsigned, tampered, unparsable) with why.",
        epilog="examples: kiwi index status | kiwi --json index status",
    )
    p.set_defaults(func=_status)
    p = verbs.add_parser(
        "refresh",
        help="index only what changed since the last commit",
        description="Index the files that changed since the last commit (folders compared"
        " by mtime, files by stat signature); --full compares every file.",
        epilog="examples: kiwi index refresh | kiwi index refresh --full",
    )
    p.add_argument(
        "--full", action="store_true", help="compare every file, not only changed folders"
    )
    p.set_defaults(func=_refresh)
    p = verbs.add_parser(
        "rebuild",
        help="rebuild the indexes from scratch",
        description="Throw the indexes away and index every file again (verify, embed).",
        epilog="examples: kiwi index rebuild | kiwi index rebuild --space project",
    )
    p.add_argument("--space", choices=("project", "user", "system"), action="append")
    p.set_defaults(func=_rebuild)


def _status(args: argparse.Namespace, ctx: CliContext) -> int:
    from kiwi_mcp.kernel.faces.cli.item_cmds import open_kernel
    from kiwi_mcp.kernel.ops.index import status

    kernel = open_kernel(ctx)
    found = status(kernel)
    if ctx.json:
        ctx.emit_json({"verify": kernel.settings.verify, "spaces": [s.to_dict() for s in found]})
        return EXIT_OK
    ctx.out(f"KIWI_VERIFY={kernel.settings.verify}")
    for entry in found:
        counts = ", ".join(f"{n} {kind}" for kind, n in entry.searchable.items())
        ctx.out(f"{entry.space:<7} {counts}  ({entry.folder})")
        for left in entry.left_out:
            ctx.out(f"  left out {left['path']}: {left['code']} {left['reason']}".rstrip())
        for skipped in entry.skipped:
            ctx.out(f"  skipped {skipped['path']}: {skipped['reason']}")
    return EXIT_OK


def _show_updates(ctx: CliContext, done: Mapping[SpaceName, Updated]) -> None:
    if ctx.json:
        ctx.emit_json(
            {
                space: {"added": u.added, "removed": u.removed, "recovered": u.recovered}
                for space, u in done.items()
            }
        )
        return
    for space, u in done.items():
        extra = f", {u.recovered} recovered after a crash" if u.recovered else ""
        ctx.out(f"{space:<7} {u.added} indexed, {u.removed} removed{extra}")


def _refresh(args: argparse.Namespace, ctx: CliContext) -> int:
    from kiwi_mcp.kernel.faces.cli.item_cmds import open_kernel
    from kiwi_mcp.kernel.ops.index import refresh

    _show_updates(ctx, refresh(open_kernel(ctx), full=args.full))
    return EXIT_OK


def _rebuild(args: argparse.Namespace, ctx: CliContext) -> int:
    from kiwi_mcp.kernel.faces.cli.item_cmds import open_kernel
    from kiwi_mcp.kernel.ops.index import rebuild

    spaces = tuple(args.space) if args.space else ("project", "user", "system")
    _show_updates(ctx, rebuild(open_kernel(ctx), spaces))
    return EXIT_OK
