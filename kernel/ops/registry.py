"""The registry verbs (``kiwi registry …``; SPEC §16), once for every face.

Kiwi reaches a registry only through its tools (``registry/*`` → ``http_client``): each verb
here executes one of them on the operator's kernel and turns the registry's answer, or its
refusal, back into data or a ``KiwiError`` with the registry's own code and hint. The bearer
token is the AuthStore record of service ``registry:<host>:<port>``: the write tools name it
with ``auth: {service: registry, per_origin: true}``, so the kernel injects it into requests
to that host only — for the CLI and for an agent holding ``registry.write`` alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from kiwi_mcp.kernel.errors import AuthRequired, KiwiError, UsageError, error_for_code

if TYPE_CHECKING:
    from kiwi_mcp.kernel.exec.kernel import Kernel

__all__ = [
    "DEFAULT_REGISTRY",
    "call",
    "login",
    "normalize_url",
    "publish",
    "read",
    "service_for",
    "token_for",
    "whoami",
    "write",
]

DEFAULT_REGISTRY: Final = "http://127.0.0.1:8766"
WRITE_SCOPE: Final = "registry.write"


def normalize_url(url: str) -> str:
    """``scheme://host:port`` of a registry URL (no path, no trailing slash).

    Raises UsageError for anything but an http(s) URL with a host.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"'{url}' is not a registry URL",
            hint=f"Give it as http(s)://host[:port], e.g. {DEFAULT_REGISTRY}.",
        )
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{parts.hostname}:{port}"


def service_for(url: str) -> str:
    """The AuthStore service holding the token for ``url``: ``registry:<host>:<port>``."""
    parts = urlsplit(normalize_url(url))
    return f"registry:{parts.hostname}:{parts.port}"


def _login_hint(url: str) -> str:
    return f"Run 'kiwi registry login {url} --name <your-name>'."


async def call(kernel: Kernel, action: str, params: Mapping[str, Any]) -> Any:
    """Execute ``registry/<action>`` and return the registry's ``data``.

    Raises the registry's refusal as the ``KiwiError`` of its code (``details.registry``
    names the URL), or the kernel's own error (``HTTP_ERROR`` for an unreachable host…).
    """
    envelope = await kernel.execute(f"registry/{action}", dict(params))
    if envelope.get("ok"):
        data = envelope.get("data")
        if isinstance(data, Mapping) and data.get("ok") is True:
            return data.get("data")
        raise KiwiError(
            f"registry/{action}: the registry's answer is not a Kiwi registry's",
            hint="Check the registry URL.",
        )
    error = envelope.get("error") or {}
    body = (error.get("details") or {}).get("body")
    refusal = body.get("error") if isinstance(body, Mapping) else None
    if isinstance(refusal, Mapping) and isinstance(refusal.get("code"), str):
        cls = error_for_code(refusal["code"])
        raise cls(
            str(refusal.get("message", "")),
            hint=refusal.get("hint"),
            details={**(refusal.get("details") or {}), "registry": params.get("registry")},
        )
    raise error_for_code(str(error.get("code", "KIWI_ERROR")))(
        str(error.get("message", f"registry/{action} failed")),
        hint=error.get("hint"),
        details={"registry": params.get("registry")},
    )


def token_for(kernel: Kernel, url: str) -> str:
    """The stored, unexpired bearer token for ``url``.

    Raises AuthRequired (with the login command) when none is stored or it expired.
    """
    base = normalize_url(url)
    record = kernel.auth.record(service_for(base))
    if record is None:
        raise AuthRequired(f"not logged in to the registry {base}", hint=_login_hint(base))
    from kiwi_mcp.kernel.services.auth.store import EXPIRY_SKEW_S

    # the AuthStore's own margin: a token it would refuse to inject is expired here too
    if record.is_expired(kernel.clock(), skew=EXPIRY_SKEW_S):
        raise AuthRequired(
            f"the login to the registry {base} has expired",
            hint=_login_hint(base),
            details={"reason": "token_expired"},
        )
    return record.access_token


async def read(kernel: Kernel, url: str, action: str, params: Mapping[str, Any]) -> Any:
    """A read action, as the logged-in publisher when a valid token for ``url`` is stored
    (so one's own private items and drafts are seen), else anonymously."""
    base = normalize_url(url)
    try:
        token = token_for(kernel, base)
    except AuthRequired:
        token = "anonymous"  # the read tools' default: the registry reads it as no token
    return await call(kernel, action, {**params, "registry": base, "token": token})


async def write(kernel: Kernel, url: str, action: str, params: Mapping[str, Any]) -> Any:
    """A write action. The tool's ``auth: {per_origin: true}`` makes the kernel inject this
    registry's own token (never another's); it is checked here first only so that a missing
    or expired login is refused with the login command, before anything is sent."""
    base = normalize_url(url)
    token_for(kernel, base)
    return await call(kernel, action, {**params, "registry": base})


