"""Thread ops for the faces (SPEC §13.1, §13.5, §13.9): start, resume, cancel, and the record
``kiwi threads show`` and MCP ``threads/status`` print.

Start: the directive is loaded and verified, its inputs checked, the model routed by tier,
the token minted — the directive's ``<permissions>`` attenuated by the caller's capabilities,
signed with the operator's key — and the thread registered; then the chain
``threads/thread_directive → threads/harness → threads/spawn_thread`` runs as an ordinary,
audited ``execute``: a detached ``subprocess`` that is the runner. The caller gets
``{thread_id, status: "spawned"}`` as soon as the runner exists.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from kiwi_mcp.kernel.errors import KiwiError, PriceUnknown, ThreadState
from kiwi_mcp.kernel.runtime.threads.common import read_token, thread_folder

if TYPE_CHECKING:
    from kiwi_mcp.kernel.exec.kernel import Kernel
    from kiwi_mcp.kernel.runtime.threads.registry import (
        ApprovalRecord,
        Limits,
        Registry,
        ThreadRecord,
    )
    from kiwi_mcp.kernel.trust.capabilities import CapabilitySet

__all__ = [
    "cancel_thread",
    "read_token",
    "resume_thread",
    "show_thread",
    "start_thread",
    "thread_folder",
]

START_CHAIN: Final = "threads/thread_directive"
_TOKEN_TTL_S: Final = 7 * 24 * 3600.0


def _write_token(folder: Path, text: str) -> None:
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / "token"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text + "\n")


def _route(kernel: Kernel, directive: Any) -> tuple[str, str]:
    """The provider and model a directive's ``<model tier=… id=…/>`` picks (SPEC §12.2)."""
    from kiwi_mcp.kernel.core.llm.tiers import route
    from kiwi_mcp.kernel.exec.llm_route import llm_settings

    runtime = kernel.resolve("llm/runtime").asked
    model = dict(directive.model or {})
    params: dict[str, Any] = {}
    if model.get("provider"):
        params["provider"] = model["provider"]
    if model.get("tier"):
        params["tier"] = model["tier"]
    if model.get("id"):
        params["model"] = model["id"]
    chosen = route(llm_settings(kernel, runtime.config), params)
    return chosen.provider, chosen.model


