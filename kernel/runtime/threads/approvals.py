"""Human approval of a thread's tool calls (SPEC §13.6): the runner's ``Reviewer``.

A call needs approval when a link of its tool's chain has ``require_approval: true`` or a
capability it exercises (``tool.execute:<id>``, each link's ``requires``, the effect's —
``process.exec:<cmd>``, ``net.http:<host>``… — planned on the thread's kernel) overlaps the
policy's ``approve:`` list; Kiwi's own ``search``, ``load`` and ``help``, and ``execute`` of a
directive or a knowledge entry, never do. Such a call gets an ``approvals`` row (thread, call
id, turn, tool, SHA-256 of the canonical arguments, the capability), an
``approval_requested`` event and the status ``waiting_approval``; the runner polls the row
until it is decided or expires (the policy's ``approval_timeout``, 1 h by default: expired is
rejected, and the model is told). A decision counts only when its signature verifies with a
key the operator trusts (``records.decision_bytes``); any other row is refused and the call
answered ``APPROVAL_INVALID``. Approved with edited arguments, the call runs with those —
through the gate, like every call; ``--for-thread`` re-mints the thread's token with that
capability added and later calls needing only it are not asked again. The operator's side
(``kiwi approve``/``reject``) is ``approval_ops.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from kiwi_mcp.kernel.core.thread_plan import args_sha256
from kiwi_mcp.kernel.errors import KiwiError, ThreadState
from kiwi_mcp.kernel.runtime.threads.records import ApprovalRecord, decision_bytes
from kiwi_mcp.kernel.runtime.threads.review import Review
from kiwi_mcp.kernel.trust.capabilities import CapabilitySet

if TYPE_CHECKING:
    from kiwi_mcp.kernel.runtime.threads.signer import Signer
    from kiwi_mcp.kernel.runtime.threads.turns import ThreadRun
    from kiwi_mcp.kernel.trust.policy import ApprovalRules
    from kiwi_mcp.kernel.trust.tokens import CapabilityToken

__all__ = ["POLL_S", "Approvals", "verified"]

#: how often a waiting runner reads its approval row
POLL_S: Final = 0.2


@dataclass(frozen=True, kw_only=True, slots=True)
class _Need:
    tool: str
    capability: str
    exercised: tuple[str, ...]
    missing: tuple[str, ...]


def verified(record: ApprovalRecord, check: Callable[[bytes, str, str], bool]) -> bool:
    """Whether a decided row carries a valid signature by a trusted key."""
    if not record.approver or not record.signature:
        return False
    return check(decision_bytes(record), record.signature, record.approver)


class Approvals:
    """The ``review.Reviewer`` of a thread's runner."""

    def __init__(
        self, signer: Signer, *, clock: Callable[[], float] = time.time, poll_s: float = POLL_S
    ) -> None:
        self._signer = signer
        self._clock = clock
        self._poll_s = poll_s
        self._granted: CapabilitySet | None = None

    # --- before a call ---------------------------------------------------------------------

    async def review(self, run: ThreadRun, call: Mapping[str, Any]) -> Review:
        arguments = dict(call.get("arguments") or {})
        try:
            need = await self._need(run, str(call["name"]), arguments)
        except KiwiError as err:  # the policy cannot be read or is not signed: fail closed
            return Review(rejected=err.message, code=err.code)
        if need is None:
            return Review(arguments=arguments)
        digest = args_sha256(arguments)
        turn = run.registry.get(run.thread_id).turn
        row = run.registry.approval_for(run.thread_id, str(call["call_id"]), kind="call", turn=turn)
        if row is None or row.args_sha256 != digest:
            row = self._ask(run, call, need, digest, turn, arguments)
        if row.decision is None:
            row = await self._wait(run, row)
        return await self._act(run, row, arguments)

    async def _need(self, run: ThreadRun, name: str, arguments: Mapping[str, Any]) -> _Need | None:
        target = run.offer.names.get(name)
        if target is None:
            return None  # not offered: refused without an effect
        kind, tool_id = target
        params: Any = arguments
        if kind == "kiwi":
            item = str(arguments.get("item_id", ""))
            if tool_id == "execute" and arguments.get("item_type") == "directive":
                if arguments.get("thread") is not True:
                    return None  # a directive's text
                # a child thread: what starting it exercises
                return self._asked(run, item, ("spawn.thread", f"directive.execute:{item}"))
            if tool_id != "execute" or arguments.get("item_type") != "tool":
                return None  # search, load, help, a knowledge entry
            tool_id, params = item, arguments.get("parameters") or {}
        rules = self._rules(run)  # outside the try: an unreadable policy fails closed
        try:
            prepared = run.agent.prepare(tool_id)
            flagged = any(tool.require_approval for tool in prepared.chain.tools)
            if not flagged and not rules.approve.caps:
                return None
            plan = await run.agent.plan(
                tool_id,
                params,
                caps=CapabilitySet.operator(),
                thread_id=run.thread_id,
                fetch_auth=False,
            )
        except (KiwiError, TypeError, ValueError):  # e.g. parameters that are not an object
            return None  # the gate refuses it the same way: nothing can run
        return self._asked(run, plan.chain.asked.id, tuple(plan.caps_used), flagged=flagged)

    def _asked(
        self, run: ThreadRun, tool: str, exercised: tuple[str, ...], *, flagged: bool = False
    ) -> _Need | None:
        """What to ask about a call that exercises these capabilities: the first the policy's
        ``approve:`` overlaps and the thread was not granted, else (a ``require_approval``
        tool) ``tool.execute:<id>``; None when nothing is to be asked."""
        granted = self._grants(run)
        asked = [cap for cap in self._rules(run).triggered(exercised) if not granted.covers(cap)]
        own = f"tool.execute:{tool}"
        if not asked and flagged and not granted.covers(own):
            asked = [own]
        if not asked:
            return None
        return _Need(
            tool=tool,
            capability=asked[0],
            exercised=exercised,
            missing=tuple(run.agent.caps.missing(exercised)),
        )

    def _rules(self, run: ThreadRun) -> ApprovalRules:
        """The policy's approval rules, from the file whose signature the harness checks.

        Raises:
            PermissionDenied: the policy is unsigned or changed (SPEC §9.4).
            ParseError: it is malformed.
        """
        from kiwi_mcp.kernel.trust.policy import POLICY_RELPATH, parse_approval_rules

        run.harness.caps  # noqa: B018 - checks the policy's signature (raises)
        found = run.harness.files.read(os.path.join(run.harness.project_root, POLICY_RELPATH))
        return parse_approval_rules(None if found is None else found.data)

    def _grants(self, run: ThreadRun) -> CapabilitySet:
        """The capabilities approved for the rest of the thread (verified rows only)."""
        if self._granted is None:
            caps = [
                str(row.capability)
                for row in run.registry.thread_grants(run.thread_id)
                if row.capability and verified(row, self._signer.check)
            ]
            self._granted = CapabilitySet.from_strings(caps)
        return self._granted

    def _ask(
        self,
        run: ThreadRun,
        call: Mapping[str, Any],
        need: _Need,
        digest: str,
        turn: int,
        arguments: Mapping[str, Any],
    ) -> ApprovalRecord:
        row = run.registry.request_approval(
            run.thread_id,
            call_id=str(call["call_id"]),
            tool=need.tool,
            args_sha256=digest,
            capability=need.capability,
            turn=turn,
            expires_at=self._clock() + self._rules(run).timeout_s,
        )
        run.transcript.append(
            "approval_requested",
            {
                "approval_id": row.approval_id,
                "call_id": row.call_id,
                "name": call["name"],
                "tool": row.tool,
                "arguments": dict(arguments),
                "args_sha256": digest,
                "capability": need.capability,
                "exercised": list(need.exercised),
                "missing": list(need.missing),  # a one-time approval of these is denied
                "expires_at": row.expires_at,
            },
        )
        return row

    async def _wait(self, run: ThreadRun, row: ApprovalRecord) -> ApprovalRecord:
        """Poll the row until it is decided or expires (then mark it expired)."""
        _status(run, "waiting_approval", ("running",))
        try:
            while True:
                row = run.registry.get_approval(row.approval_id)
                if row.decision is not None:
                    return row
                left = row.expires_at - self._clock()
                if left <= 0:
                    run.registry.expire_approval(row.approval_id)  # False: a decision came
                    continue
                await asyncio.sleep(min(self._poll_s, left))
        except asyncio.CancelledError:  # cancelled while waiting (SIGTERM from the operator)
            run.transcript.append(
                "approval_decided",
                {"approval_id": row.approval_id, "call_id": row.call_id, "decision": "cancelled"},
            )
            raise

    async def _act(
        self, run: ThreadRun, row: ApprovalRecord, arguments: Mapping[str, Any]
    ) -> Review:
        event: dict[str, Any] = {
            "approval_id": row.approval_id,
            "call_id": row.call_id,
            "decision": row.decision,
        }
        if row.decision == "cancelled":
            run.transcript.append("approval_decided", event)
            return Review(pause="cancelled")
        if row.decision not in ("approved", "rejected"):  # expired
            run.transcript.append("approval_decided", {**event, "decision": "expired"})
            _status(run, "running", ("waiting_approval", "running"))
            return Review(
                rejected=f"no one approved this call before its approval expired "
                f"({row.expires_at - row.requested_at:g} s); it did not run. Do without it, "
                "or ask again later.",
                code="APPROVAL_EXPIRED",
            )
        refused = _refused(row, self._signer.check)
        if refused is not None:
            run.transcript.append("approval_decided", {**event, "verified": False})
            run.registry.add_flag(run.thread_id, "approval_invalid")
            _status(run, "running", ("waiting_approval", "running"))
            return refused
        event.update(approver=row.approver, verified=True)
        if row.decision == "rejected":
            run.transcript.append("approval_decided", {**event, "message": row.message})
            _status(run, "running", ("waiting_approval", "running"))
            return Review(rejected=row.message or _REJECTED, code="APPROVAL_REJECTED")
        args = dict(arguments if row.arguments is None else row.arguments)
        event.update(args_sha256=args_sha256(args), edited=row.arguments is not None)
        if row.for_thread and row.capability:
            event.update(for_thread=row.capability, added=await self._grant(run, row.capability))
        run.transcript.append("approval_decided", event)
        _status(run, "running", ("waiting_approval", "running"))
        return Review(arguments=args)

    async def _grant(self, run: ThreadRun, capability: str) -> bool:
        """Re-mint the thread's token with ``capability`` added (attenuated by the parent's
        token, for a child) and give the run a kernel with it; True when it was added."""
        from kiwi_mcp.kernel.exec.kernel import Kernel

        try:
            token = _add_capability(run, capability)
        except KiwiError:  # the token cannot be read or re-minted: the call runs as it is
            return False
        run.registry.update(run.thread_id, token_id=token.jti)
        self._granted = CapabilitySet.from_strings(
            [*(str(c) for c in self._grants(run).caps), capability]
        )
        old, run.agent = (
            run.agent,
            Kernel(run.agent.settings, caps=token.capabilities, token_id=token.jti),
        )
        await old.aclose()
        return token.capabilities.covers(capability)

    # --- on resume: a call whose outcome is unknown ----------------------------------------

    async def unknown(self, run: ThreadRun, intent: Mapping[str, Any]) -> Review | None:
        turn = run.registry.get(run.thread_id).turn
        row = run.registry.approval_for(
            run.thread_id, str(intent["call_id"]), kind="unknown", turn=turn
        )
        if row is None or row.decision not in ("approved", "rejected"):
            return None
        event = {"approval_id": row.approval_id, "call_id": row.call_id, "decision": row.decision}
        digest = args_sha256(dict(intent.get("arguments") or {}))
        refused = _refused(row, self._signer.check, digest)
        if refused is not None:
            run.transcript.append("approval_decided", {**event, "verified": False})
            run.registry.add_flag(run.thread_id, "approval_invalid")
            return refused
        run.transcript.append(
            "approval_decided",
            {**event, "verified": True, "approver": row.approver, "message": row.message},
        )
        if row.decision == "rejected":
            return Review(rejected=row.message or _REJECTED, code="APPROVAL_REJECTED")
        return Review(arguments=row.arguments)


