"""What a thread's runner asks before a tool call runs (SPEC §13.6): the seam between the
turn loop (``turns.py``) and human approval (``approvals.py``).

``Reviewer.review`` is asked before every call's intent is journaled; it may wait for a
decision. ``Reviewer.unknown`` is asked on resume for a call whose outcome is unknown; None
means no decision yet (the thread pauses, as before).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["Review", "Reviewer"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Review:
    """Run the call with ``arguments`` (perhaps edited), or answer it with ``rejected`` as the
    tool's error result under ``code``; ``pause`` stops the thread instead (status given)."""

    arguments: Mapping[str, Any] | None = None
    rejected: str | None = None
    code: str = "APPROVAL_REJECTED"
    pause: str | None = None


class Reviewer(Protocol):
    """``run`` is the ``turns.ThreadRun`` asking (typed loosely: turns imports this module)."""

    async def review(self, run: Any, call: Mapping[str, Any]) -> Review: ...

    async def unknown(self, run: Any, intent: Mapping[str, Any]) -> Review | None: ...