async def start_thread(
    kernel: Kernel,
    directive_id: str,
    inputs: Mapping[str, Any],
    *,
    caps: CapabilitySet | None = None,
    caller: str = "cli",
    parent: str | None = None,
) -> dict[str, Any]:
    """Register and spawn a thread; returns ``{thread_id, status: "spawned", …}``.

    With ``parent`` (SPEC §13.7: a thread starting a child) the child's token is minted from
    the parent's (an attenuation: never wider, no later expiry), its limits are carved from
    the parent's remaining budget, depth and deadline, and the parent's transcript records
    ``child_started``.

    Raises:
        KiwiError: the directive cannot be run (not found, unverified, bad inputs or limits,
            PERMISSION_DENIED, PRICE_UNKNOWN with a spend limit) — nothing is registered; or
            the spawn failed — the thread is registered and recorded ``failed``.
    """
    from kiwi_mcp.kernel.core.directives import check_inputs
    from kiwi_mcp.kernel.core.thread_plan import parse_limits
    from kiwi_mcp.kernel.exec.gate import require
    from kiwi_mcp.kernel.ops.load import load_verified
    from kiwi_mcp.kernel.runtime.threads.common import AUDIENCE, model_info_of
    from kiwi_mcp.kernel.runtime.threads.registry import Limits, Registry
    from kiwi_mcp.kernel.runtime.threads.transcript import Transcript
    from kiwi_mcp.kernel.trust.keys import KeyStore
    from kiwi_mcp.kernel.trust.permissions import permissions_to_capabilities
    from kiwi_mcp.kernel.trust.tokens import mint

    held = caps if caps is not None else kernel.caps
    require(held, ["spawn.thread"], f"needed to start a thread of {directive_id}")
    from kiwi_mcp.kernel.core.items import Directive

    verified = load_verified(kernel, "directive", directive_id)
    directive = verified.loaded.item
    assert isinstance(directive, Directive)
    checked = check_inputs(directive, inputs)
    limits = Limits.from_dict(parse_limits(directive.limits))
    provider, model = _route(kernel, directive)
    prices, _ = model_info_of(kernel, provider, model)
    if limits.spend_usd is not None and prices is None:
        raise PriceUnknown(
            f"model {model} of {provider} has no price, and the directive limits spend",
            details={"provider": provider, "model": model},
        )
    wanted = permissions_to_capabilities(directive.permissions)
    granted = held.attenuate(wanted).to_list()
    dropped = [cap for cap in wanted if cap not in granted]
    parent_token = None
    with Registry.for_project(kernel.project_root) as registry:
        if parent is not None:
            parent_token = _parent_token(kernel, parent)
            limits = carve(limits, registry.get(parent), now=time.time())
        record = registry.create(
            parent=parent,
            directive=directive.id,
            directive_sha256=verified.loaded.sha256,
            limits=limits,
            inputs=checked,
            model=model,
            provider=provider,
            caller=caller,
        )
        folder = thread_folder(kernel.project_root, record.thread_id)
        token, text = mint(
            KeyStore(kernel.user_space).private_key(),
            caps=granted,
            sub=record.thread_id,
            aud=AUDIENCE,
            now=time.time(),
            ttl_s=min(_TOKEN_TTL_S, limits.duration_s or _TOKEN_TTL_S),
            parent=parent_token,
        )
        granted = list(token.caps)
        _write_token(folder, text)
        registry.update(record.thread_id, token_id=token.jti)
        Transcript.for_thread(kernel.project_root, record.thread_id).append(
            "thread_started",
            {
                "directive": directive.id,
                "sha256": verified.loaded.sha256,
                "inputs": checked,
                "provider": provider,
                "model": model,
                "limits": limits.to_dict(),
                "capabilities": granted,
                "dropped_capabilities": dropped,
                "caller": caller,
                "parent": parent,
            },
        )
        if parent is not None:
            Transcript.for_thread(kernel.project_root, parent).append(
                "child_started",
                {"thread_id": record.thread_id, "directive": directive.id, "capabilities": granted},
            )
        return await _spawn(kernel, registry, record.thread_id, held, dropped)


def _parent_token(kernel: Kernel, parent: str) -> Any:
    """The parent thread's verified token: the child's is minted from it."""
    from kiwi_mcp.kernel.runtime.threads.common import thread_token

    return thread_token(kernel.project_root, kernel.user_space, parent, now=time.time())


def carve(child: Limits, parent: ThreadRecord, *, now: float) -> Limits:
    """A child's limits within its parent's (SPEC §13.3, §13.7): tokens and spend at most the
    parent's remaining balance, depth one less, duration at most the parent's time left,
    spawns at most the parent's. The ledger still reserves every call against the parent
    too, so concurrent children never overspend it; this makes the child's own view honest."""
    from dataclasses import replace

    def least(own: Any, cap: Any) -> Any:
        if cap is None:
            return own
        return cap if own is None else min(own, cap)

    up = parent.limits
    tokens_left = (
        None
        if up.tokens is None
        else max(up.tokens - parent.spent_tokens - parent.reserved_tokens, 0)
    )
    usd_left = (
        None
        if up.spend_usd is None
        else max(up.spend_usd - parent.spent_usd - parent.reserved_usd, Decimal(0))
    )
    time_left = None if parent.deadline is None else max(parent.deadline - now, 0.0)
    return replace(
        child,
        tokens=least(child.tokens, tokens_left),
        spend_usd=least(child.spend_usd, usd_left),
        duration_s=least(child.duration_s, time_left),
        depth=least(child.depth, None if up.depth is None else up.depth - 1),
        spawns=least(child.spawns, up.spawns),
    )


async def _spawn(
    kernel: Kernel, registry: Registry, thread_id: str, caps: CapabilitySet, dropped: list[str]
) -> dict[str, Any]:
    envelope = await kernel.execute(START_CHAIN, {}, caps=caps, thread_id=thread_id)
    if not envelope["ok"]:
        error = envelope["error"]
        registry.set_status(thread_id, "failed", error=error)
        raise KiwiError(
            f"thread {thread_id} could not start: {error.get('message')}",
            hint=error.get("hint"),
            details={"thread_id": thread_id, "error": error},
        )
    registry.update(thread_id, pid=int(envelope["data"]["pid"]))
    out: dict[str, Any] = {"thread_id": thread_id, "status": "spawned"}
    if dropped:
        out["dropped_capabilities"] = dropped
    return out


