"""Approvals asked of the MCP client's user through elicitation (SPEC §13.6).

When a ``threads/status`` answer (any ``execute`` result that is a thread record) shows
calls waiting for approval, the thread was started over MCP and the client declared form
elicitation, the face asks the client's user instead of leaving the call to ``kiwi
approve``:

* protocol 2026-07-28: the answer is an ``input_required`` result whose input requests are
  one ``elicitation/create`` form per call, and whose ``requestState`` names the approvals
  asked (sealed by the SDK's ``RequestStateMiddleware``, bound to this very request, so a
  client cannot widen it). The client retries the same call with the user's replies; the
  face records each as a signed decision, then runs the call again.
* earlier protocols: the same forms go out as server-to-client requests inside the call.

A reply to a question that was not asked in that request is ignored, and a client without
the capability, or a thread started elsewhere, gets the plain record: the operator decides
at the CLI as before. The agent never decides: replies come from the client's interface.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

import mcp_types as types

from kiwi_mcp.kernel.errors import KiwiError

if TYPE_CHECKING:
    from kiwi_mcp.kernel.faces.mcp.contexts import ProjectContexts
    from kiwi_mcp.kernel.runtime.threads.elicit import Question

__all__ = ["KEY_PREFIX", "SCHEMA", "apply_replies", "ask"]

logger = logging.getLogger("kiwi.mcp")

#: input-request keys: the prefix and the approval's row id
KEY_PREFIX: Final = "kiwi-approval-"
_MODERN: Final = "2026-07-28"
SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {
        "decision": {
            "type": "string",
            "title": "Decision",
            "description": "approve runs this one call; reject tells the model it was refused",
            "enum": ["approve", "reject"],
        },
        "message": {
            "type": "string",
            "title": "Message to the model",
            "description": "What the model reads when you reject (optional)",
        },
    },
    "required": ["decision"],
}
_FORMS: Final = types.ClientCapabilities(
    elicitation=types.ElicitationCapability(form=types.FormElicitationCapability())
)


def _supports_forms(ctx: Any) -> bool:
    try:
        return bool(ctx.session.check_client_capability(_FORMS))
    except Exception:  # a session without capability negotiation: ask nothing
        return False


def _record(envelope: Mapping[str, Any]) -> Mapping[str, Any] | None:
    data = envelope.get("data") if envelope.get("ok") else None
    if isinstance(data, Mapping) and data.get("pending_approvals"):
        return data
    return None


async def _questions(
    contexts: ProjectContexts, args: Mapping[str, Any], record: Mapping[str, Any]
) -> list[Question]:
    from kiwi_mcp.kernel.faces.mcp.actions import off_loop
    from kiwi_mcp.kernel.runtime.threads.elicit import questions

    kernel = contexts.kernel(args.get("project_path"))
    try:
        return await off_loop(kernel, questions, kernel.project_root, record)
    except KiwiError as err:  # a thread gone meanwhile: nothing to ask
        logger.debug("no approval asked over MCP: %s", err.message)
        return []


def _form(question: Question) -> types.ElicitRequest:
    return types.ElicitRequest(
        params=types.ElicitRequestFormParams(message=question.message(), requested_schema=SCHEMA)
    )


async def ask(
    contexts: ProjectContexts,
    ctx: Any,
    args: Mapping[str, Any],
    envelope: Mapping[str, Any],
    *,
    replied: frozenset[int] = frozenset(),
) -> types.InputRequiredResult | bool:
    """Put the record's waiting calls to the client's user, but for those ``replied`` to in
    this call already (a dismissed question is not asked again at once). Returns the
    ``input_required`` result to answer with (2026-07-28), True when the user answered
    inline (earlier protocols: run the call again), or False when nothing was asked."""
    record = _record(envelope)
    if record is None or not _supports_forms(ctx):
        return False
    asked = [q for q in await _questions(contexts, args, record) if q.approval_id not in replied]
    if not asked:
        return False
    if str(getattr(ctx, "protocol_version", "")) >= _MODERN:
        return types.InputRequiredResult(
            input_requests={f"{KEY_PREFIX}{q.approval_id}": _form(q) for q in asked},
            request_state=json.dumps({"approvals": [q.approval_id for q in asked]}),
        )
    answered = False
    for question in asked:
        try:
            reply = await ctx.session.elicit_form(question.message(), SCHEMA)
        except Exception:  # no back channel, or the client failed: the CLI still decides
            logger.debug("elicitation not answered", exc_info=True)
            return answered
        if await _decide(contexts, args, question.approval_id, reply):
            answered = True
        else:
            return answered  # dismissed: the record as it is, for the operator
    return answered


async def apply_replies(
    contexts: ProjectContexts, args: Mapping[str, Any], params: types.CallToolRequestParams
) -> frozenset[int]:
    """Record the user's replies carried by a retried call: only to the approvals its
    (verified) ``requestState`` says were asked. Returns the approvals replied to."""
    if not params.input_responses or not params.request_state:
        return frozenset()
    try:
        state = json.loads(params.request_state)
        asked = {int(i) for i in state.get("approvals", ())}
    except (ValueError, TypeError, AttributeError):
        logger.warning("ignored input responses: requestState is not Kiwi's")
        return frozenset()
    replied: set[int] = set()
    for key, reply in params.input_responses.items():
        if isinstance(reply, Mapping):
            try:
                reply = types.ElicitResult.model_validate(reply)
            except ValueError:
                continue
        if not key.startswith(KEY_PREFIX) or not isinstance(reply, types.ElicitResult):
            continue
        try:
            approval_id = int(key[len(KEY_PREFIX) :])
        except ValueError:
            continue
        if approval_id in asked:
            replied.add(approval_id)
            await _decide(contexts, args, approval_id, reply)
    return frozenset(replied)


async def _decide(
    contexts: ProjectContexts, args: Mapping[str, Any], approval_id: int, reply: types.ElicitResult
) -> bool:
    from kiwi_mcp.kernel.runtime.threads.elicit import answer

    kernel = contexts.kernel(args.get("project_path"))
    try:
        done = await answer(
            kernel, kernel.project_root, approval_id, action=reply.action, content=reply.content
        )
    except KiwiError as err:  # decided at the CLI meanwhile, expired, or no operator key
        logger.info("approval %s not decided over MCP: %s", approval_id, err.message)
        return False
    return done is not None
