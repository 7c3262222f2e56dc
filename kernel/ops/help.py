"""The ``help`` tool: guidance topics, and agents' stuck/escalate/checkpoint signals."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from kiwi_mcp.kernel.errors import UsageError

if TYPE_CHECKING:
    from kiwi_mcp.kernel.exec.kernel import Kernel

__all__ = ["TOPICS", "help_topic", "record_signal"]

TOPICS: Final[dict[str, str]] = {
    "overview": (
        "Kiwi keeps an agent's tools, directives and knowledge as files under .ai/ in three "
        "spaces: project (<project>/.ai), user (~/.ai or $KIWI_USER_SPACE) and system "
        "(shipped with Kiwi). The first space holding an id wins; the others are shadowed.\n"
        "Typical loop: 'search' for something that fits → 'load' it to read it → 'execute' "
        "it. Results are envelopes {ok, data, error, meta}; on failure error.code says what "
        "went wrong and error.hint what to do next. Call 'help' with action 'stuck' or "
        "'escalate' when you cannot go on."
    ),
    "search": (
        'search {"query": "weather"} finds items by words; add "item_type" (tool, directive, '
        'knowledge), "source" (project, user, system, all) and "limit". Each hit has its '
        "id, space and the files it shadows."
    ),
    "load": (
        'load {"item_type": "tool", "item_id": "examples/hello"} returns the parsed item, '
        'the raw file and whether it verifies. Add "destination": "project" to copy a '
        "system or user item into the project so you can adapt it (then sign it)."
    ),
    "execute": (
        'execute {"item_type": "tool", "item_id": "examples/hello", "parameters": {"name": '
        '"Ada"}} runs a tool through its chain. "dry_run": true resolves and validates '
        "without running anything. For a directive, execute returns its instructions with "
        "your inputs filled in: follow them yourself. For a knowledge entry it returns the "
        "entry. Errors: PARAMS_INVALID names each bad parameter; PERMISSION_DENIED names "
        "the missing capability; SIGNATURE_MISSING means the file must be signed first."
    ),
    "sign": (
        'sign {"item_type": "tool", "item_id": "weather"} signs project/user items with the '
        "user's key (globs allowed: 'tools/**'). Items must be signed to run under the "
        "default KIWI_VERIFY=signed. The key is made with 'kiwi keys init'. Sign only what "
        "you have reviewed: a signature says the file is trusted to run."
    ),
    "directives": (
        "A directive is Markdown with one ```xml block (<directive name=… version=…> with "
        "<metadata>, <inputs>, <outputs>). Its text is the process to follow; ${inputs.x} "
        "is replaced by the input x. Directives are also offered as MCP prompts."
    ),
    "knowledge": (
        "A knowledge entry is Markdown with optional YAML front matter (title, tags, "
        "references). Entries are also offered as MCP resources: kiwi://knowledge/<id>."
    ),
    "permissions": (
        "What a caller may do comes from <project>/.ai/config/policy.yaml (capabilities "
        "like 'tool.execute:**', 'net.http:api.example.com', 'process.exec:git'). A denial "
        "is a PERMISSION_DENIED result naming the missing capability; ask the user to grant "
        "it rather than working around it."
    ),
    "threads": (
        "execute with thread: true will run a directive in its own managed thread. Threads "
        "are not available yet: use inline mode (thread omitted) and follow the instructions."
    ),
}

_SIGNAL_ADVICE: Final[dict[str, str]] = {
    "stuck": (
        "Recorded. Re-read the last error's hint; 'search' for a directive or knowledge "
        "entry about the task; try a 'dry_run' to see how a tool resolves. If you still "
        "cannot go on, tell the user what you tried and call help with action 'escalate'."
    ),
    "escalate": (
        "Recorded for a human. Stop changing things, tell the user what you need from them "
        "and why, and wait for their answer."
    ),
    "checkpoint": (
        "Recorded. If you changed files, this is a good moment to commit them (git) so the "
        "work can be rolled back to here."
    ),
}


def help_topic(topic: str | None) -> dict[str, Any]:
    """The guidance for ``topic`` (the overview when None) and the list of topics.

    Raises:
        UsageError: an unknown topic; the message lists the known ones.
    """
    name = (topic or "overview").strip().lower()
    text = TOPICS.get(name)
    if text is None:
        raise UsageError(
            f"arguments.topic: no help topic {topic!r}",
            hint=f"Use one of: {', '.join(TOPICS)}.",
            details={"topics": list(TOPICS)},
        )
    return {"topic": name, "text": text, "topics": list(TOPICS)}


def record_signal(kernel: Kernel, action: str, reason: str | None) -> dict[str, Any]:
    """Append an agent's signal to the project's audit log; returns what to do next.

    Raises AuditUnavailable when the audit log cannot be written.
    """
    from kiwi_mcp.kernel.trust.audit.log import params_digest

    kernel.audit.require_writable()
    line = kernel.audit.append(
        {
            "session": kernel.session,
            "thread": None,
            "item": "help",
            "chain": [],
            "params_sha256": params_digest({"action": action, "reason": reason}),
            "decision": "signal",
            "reason": action,
            "caps_used": [],
            "outcome": action,
            "duration_ms": 0,
            # The reason is the message for a human reading the log, so it is kept as text.
            "signal": {"action": action, "reason": reason},
        }
    )
    return {
        "action": action,
        "recorded": True,
        "audit_seq": line["seq"],
        "advice": _SIGNAL_ADVICE[action],
    }