async def login(kernel: Kernel, url: str, name: str) -> dict[str, Any]:
    """Prove possession of the operator's key, bind ``name`` to it (first login), keep the token.

    Raises KeyMissing (no key: 'kiwi keys init'), PermissionDenied (``name_taken``,
    ``key_bound``) and the registry's other refusals.
    """
    from kiwi_mcp.kernel.services.auth.records import AuthRecord
    from kiwi_mcp.kernel.trust.encoding import b64url_encode
    from kiwi_mcp.kernel.trust.keys import KeyStore

    base = normalize_url(url)
    keys = KeyStore(kernel.settings.user_space)
    private = keys.private_key()
    asked = await call(
        kernel,
        "challenge",
        {"registry": base, "name": name, "public_key": keys.public_pem().decode()},
    )
    challenge = str(asked["challenge"])
    signature = b64url_encode(private.sign(challenge.encode()))
    got = await call(
        kernel, "login", {"registry": base, "challenge": challenge, "signature": signature}
    )
    kernel.auth.signin(
        service_for(base),
        AuthRecord(
            access_token=str(got["token"]),
            expires_at=float(got["expires_at"]),
            scopes=(WRITE_SCOPE,),
        ),
    )
    return {
        "registry": base,
        "name": got["name"],
        "fingerprint": got["fingerprint"],
        "expires_at": datetime.fromtimestamp(float(got["expires_at"]), UTC).isoformat(),
        "service": service_for(base),
    }


async def whoami(kernel: Kernel, url: str) -> dict[str, Any]:
    """Name, fingerprint and token expiry as the registry sees them."""
    data = await write(kernel, url, "whoami", {})
    return {"registry": normalize_url(url), **dict(data)}


async def publish(
    kernel: Kernel,
    url: str,
    kind: str,
    item_id: str,
    *,
    visibility: str = "public",
    draft: bool = False,
) -> dict[str, Any]:
    """Publish the local item ``kind``/``item_id`` (project space first, then user); with
    ``draft``, upload it as a draft only its publisher sees (publishing it later replaces it).

    The file goes as it is on disk, with the extra files a tool lists (``files:``, read from
    its folder as the kernel reads them to verify it); the registry verifies them all against
    the logged-in key. Raises ItemNotFound, ParseError, IntegrityFailed (a listed file is
    missing or leaves the folder), UsageError (the item or an extra file is not UTF-8 text),
    AuthRequired and the registry's refusals.
    """
    from kiwi_mcp.kernel.core.ids import parse_kind
    from kiwi_mcp.kernel.trust.verifier import extra_files_of

    loaded = kernel.store.load(parse_kind(kind), item_id, within=("project", "user"))
    file = loaded.file
    hint = "Registry items are text: keep binary data out of a published tool's files."
    try:
        content = loaded.data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{file.label} is not UTF-8 text", hint=hint) from None
    files: dict[str, str] = {}
    for rel, data in extra_files_of(loaded):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = "\0"
        if "\0" in text:
            raise UsageError(
                f"{file.label}: extra file {rel!r} is not UTF-8 text (a binary file)",
                hint=hint,
                details={"field": "files", "file": rel},
            )
        files[rel] = text
    return dict(
        await write(
            kernel,
            url,
            "upload" if draft else "publish",
            {
                "kind": kind,
                "id": file.id,
                "ext": file.ext,
                "content": content,
                "files": files,
                "visibility": visibility,
            },
        )
    )


async def search_tier(
    kernel: Kernel, query: str, *, kind: str | None, limit: int, required: bool
) -> dict[str, Any] | None:
    """The registry tier of ``search`` (SPEC §16): ``{registry, hits}`` with each hit marked
    ``tier: registry``, from ``$KIWI_REGISTRY``. None when no registry is configured and
    none was ``required`` (``source: all`` never reaches for a default URL); an unreachable
    registry under ``source: all`` is a ``warning``, not a failure of the local results.

    Raises:
        UsageError: ``required`` (``source: registry``) and ``KIWI_REGISTRY`` is not set.
        KiwiError: ``required`` and the registry refused or could not be reached.
    """
    url = kernel.settings.host_env.get("KIWI_REGISTRY", "").strip()
    if not url:
        if not required:
            return None
        raise UsageError(
            "arguments.source: 'registry' needs a registry, and KIWI_REGISTRY is not set",
            hint="Ask the operator to set KIWI_REGISTRY (e.g. http://127.0.0.1:8766) for the"
            " server, or search the local spaces (source 'all').",
        )
    base = normalize_url(url)
    try:
        data = await call(
            kernel, "search", {"registry": base, "q": query, "kind": kind or "", "limit": limit}
        )
    except KiwiError as err:
        if required:
            raise
        return {"registry": base, "hits": [], "warning": f"[{err.code}] {err.message}"}
    hits = [{**dict(hit), "tier": "registry"} for hit in (data or {}).get("results") or ()]
    return {"registry": base, "hits": hits}
