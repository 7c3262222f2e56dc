"""``kiwi registry serve | login | whoami | publish | install | search | get | versions | list |
stats | unlist | private | public | delete | update`` (SPEC §16).

Publishing and installing are the operator's acts (SPEC §9.4): they run on the operator's
kernel, through the registry tools. ``serve`` starts the registry server, a separate
application (``kiwi_mcp.registry``), imported only here and only when asked for.
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any

from kiwi_mcp.kernel.faces.cli.base import EXIT_OK, CliContext

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

    from kiwi_mcp.kernel.exec.kernel import Kernel

__all__ = ["add_parsers"]

_KINDS = ("tool", "directive", "knowledge")

#: verb → (description, examples), as help_texts.TEXTS has them for the other commands
_TEXTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "serve": (
        "Run a registry server (an HTTP JSON API) on PostgreSQL; stateless, so several"
        " instances can serve one database. Migrates the schema at start.",
        ("kiwi registry serve --database postgresql://kiwi@127.0.0.1:5432/kiwi_registry",),
    ),
    "login": (
        "Sign the registry's challenge with your key ('kiwi keys init'); the first login"
        " binds NAME to your key. The token is kept in the AuthStore and expires.",
        ("kiwi registry login http://127.0.0.1:8766 --name alice",),
    ),
    "whoami": (
        "The publisher name and key fingerprint the registry knows you by.",
        ("kiwi registry whoami",),
    ),
    "publish": (
        "Publish a signed project or user item under your name: the registry checks"
        " the signature is yours and the hash; a published version never changes.",
        ("kiwi registry publish tool alice/greet",),
    ),
    "upload": (
        "Upload a signed item as a draft: checked like a publish, seen only by you,"
        " replaceable until 'kiwi registry publish' makes that version public.",
        ("kiwi registry upload tool alice/greet",),
    ),
    "install": (
        "Download an item, check its hash and signature against the publisher's key"
        " and your trust store, write it into the project (or --user) and pin it.",
        ("kiwi registry install tool alice/greet", "kiwi registry install tool a/b@1.0.0"),
    ),
    "search": ("Search the registry's public items, ranked.", ("kiwi registry search weather",)),
    "list": ("List the registry's public items by id.", ("kiwi registry list --kind tool",)),
    "get": ("An item's metadata and latest version.", ("kiwi registry get tool alice/greet",)),
    "versions": ("An item's versions, newest first.", ("kiwi registry versions tool alice/greet",)),
    "stats": ("An item's download counts.", ("kiwi registry stats tool alice/greet",)),
    "unlist": (
        "Hide an item from search and list; it can still be fetched by id.",
        ("kiwi registry unlist tool alice/greet",),
    ),
    "private": ("Make an item visible to you only.", ("kiwi registry private tool alice/greet",)),
    "public": ("Make an item public again.", ("kiwi registry public tool alice/greet",)),
    "delete": (
        "Delete one version; refused while other published items depend on the item.",
        ("kiwi registry delete tool alice/greet@1.0.0",),
    ),
    "update": (
        "Change an item's description or tags (its versions never change).",
        ("kiwi registry update tool alice/greet --description 'Say hello' --tag demo",),
    ),
}


def _verb(verbs: Any, name: str, text: str) -> argparse.ArgumentParser:
    description, examples = _TEXTS[name]
    parser: argparse.ArgumentParser = verbs.add_parser(
        name, help=text, description=description, epilog="examples: " + " | ".join(examples)
    )
    return parser


def _registry_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--registry",
        metavar="URL",
        default=None,
        help="the registry (default: $KIWI_REGISTRY, else http://127.0.0.1:8766)",
    )


def _ref(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", choices=_KINDS)
    parser.add_argument("id")


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    reg = sub.add_parser(
        "registry",
        help="publish, find and install shared items",
        description="Share items through a registry server on PostgreSQL (SPEC 16).",
        epilog="examples: kiwi registry search weather | kiwi registry install tool alice/greet",
    )
    verbs = reg.add_subparsers(dest="verb", metavar="<verb>", required=True)

    p = _verb(verbs, "serve", "run a registry server on PostgreSQL")
    p.add_argument("--database", required=True, metavar="postgresql://…")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8766)
    p.add_argument(
        "--token-ttl", type=int, default=3600, metavar="S", help="seconds a login token lasts"
    )
    p.add_argument(
        "--no-keyword-index",
        action="store_true",
        help="rank every search with PostgreSQL's ts_rank (slower on broad words)",
    )
    p.set_defaults(func=_serve)

    p = _verb(verbs, "login", "prove your key to a registry; first login binds the name")
    p.add_argument("url")
    p.add_argument("--name", required=True)
    p.set_defaults(func=_login)

    p = _verb(verbs, "whoami", "the name and key fingerprint you are logged in as")
    _registry_option(p)
    p.set_defaults(func=_whoami)

    p = _verb(verbs, "publish", "publish a signed local item under your name")
    _ref(p)
    p.add_argument("--visibility", choices=("public", "private", "unlisted"), default="public")
    _registry_option(p)
    p.set_defaults(func=_publish, draft=False)

    p = _verb(verbs, "upload", "upload a signed local item as a draft")
    _ref(p)
    _registry_option(p)
    p.set_defaults(func=_publish, visibility="public", draft=True)

    p = _verb(verbs, "install", "download, verify and pin an item into this project")
    p.add_argument("kind", choices=_KINDS)
    p.add_argument("ref", metavar="id[@version]")
    p.add_argument("--user", action="store_true", help="into the user space instead")
    _registry_option(p)
    p.set_defaults(func=_install)

    p = _verb(verbs, "search", "search the registry")
    p.add_argument("query", nargs="+")
    p.add_argument("--kind", choices=_KINDS, default="")
    p.add_argument("--limit", type=int, default=20)
    _registry_option(p)
    p.set_defaults(func=_search)

    p = _verb(verbs, "list", "list published items")
    p.add_argument("--kind", choices=_KINDS, default="")
    p.add_argument("--publisher", default="")
    p.add_argument("--limit", type=int, default=50)
    _registry_option(p)
    p.set_defaults(func=_list)

    for verb, text in (
        ("get", "show an item's metadata"),
        ("versions", "list its versions"),
        ("stats", "show its download counts"),
    ):
        p = _verb(verbs, verb, text)
        _ref(p)
        _registry_option(p)
        p.set_defaults(func=_read, action=verb)

    for verb, visibility in (("unlist", "unlisted"), ("private", "private"), ("public", "public")):
        p = _verb(verbs, verb, f"make an item {visibility}")
        _ref(p)
        _registry_option(p)
        p.set_defaults(func=_visibility, visibility=visibility)

    p = _verb(verbs, "delete", "delete one version (refused while others depend on it)")
    p.add_argument("kind", choices=_KINDS)
    p.add_argument("ref", metavar="id@version")
    _registry_option(p)
    p.set_defaults(func=_delete)

    p = _verb(verbs, "update", "change an item's description or tags")
    _ref(p)
    p.add_argument("--description")
    p.add_argument("--tag", action="append", dest="tags", metavar="TAG")
    _registry_option(p)
    p.set_defaults(func=_update)


def _url(args: argparse.Namespace) -> str:
    from kiwi_mcp.kernel.ops.registry import DEFAULT_REGISTRY

    return str(args.registry or os.environ.get("KIWI_REGISTRY") or DEFAULT_REGISTRY)


def _go(ctx: CliContext, work: Callable[[Kernel], Coroutine[Any, Any, Any]]) -> Any:
    import asyncio

    from kiwi_mcp.kernel.faces.cli.item_cmds import open_kernel

    kernel = open_kernel(ctx, as_operator=True)
    return asyncio.run(work(kernel))


def _show(ctx: CliContext, data: Any, lines: list[str]) -> int:
    if ctx.json:
        ctx.emit_json({"ok": True, "data": data})
    else:
        for line in lines:
            ctx.out(line)
    return EXIT_OK


def _serve(args: argparse.Namespace, ctx: CliContext) -> int:
    from kiwi_mcp.registry.app import serve

    ctx.diag(f"kiwi registry: serving on http://{args.host}:{args.port}")
    serve(
        args.database,
        host=args.host,
        port=args.port,
        token_ttl_s=args.token_ttl,
        keyword_index=not args.no_keyword_index,
    )
    return EXIT_OK


def _login(args: argparse.Namespace, ctx: CliContext) -> int:
    from kiwi_mcp.kernel.ops.registry import login

    data = _go(ctx, lambda k: login(k, args.url, args.name))
    return _show(
        ctx,
        data,
        [
            f"logged in to {data['registry']} as {data['name']}",
            f"  key {data['fingerprint']}",
            f"  token kept in the AuthStore as {data['service']}, until {data['expires_at']}",
        ],
    )


def _whoami(args: argparse.Namespace, ctx: CliContext) -> int:
    from kiwi_mcp.kernel.ops.registry import whoami

    data = _go(ctx, lambda k: whoami(k, _url(args)))
    return _show(ctx, data, [f"{data['name']} ({data['fingerprint']}) at {data['registry']}"])


def _publish(args: argparse.Namespace, ctx: CliContext) -> int:
    from kiwi_mcp.kernel.ops.registry import publish

    data = _go(
        ctx,
        lambda k: publish(
            k, _url(args), args.kind, args.id, visibility=args.visibility, draft=args.draft
        ),
    )
    return _show(
        ctx,
        data,
        [f"{data['status']}: {data['kind']} {data['id']}@{data['version']} by {data['publisher']}"],
    )


def _install(args: argparse.Namespace, ctx: CliContext) -> int:
    from kiwi_mcp.kernel.ops.registry_install import install

    done = _go(ctx, lambda k: install(k, _url(args), args.kind, args.ref, user=args.user))
    return _show(
        ctx,
        done.to_dict(),
        [
            f"installed {done.kind} {done.id}@{done.version} by {done.publisher}",
            f"  {done.path}",
            *(f"  + {done.path.parent / rel}" for rel in done.files),
            f"  hash {done.content_hash}; pinned to {done.registry}",
        ],
    )


def _search(args: argparse.Namespace, ctx: CliContext) -> int:
    from kiwi_mcp.kernel.ops.registry import call, normalize_url

    params = {
        "registry": normalize_url(_url(args)),
        "q": " ".join(args.query),
        "kind": args.kind,
        "limit": args.limit,
    }
    data = _go(ctx, lambda k: call(k, "search", params))
    return _show(ctx, data, [_row(r) for r in data["results"]] or ["no results"])


def _list(args: argparse.Namespace, ctx: CliContext) -> int:
    from kiwi_mcp.kernel.ops.registry import read

    params = {"kind": args.kind, "publisher": args.publisher, "limit": args.limit, "offset": 0}
    data = _go(ctx, lambda k: read(k, _url(args), "list", params))
    return _show(ctx, data, [_row(r) for r in data["items"]] or ["no items"])


def _row(r: dict[str, Any]) -> str:
    return f"{r['kind']:<9} {r['id']}@{r['latest']}  {r['publisher']}  {r['description']}"


def _read(args: argparse.Namespace, ctx: CliContext) -> int:
    import json

    from kiwi_mcp.kernel.ops.registry import read

    params = {"kind": args.kind, "id": args.id}
    data = _go(ctx, lambda k: read(k, _url(args), args.action, params))
    return _show(ctx, data, [json.dumps(data, indent=2)])


def _visibility(args: argparse.Namespace, ctx: CliContext) -> int:
    from kiwi_mcp.kernel.ops.registry import write

    params = {"kind": args.kind, "id": args.id, "visibility": args.visibility}
    data = _go(ctx, lambda k: write(k, _url(args), "visibility", params))
    return _show(ctx, data, [f"{data['kind']} {data['id']} is now {data['visibility']}"])


def _delete(args: argparse.Namespace, ctx: CliContext) -> int:
    from kiwi_mcp.kernel.errors import UsageError
    from kiwi_mcp.kernel.ops.registry import write
    from kiwi_mcp.kernel.ops.registry_install import split_ref

    item_id, version = split_ref(args.ref)
    if version is None:
        raise UsageError("delete needs the version", hint=f"e.g. {item_id}@1.0.0")
    params = {"kind": args.kind, "id": item_id, "version": version}
    data = _go(ctx, lambda k: write(k, _url(args), "delete", params))
    return _show(ctx, data, [f"deleted {args.kind} {item_id}@{version}"])


def _update(args: argparse.Namespace, ctx: CliContext) -> int:
    from kiwi_mcp.kernel.ops.registry import normalize_url, read, write

    base = normalize_url(_url(args))

    async def work(kernel: Kernel) -> Any:
        current = await read(kernel, base, "get", {"kind": args.kind, "id": args.id})
        params = {
            "kind": args.kind,
            "id": args.id,
            "description": current["description"] if args.description is None else args.description,
            "tags": current["tags"] if args.tags is None else args.tags,
        }
        return await write(kernel, base, "update", params)

    data = _go(ctx, work)
    return _show(ctx, data, [f"updated {data['kind']} {data['id']}"])
