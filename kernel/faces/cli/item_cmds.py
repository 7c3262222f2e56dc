"""``kiwi init | run | resolve | show | search | sign``."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from kiwi_mcp.kernel.faces.cli.base import EXIT_FAILED, EXIT_OK, CliContext

if TYPE_CHECKING:
    from kiwi_mcp.kernel.exec.kernel import Kernel

__all__ = ["add_parsers", "open_kernel", "parse_params"]


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("init", help="scaffold .ai/ with an example tool; make keys if none")
    p.set_defaults(func=_init)

    p = sub.add_parser("run", help="run a tool")
    p.add_argument("tool_id")
    _param_args(p)
    p.add_argument(
        "--locked", action="store_true", help="refuse a chain that drifted from its lockfile"
    )
    p.add_argument("--dry-run", action="store_true", help="resolve and validate; no effect")
    p.add_argument(
        "--as-operator",
        action="store_true",
        help="run with the operator's rights instead of the agents' policy (the audit "
        "record says so)",
    )
    p.set_defaults(func=_run)

    p = sub.add_parser("resolve", help="show a tool's chain, spaces, shadowed files and config")
    p.add_argument("tool_id")
    _param_args(p)
    p.set_defaults(func=_resolve)

    p = sub.add_parser("show", help="show an item (parsed)")
    p.add_argument("kind", help="tool | directive | knowledge")
    p.add_argument("item_id")
    p.set_defaults(func=_show)

    p = sub.add_parser("search", help="find items by keywords and meaning")
    p.add_argument("query", nargs="+")
    p.add_argument("--kind", choices=("tool", "directive", "knowledge"))
    p.add_argument("--limit", type=int, default=20)
    p.add_argument(
        "--mode",
        choices=("hybrid", "keyword", "semantic"),
        default="hybrid",
        help="BM25 and embeddings fused (default), BM25 only, or embeddings only",
    )
    p.add_argument("--signed", action="store_true", help="only items signed by a trusted key")
    p.set_defaults(func=_search)

    p = sub.add_parser(
        "sign",
        help="sign items (ids or globs), or the agents' policy, with your key",
        description="Sign items with your key (the operator's act: not gated by the policy)."
        " 'kiwi sign policy' signs .ai/config/policy.yaml, which agents are held to.",
        epilog="examples: kiwi sign tool hello | kiwi sign tool '**' | kiwi sign policy",
    )
    p.add_argument("kind", help="tool | directive | knowledge | policy")
    p.add_argument("pattern", metavar="id-or-glob", nargs="?")
    p.set_defaults(func=_sign)


def _param_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-p",
        dest="pairs",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="one param (coerced by the tool's schema; a.b=1 sets a nested key)",
    )
    group = p.add_mutually_exclusive_group()
    group.add_argument("--params", metavar="JSON", help="all params as one JSON object")
    group.add_argument("--params-file", metavar="F", help="read params JSON from a file")


def open_kernel(ctx: CliContext, *, as_operator: bool = False, writes: bool = False) -> Kernel:
    """The project's kernel; by default it holds the agents' policy (SPEC §9.4).

    ``writes``: the command records or writes under the project; when no ``.ai/`` was found
    (the working folder stands in for the project), say where that goes.
    """
    from kiwi_mcp.kernel.exec.kernel import Kernel
    from kiwi_mcp.kernel.store.settings import Settings

    settings = Settings.from_environment(ctx.project)
    if writes and not (settings.project_root / ".ai").is_dir():
        ctx.diag(
            f"kiwi: note: no .ai/ folder found here or above; {settings.project_root} stands"
            f" in for the project, and records go to {settings.project_root / '.ai'}"
            " (run 'kiwi init' to make a project, or pass --project)"
        )
    return Kernel(settings, as_operator=as_operator)


def parse_params(args: argparse.Namespace, kernel: Kernel, tool_id: str) -> dict[str, Any]:
    """Params from --params/--params-file and -p pairs (pairs coerced by the schema).

    Raises:
        UsageError: bad JSON, a pair without '=', or a value that does not fit its type.
    """
    import json

    from kiwi_mcp.kernel.core.items import Tool
    from kiwi_mcp.kernel.errors import UsageError
    from kiwi_mcp.kernel.faces.cli.coerce import coerce_pairs

    params: dict[str, Any] = {}
    text = args.params
    if args.params_file:
        try:
            with open(args.params_file, encoding="utf-8") as handle:
                text = handle.read()
        except OSError as exc:
            raise UsageError(f"cannot read --params-file: {exc.strerror}") from None
    if text:
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(
                f"--params is not valid JSON: {exc}",
                hint='Pass an object, e.g. --params \'{"city": "Oslo"}\'.',
            ) from None
        if not isinstance(value, dict):
            raise UsageError("--params must be a JSON object")
        params.update(value)
    if args.pairs:
        schema: dict[str, Any] = {}
        try:
            item = kernel.store.load("tool", tool_id).item
            if isinstance(item, Tool):
                schema = dict(item.parameters)
        except Exception:
            schema = {}
        coerce_pairs(args.pairs, schema, params)
    return params


def _print_envelope(ctx: CliContext, envelope: dict[str, Any]) -> int:
    import json

    if ctx.json:
        ctx.emit_json(envelope)
        return EXIT_OK if envelope["ok"] else EXIT_FAILED
    for warning in envelope["meta"].get("warnings", []):
        ctx.diag(f"kiwi: warning: {warning}")
    if envelope["ok"]:
        data = envelope["data"]
        if isinstance(data, dict) and set(data) == {"stdout"}:
            ctx.out(str(data["stdout"]).rstrip("\n"))
        elif isinstance(data, str):
            ctx.out(data)
        else:
            ctx.out(json.dumps(data, indent=2, ensure_ascii=False))
        return EXIT_OK
    error = envelope["error"]
    text = f"kiwi: [{error['code']}] {error['message']}"
    if error.get("chain"):
        text += f"\n  chain: {' → '.join(error['chain'])}"
    stderr = (envelope["meta"].get("process") or {}).get("stderr") or (
        (error.get("details") or {}).get("process") or {}
    ).get("stderr")
    if stderr:
        text += "\n  stderr (tail):\n    " + "\n    ".join(stderr.rstrip().splitlines()[-10:])
    text += f"\n  hint: {error['hint']}"
    ctx.diag(text)
    return EXIT_FAILED


def _run(args: argparse.Namespace, ctx: CliContext) -> int:
    import asyncio

    from kiwi_mcp.kernel.faces.cli.live import live_view
    from kiwi_mcp.kernel.ops.execute import execute

    kernel = open_kernel(ctx, as_operator=args.as_operator, writes=True)
    params = parse_params(args, kernel, args.tool_id)
    if args.as_operator:
        ctx.diag("kiwi: running as the operator: the agents' policy does not apply")
    # on a terminal, the tool's streamed lines and a spinner on stderr; piped, nothing extra
    live = None if args.dry_run else live_view(ctx.stderr, label=f"running {args.tool_id}")

    async def go() -> dict[str, Any]:
        spinner = asyncio.create_task(live.spin()) if live is not None else None
        try:
            return await execute(
                kernel,
                "tool",
                args.tool_id,
                params,
                dry_run=args.dry_run,
                locked=args.locked,
                on_event=live.on_event if live is not None else None,
            )
        finally:
            if spinner is not None:
                spinner.cancel()
            await kernel.aclose()

    try:
        envelope = asyncio.run(go())
    except BaseException:  # Ctrl-C included: the terminal is left tidy, the lines kept
        if live is not None:
            live.close(keep_lines=True)
        raise
    if live is not None:  # erased before the result is printed; kept after a failure
        live.close(keep_lines=not envelope["ok"])
    return _print_envelope(ctx, envelope)


def _resolve(args: argparse.Namespace, ctx: CliContext) -> int:
    import asyncio

    from kiwi_mcp.kernel.ops.resolve_report import resolve_report

    kernel = open_kernel(ctx)
    params = parse_params(args, kernel, args.tool_id)
    report = asyncio.run(resolve_report(kernel, args.tool_id, params))
    if ctx.json:
        ctx.emit_json(report)
        return EXIT_OK if report["ok"] else EXIT_FAILED
    from kiwi_mcp.kernel.ops.resolve_report import render_report

    ctx.out(render_report(report))
    return EXIT_OK if report["ok"] else EXIT_FAILED


def _show(args: argparse.Namespace, ctx: CliContext) -> int:
    import json

    from kiwi_mcp.kernel.core.ids import parse_kind
    from kiwi_mcp.kernel.ops.load import read

    kernel = open_kernel(ctx)
    kind = parse_kind(args.kind)
    loaded = read(kernel, kind, args.item_id)
    located = loaded.located
    value = {
        "kind": kind,
        "id": loaded.file.id,
        "space": loaded.file.space,
        "path": str(loaded.file.path),
        "shadowed": [f.to_dict() for f in located.shadowed],
        "item": loaded.item.to_dict(),
    }
    if ctx.json:
        ctx.emit_json(value)
    else:
        ctx.out(f"{kind} {value['id']}  ({value['space']}: {value['path']})")
        for shadow in located.shadowed:
            ctx.out(f"  shadows {shadow.space}: {shadow.path}")
        ctx.out(json.dumps(value["item"], indent=2, ensure_ascii=False))
    return EXIT_OK


def _search(args: argparse.Namespace, ctx: CliContext) -> int:
    from kiwi_mcp.kernel.core.ids import KINDS, parse_kind
    from kiwi_mcp.kernel.ops.search import left_out_count, search, skipped_entries

    kernel = open_kernel(ctx)
    kinds = (parse_kind(args.kind),) if args.kind else KINDS
    query = " ".join(args.query)
    hits = search(kernel, query, kinds=kinds, limit=args.limit, mode=args.mode, signed=args.signed)
    for entry in skipped_entries(kernel, kinds=kinds):
        ctx.diag(f"kiwi: skipped {entry['space']}:{entry['path']}: {entry['reason']}")
    left_out = left_out_count(kernel, kinds=kinds)
    if left_out:
        many = left_out > 1
        ctx.diag(
            f"kiwi: {left_out} {'items are' if many else 'item is'} left out of the results, as"
            f" {'they do' if many else 'it does'} not verify under"
            f" KIWI_VERIFY={kernel.settings.verify} ('kiwi index status' says which and why)"
        )
    if ctx.json:
        ctx.emit_json([hit.to_dict() for hit in hits])
        return EXIT_OK
    if not hits:
        ctx.out("no matches")
    for hit in hits:
        unsigned = "" if hit.signed else " (unsigned)"
        ctx.out(f"{hit.kind:<9} {hit.id:<32} {hit.space:<7} {hit.description}{unsigned}")
        for shadow in hit.shadowed:
            ctx.out(f"{'':<9} shadows {shadow}")
    return EXIT_OK


def _sign(args: argparse.Namespace, ctx: CliContext) -> int:
    from kiwi_mcp.kernel.core.ids import parse_kind
    from kiwi_mcp.kernel.errors import UsageError
    from kiwi_mcp.kernel.ops.sign import sign_items

    if args.kind == "policy":
        return _sign_policy(args, ctx)
    if args.pattern is None:
        raise UsageError(
            f"kiwi sign {args.kind}: which ids? (an id or a glob)",
            hint=f"e.g. 'kiwi sign {args.kind} hello', or a glob: kiwi sign {args.kind} '**'",
        )
    kernel = open_kernel(ctx)
    # the operator signs with their own key: not gated by the agents' policy (SPEC §9.3)
    signed = sign_items(
        kernel.store,
        kernel.settings.user_space,
        parse_kind(args.kind),
        args.pattern,
        caps=None,
    )
    if ctx.json:
        ctx.emit_json([entry.to_dict() for entry in signed])
        return EXIT_OK
    for entry in signed:
        state = "signed" if entry.changed else "unchanged (signature kept)"
        ctx.out(f"{entry.kind} {entry.id}: {state}  {entry.path}")
    return EXIT_OK


def _sign_policy(args: argparse.Namespace, ctx: CliContext) -> int:
    from kiwi_mcp.kernel.errors import UsageError
    from kiwi_mcp.kernel.ops.policy import sign_policy
    from kiwi_mcp.kernel.store.settings import Settings

    if args.pattern is not None:
        raise UsageError(
            "kiwi sign policy takes no id (it signs .ai/config/policy.yaml)",
            hint="Run 'kiwi sign policy'.",
        )
    settings = Settings.from_environment(ctx.project)
    signed = sign_policy(settings.project_root, settings.user_space)
    if ctx.json:
        ctx.emit_json(signed.to_dict())
        return EXIT_OK
    state = "signed" if signed.changed else "unchanged (signature kept)"
    ctx.out(f"policy: {state}  {signed.path}")
    ctx.out(f"  agents may: {', '.join(signed.capabilities) or '(nothing)'}")
    return EXIT_OK


def _init(args: argparse.Namespace, ctx: CliContext) -> int:
    from kiwi_mcp.kernel.ops.scaffold import init_project

    report = init_project(ctx.project)
    if ctx.json:
        ctx.emit_json(report)
    else:
        for line in report["created"]:
            ctx.out(f"created {line}")
        ctx.out(f"signing key: {report['fingerprint']}")
        ctx.out(f"try: kiwi --project {report['project']} run hello -p name=you")
    return EXIT_OK