_REJECTED: Final = "the operator rejected this call; it did not run"


def _add_capability(run: ThreadRun, capability: str) -> CapabilityToken:
    """The thread's token re-minted with ``capability`` added, written to its file: the
    same subject, audience and expiry; a child's still attenuated by its parent's token.

    Raises:
        TokenInvalid: the thread's (or its parent's) token does not verify.
        KeyMissing: the operator has no signing key.
    """
    from kiwi_mcp.kernel.runtime.threads.common import AUDIENCE, read_token, thread_folder
    from kiwi_mcp.kernel.runtime.threads.start import _write_token
    from kiwi_mcp.kernel.trust.keys import KeyStore, TrustStore
    from kiwi_mcp.kernel.trust.tokens import mint, verify_token

    root, user = run.harness.project_root, run.harness.user_space
    keys, now = TrustStore(user).trusted_keys(), time.time()

    def token_of(thread_id: str) -> CapabilityToken:
        text = read_token(thread_folder(root, thread_id))
        return verify_token(text, trusted_keys=keys, audience=AUDIENCE, now=now)

    old = token_of(run.thread_id)
    record = run.registry.get(run.thread_id)
    parent = token_of(record.parent) if old.parent is not None and record.parent else None
    token, text = mint(
        KeyStore(user).private_key(),
        caps=[*old.caps, *([] if capability in old.caps else [capability])],
        sub=old.sub,
        aud=old.aud,
        now=now,
        ttl_s=old.exp - now,
        parent=parent,
    )
    _write_token(thread_folder(root, run.thread_id), text)
    return token


def _refused(
    row: ApprovalRecord, check: Callable[[bytes, str, str], bool], digest: str | None = None
) -> Review | None:
    """APPROVAL_INVALID for a decision that is not the operator's (or not for this call)."""
    if verified(row, check) and (digest is None or digest == row.args_sha256):
        return None
    return Review(
        rejected="the decision on this call is not signed by a key the operator trusts, so it "
        "was refused; the call did not run",
        code="APPROVAL_INVALID",
    )


def _status(run: ThreadRun, status: str, expect: tuple[str, ...]) -> None:
    with contextlib.suppress(ThreadState):  # cancelled meanwhile: the outcome says so
        run.registry.set_status(run.thread_id, status, expect=expect)