async def resume_thread(
    kernel: Kernel, thread_id: str, *, unknown_as_error: bool = False
) -> dict[str, Any]:
    """Start a runner again for a thread that stopped (orphaned, or paused)."""
    from kiwi_mcp.kernel.runtime.threads.registry import Registry

    with Registry.for_project(kernel.project_root) as registry:
        registry.mark_orphans(_alive)
        record = registry.get(thread_id)
        if record.status not in ("orphaned", "paused", "created"):
            raise ThreadState(
                f"thread {thread_id} is {record.status}: only an orphaned or paused thread resumes",
                details={"status": record.status},
            )
        if unknown_as_error:
            registry.add_control(thread_id, "unknown_as_error")
        return await _spawn(kernel, registry, thread_id, kernel.caps, [])


def cancel_thread(project_root: Path, thread_id: str) -> dict[str, Any]:
    """Ask the runner to stop now (a control row and SIGTERM to its process); a thread
    without a live runner is marked cancelled at once. Its pending approvals are resolved
    (decision ``cancelled``)."""
    import signal

    from kiwi_mcp.kernel.runtime.threads.registry import TERMINAL, Registry

    with Registry.for_project(project_root) as registry:
        record = registry.get(thread_id)
        if record.status in TERMINAL:
            return {"thread_id": thread_id, "status": record.status}
        registry.add_control(thread_id, "cancel")
        registry.cancel_approvals(thread_id)  # SPEC §13.6: cancelling resolves them
        if record.pid is not None and _alive(record.pid):
            os.kill(record.pid, signal.SIGTERM)
            return {"thread_id": thread_id, "status": "cancelling"}
        registry.set_status(
            thread_id, "cancelled", error={"code": "CANCELLED", "message": "cancelled (no runner)"}
        )
        return {"thread_id": thread_id, "status": "cancelled"}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie (exited, not yet reaped) is gone for our purposes
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def show_thread(project_root: Path, user_space: Path, thread_id: str) -> dict[str, Any]:
    """SPEC §13.9's record: the registry row, the transcript's verification, flags."""
    from kiwi_mcp.kernel.runtime.threads.registry import Registry
    from kiwi_mcp.kernel.runtime.threads.signer import Signer
    from kiwi_mcp.kernel.runtime.threads.transcript import Transcript

    with Registry.for_project(project_root) as registry:
        registry.mark_orphans(_alive)
        record = registry.get(thread_id)
        approvals = registry.pending_approvals(thread_id)
    check = Transcript.for_thread(project_root, thread_id).verify(Signer(user_space).check)
    return record_view(record, check.to_dict(), approvals=approvals)


def record_view(
    record: ThreadRecord,
    transcript: Mapping[str, Any] | None,
    *,
    approvals: Sequence[ApprovalRecord] = (),
) -> dict[str, Any]:
    """SPEC §13.9's record; ``approvals``: the pending ones of the thread (and, at a root, of
    the threads under it)."""
    data = record.to_dict()
    out = {
        "thread_id": record.thread_id,
        "directive": record.directive,
        "status": record.status,
        "pid": record.pid,
        "parent": record.parent,
        "root": record.root,
        "caller": record.caller,
        "token_id": record.token_id,
        "turn": record.turn,
        "spend_usd": _money(record.spent_usd),
        "tokens": record.spent_tokens,
        "limits": record.limits.to_dict(),
        "model": record.model,
        "provider": record.provider,
        "pending_approvals": [a.pending_view() for a in approvals],
        "result": record.result,
        "error": record.error,
        "flags": list(record.flags),
        "created_at": data.get("created_at"),
        "finished_at": data.get("finished_at"),
    }
    if transcript is not None:
        out["transcript"] = {
            k: transcript.get(k) for k in ("events", "verified", "first_bad_seq", "reason")
        }
    return out


def _money(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"
