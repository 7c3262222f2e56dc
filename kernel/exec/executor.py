"""One ``execute``: from an id and params to a result envelope (SPEC §5).

Order, before any effect: resolve the chain → verify every link → validate params →
capabilities (``requires``) → lockfile → merge + template → ``config_schema`` of every link →
the effect gate (host / command) — all in ``exec/plan.py``, whose params-independent part a
kernel keeps while its files are unchanged (``exec/plan_cache.py``). Then the primitive runs
(``exec/dispatch.py``), the result is redacted, and one audit line is written.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from kiwi_mcp.kernel.core.envelope import error_envelope, ok_envelope
from kiwi_mcp.kernel.core.redact import Redactor
from kiwi_mcp.kernel.errors import KiwiError
from kiwi_mcp.kernel.exec.plan import Plan
from kiwi_mcp.kernel.trust.audit.log import AuditLog, call_record
from kiwi_mcp.kernel.trust.capabilities import CapabilitySet

if TYPE_CHECKING:
    from kiwi_mcp.kernel.services.connectors.pool import UpstreamPool
    from kiwi_mcp.primitives.http_client import HttpClient

__all__ = ["EventHook", "Executes", "execute", "record_call"]

EventHook = Callable[[dict[str, Any]], None]

logger = logging.getLogger("kiwi.audit")
#: One INFO line per call (``KIWI_LOG_FILE``, ``serve --log-file``): item, chain, outcome, ms.
calls = logging.getLogger("kiwi.call")


class Executes(Protocol):
    """What ``execute`` needs of its kernel (``exec/kernel.py``'s ``Kernel``)."""

    session: str
    audit: AuditLog
    #: the operator's unrestricted set is in use (``kiwi run --as-operator``): audited as such
    as_operator: bool
    #: the capability token the caller's rights came from (a thread's), or None
    token_id: str | None

    @property
    def project_root(self) -> Path: ...

    @property
    def http(self) -> HttpClient: ...

    @property
    def upstreams(self) -> UpstreamPool: ...

    async def plan(
        self,
        tool_id: str,
        params: Mapping[str, Any],
        *,
        caps: CapabilitySet | None = None,
        thread_id: str | None = None,
        locked: bool = False,
        fetch_auth: bool = True,
    ) -> Plan: ...


async def execute(
    kernel: Executes,
    tool_id: str,
    params: Mapping[str, Any] | None = None,
    *,
    dry_run: bool = False,
    caps: CapabilitySet | None = None,
    thread_id: str | None = None,
    locked: bool = False,
    on_event: EventHook | None = None,
) -> dict[str, Any]:
    """Run a tool and return its envelope; never raises a ``KiwiError``.

    SPEC §5.2's checks (``kernel.plan``), then the primitive, then redaction of everything
    the envelope and the events carry, then one audit line whatever happened — a cancelled
    call included (it is recorded, then the cancellation goes on). A log that cannot take
    that line refuses the call first (``AUDIT_UNAVAILABLE``, SPEC §9.5).
    """
    # imported on first use: the primitives' modules are not needed to list or plan
    from kiwi_mcp.kernel.exec.dispatch import run_http, run_subprocess

    started = time.perf_counter()
    params = dict(params or {})
    meta: dict[str, Any] = {"chain": [], "primitive": None}
    redactor = Redactor(())
    plan: Plan | None = None
    envelope: dict[str, Any]
    try:
        kernel.audit.require_writable()
        plan = await kernel.plan(tool_id, params, caps=caps, thread_id=thread_id, locked=locked)
        redactor = Redactor(plan.secret_values)
        on_event = _redacting(on_event, redactor)
        meta.update(chain=list(plan.chain.ids), primitive=plan.chain.primitive)
        if plan.warnings:
            meta["warnings"] = list(plan.warnings)
        meta["lockfile"] = plan.lockfile.status
        if dry_run:
            data: Any = {"dry_run": True, "params": plan.params, "config": plan.config}
        elif plan.mcp is not None:
            from kiwi_mcp.kernel.exec.mcp_call import run_mcp

            data, meta["mcp"] = await run_mcp(
                plan.mcp, plan.params, kernel.upstreams, on_event=on_event
            )
        elif plan.llm is not None:
            from kiwi_mcp.kernel.exec.llm_call import run_llm

            data, meta["http"], meta["llm"] = await run_llm(
                plan.llm,
                plan.config,
                client=kernel.http,
                project_path=kernel.project_root,
                on_event=on_event,
            )
        elif plan.chain.primitive == "primitives/subprocess":
            data, meta["process"] = await run_subprocess(
                plan.config,
                env=plan.env,
                params=plan.params,
                on_event=on_event,
                project_path=kernel.project_root,
            )
        else:
            data, meta["http"] = await run_http(
                plan.config,
                client=kernel.http,
                project_path=kernel.project_root,
                on_event=on_event,
            )
        if plan.chain.asked.mutates_state and not dry_run:
            meta["checkpoint_recommended"] = True
        envelope = ok_envelope(data, meta)
    except KiwiError as err:
        if not meta["chain"]:
            meta["chain"] = list(err.chain)
        envelope = error_envelope(err, meta)
    except asyncio.CancelledError:
        # the caller went away; the primitive killed what it started — record that
        meta["duration_ms"] = round((time.perf_counter() - started) * 1000, 3)
        cancelled = {"ok": False, "error": {"code": "CANCELLED"}, "meta": meta}
        _audit(kernel, tool_id, params, plan, cancelled, thread_id)
        raise
    meta["duration_ms"] = round((time.perf_counter() - started) * 1000, 3)
    envelope["meta"] = meta
    envelope = redactor.redact_value(envelope)
    _audit(kernel, tool_id, params, plan, envelope, thread_id)
    return envelope


def _audit(
    kernel: Executes,
    tool_id: str,
    params: Mapping[str, Any],
    plan: Plan | None,
    envelope: dict[str, Any],
    thread_id: str | None,
) -> None:
    record_call(
        kernel,
        item=tool_id,
        params=params,
        caps_used=list(plan.caps_used) if plan else [],
        envelope=envelope,
        thread_id=thread_id,
    )


def record_call(
    kernel: Executes,
    *,
    item: str,
    params: Mapping[str, Any],
    caps_used: list[str],
    envelope: dict[str, Any],
    thread_id: str | None = None,
) -> None:
    """The one audit line and the one ``kiwi.call`` log line of a call (tools here, inline
    directives and knowledge in ``ops/execute.py``). A log that fails now (it passed
    ``require_writable`` a moment ago) is reported on the envelope and the server's log,
    never raised past the result."""
    record = call_record(
        session=kernel.session,
        thread=thread_id,
        item=item,
        params=params,
        caps_used=caps_used,
        envelope=envelope,
        as_operator=kernel.as_operator,
        token=kernel.token_id,
    )
    calls.info(
        "%s %s %s %sms",
        item,
        " > ".join(record["chain"]) or "-",
        record["outcome"],
        record["duration_ms"],
    )
    try:
        kernel.audit.append(record)
    except OSError as err:
        if (envelope.get("error") or {}).get("code") == "AUDIT_UNAVAILABLE":
            return  # the refusal itself: nothing could be recorded, and nothing ran
        logger.error("audit record of %s not written: %s", item, err.strerror or err)
        meta = envelope.get("meta")
        if isinstance(meta, dict):
            meta.setdefault("warnings", []).append(
                f"the audit record of this call could not be written ({err.strerror or err})"
            )


def _redacting(hook: EventHook | None, redactor: Redactor) -> EventHook | None:
    """Events pass through the same redaction as the envelope (they may echo a secret)."""
    if hook is None:
        return None
    inner = hook

    def redacted(event: dict[str, Any]) -> None:
        inner(redactor.redact_event(event))

    return redacted
