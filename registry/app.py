"""The registry's HTTP JSON API (SPEC §16): an ASGI app over a PostgreSQL connection pool.

Routes are RPC-shaped (``GET /v1/get?kind=tool&id=a/b``) because ids contain ``/``. Reads
need no login; a bearer token, when sent, lets a publisher see their own private items.
Writes need one. Every answer is JSON: ``{"ok": true, "data": …}`` or ``{"ok": false,
"error": {code, message, hint, details}}`` with the HTTP status the code maps to. An
instance holds nothing the database does not (its keyword index is a cache fed from the
change log), so any number of instances can serve one database.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final

from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from kiwi_mcp.kernel.errors import KiwiError, NotAvailable, UsageError
from kiwi_mcp.registry import accounts, catalog, publishing, ranked
from kiwi_mcp.registry.accounts import Publisher, authenticate

__all__ = ["create_app"]

logger = logging.getLogger("kiwi.registry")

_STATUS: Final = {
    "USAGE_ERROR": 400,
    "PARSE_ERROR": 400,
    "INVALID_ID": 400,
    "AUTH_REQUIRED": 401,
    "PERMISSION_DENIED": 403,
    "ITEM_NOT_FOUND": 404,
    "SIGNATURE_MISSING": 422,
    "SIGNATURE_UNTRUSTED": 422,
    "INTEGRITY_FAILED": 422,
}
_MAX_BODY: Final = 2 * 1024 * 1024
_ANONYMOUS: Final = "Bearer anonymous"

Handler = Callable[[Request, AsyncConnectionPool[Any]], Awaitable[Any]]


def _ok(data: Any) -> JSONResponse:
    return JSONResponse({"ok": True, "data": data})


def _error(err: KiwiError) -> JSONResponse:
    payload: dict[str, Any] = {"code": err.code, "message": err.message, "hint": err.hint}
    if err.details:
        payload["details"] = err.details
    return JSONResponse({"ok": False, "error": payload}, status_code=_STATUS.get(err.code, 500))


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > _MAX_BODY:
        raise UsageError("the request body is over 2 MiB", hint="Publish a smaller item.")
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        raise UsageError("the request body is not JSON", hint="Send a JSON object.") from None
    if not isinstance(body, dict):
        raise UsageError("the request body must be a JSON object", hint="Send a JSON object.")
    return body


def _ref(request: Request) -> tuple[str, str]:
    kind, item_id = request.query_params.get("kind"), request.query_params.get("id")
    if not kind or not item_id:
        raise UsageError(
            "kind and id are required query parameters",
            hint="e.g. /v1/get?kind=tool&id=web/fetch",
            details={"field": "id"},
        )
    return kind, item_id


async def _maybe_publisher(request: Request, pool: AsyncConnectionPool[Any]) -> Publisher | None:
    header = request.headers.get("authorization")
    if not header or header == _ANONYMOUS:
        return None  # no token: the read tools send "Bearer anonymous" then
    async with pool.connection() as conn:
        return await authenticate(conn, header)


async def _publisher(request: Request, pool: AsyncConnectionPool[Any]) -> Publisher:
    async with pool.connection() as conn:
        return await authenticate(conn, request.headers.get("authorization"))


async def _health(request: Request, pool: AsyncConnectionPool[Any]) -> Any:
    async with pool.connection() as conn:
        row = await (await conn.execute("SELECT max(version) FROM schema_version")).fetchone()
    feed: ranked.IndexFeed | None = request.app.state.feed
    index = "off" if feed is None else ("ready" if feed.index.ready else "loading")
    return {"status": "ok", "schema_version": row[0] if row else 0, "keyword_index": index}


async def _challenge(request: Request, pool: AsyncConnectionPool[Any]) -> Any:
    return await accounts.challenge(pool, await _json_body(request))


async def _login(request: Request, pool: AsyncConnectionPool[Any]) -> Any:
    ttl = int(request.app.state.token_ttl_s)
    return await accounts.login(pool, await _json_body(request), token_ttl_s=ttl)


async def _whoami(request: Request, pool: AsyncConnectionPool[Any]) -> Any:
    return (await _publisher(request, pool)).to_dict()


async def _search(request: Request, pool: AsyncConnectionPool[Any]) -> Any:
    return await ranked.search(pool, request.app.state.feed, dict(request.query_params))


async def _list(request: Request, pool: AsyncConnectionPool[Any]) -> Any:
    return await catalog.list_items(
        pool, dict(request.query_params), await _maybe_publisher(request, pool)
    )


async def _get(request: Request, pool: AsyncConnectionPool[Any]) -> Any:
    kind, item_id = _ref(request)
    return await catalog.get_item(pool, kind, item_id, await _maybe_publisher(request, pool))


async def _versions(request: Request, pool: AsyncConnectionPool[Any]) -> Any:
    kind, item_id = _ref(request)
    return await catalog.versions(pool, kind, item_id, await _maybe_publisher(request, pool))


async def _stats(request: Request, pool: AsyncConnectionPool[Any]) -> Any:
    kind, item_id = _ref(request)
    return await catalog.stats(pool, kind, item_id, await _maybe_publisher(request, pool))


async def _download(request: Request, pool: AsyncConnectionPool[Any]) -> Any:
    kind, item_id = _ref(request)
    version = request.query_params.get("version") or None
    who = await _maybe_publisher(request, pool)
    return await catalog.download(pool, kind, item_id, version, who)


def _write(action: Callable[..., Awaitable[Any]]) -> Handler:
    async def handler(request: Request, pool: AsyncConnectionPool[Any]) -> Any:
        who = await _publisher(request, pool)
        done = await action(pool, who, await _json_body(request))
        feed: ranked.IndexFeed | None = request.app.state.feed
        if feed is not None:
            await feed.sync(pool)  # this instance's own writes are searchable at once
        return done

    return handler


def _route(path: str, handler: Handler, method: str) -> Route:
    async def endpoint(request: Request) -> JSONResponse:
        pool: AsyncConnectionPool[Any] = request.app.state.pool
        try:
            return _ok(await handler(request, pool))
        except KiwiError as err:
            return _error(err)
        except Exception as exc:
            logger.exception("registry: %s %s failed", method, path)
            return JSONResponse(
                {
                    "ok": False,
                    "error": {
                        "code": "INTERNAL_ERROR",
                        "message": f"the registry failed ({type(exc).__name__})",
                        "hint": "Retry once; if it repeats, see the server log.",
                    },
                },
                status_code=500,
            )

    return Route(path, endpoint, methods=[method])


def create_app(
    database: str, *, token_ttl_s: int = 3600, pool_size: int = 10, keyword_index: bool = True
) -> Starlette:
    """The ASGI app for ``database`` (a ``postgresql://`` URL); migrates it at start-up.

    ``keyword_index``: rank plain-word searches with this instance's index (``ranked``)
    rather than PostgreSQL's ``ts_rank`` over every match.
    """
    from kiwi_mcp.registry.schema import migrate

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        import psycopg

        with psycopg.connect(database, autocommit=True) as conn:
            migrate(conn)
        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            database,
            min_size=min(4, pool_size),  # the index feed holds one now and then
            max_size=pool_size,
            open=False,
            kwargs={"autocommit": True},
        )
        await pool.open(wait=True)
        app.state.pool = pool
        app.state.token_ttl_s = token_ttl_s
        app.state.feed = ranked.IndexFeed(database) if keyword_index else None
        task = asyncio.create_task(app.state.feed.run(pool)) if app.state.feed else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await pool.close()

    routes = [
        _route("/v1/health", _health, "GET"),
        _route("/v1/login/challenge", _challenge, "POST"),
        _route("/v1/login", _login, "POST"),
        _route("/v1/whoami", _whoami, "GET"),
        _route("/v1/search", _search, "GET"),
        _route("/v1/list", _list, "GET"),
        _route("/v1/get", _get, "GET"),
        _route("/v1/versions", _versions, "GET"),
        _route("/v1/stats", _stats, "GET"),
        _route("/v1/download", _download, "GET"),
        _route("/v1/publish", _write(publishing.publish), "POST"),
        _route("/v1/upload", _write(publishing.upload), "POST"),
        _route("/v1/update", _write(publishing.update), "POST"),
        _route("/v1/visibility", _write(publishing.set_visibility), "POST"),
        _route("/v1/delete", _write(publishing.delete_version), "POST"),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def serve(
    database: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8766,
    token_ttl_s: int = 3600,
    keyword_index: bool = True,
) -> None:
    """Run one instance until interrupted (``kiwi registry serve``).

    Raises NotAvailable when the database cannot be reached or migrated (checked before
    the server starts, so the operator gets one line, not a traceback).
    """
    import psycopg
    import uvicorn

    from kiwi_mcp.registry.schema import migrate

    try:
        with psycopg.connect(database, autocommit=True, connect_timeout=10) as conn:
            migrate(conn)
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise NotAvailable(
            f"the registry database cannot be used: {reason}",
            hint="Check --database (postgresql://user@host:port/dbname) and that PostgreSQL"
            " runs; for a local one: scripts/registry-postgres.sh start <folder>.",
        ) from None

    app = create_app(database, token_ttl_s=token_ttl_s, keyword_index=keyword_index)
    uvicorn.run(app, host=host, port=port, log_level="warning")
