"""Crashes on purpose, for the journal's tests (SPEC §13.5).

With ``KIWI_THREAD_CRASH_AFTER=<event type>[:<n>]`` in its environment, a runner kills itself
with SIGKILL right after the ``n``-th (default the first) append of an event of that type:
``llm_delta`` is mid-stream, ``llm_turn`` before the first intent, ``tool_intent`` before the
call, ``tool_result`` after it. Without the variable the plain ``Transcript`` is used.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kiwi_mcp.kernel.runtime.threads.transcript import Transcript

__all__ = ["ENV", "transcript_for"]

ENV = "KIWI_THREAD_CRASH_AFTER"


class _Crashing(Transcript):
    def __init__(self, path: Path, *, kind: str, nth: int) -> None:
        super().__init__(path)
        self._kind, self._left = kind, nth

    def append(
        self, type: str, payload: Mapping[str, Any], *, durable: bool = True
    ) -> dict[str, Any]:
        event = super().append(type, payload, durable=durable)
        if type == self._kind:
            self._left -= 1
            if self._left == 0:
                os.kill(os.getpid(), signal.SIGKILL)
        return event


def transcript_for(project_root: Path, thread_id: str, env: Mapping[str, str]) -> Transcript:
    """The thread's transcript; one that crashes on cue when ``ENV`` is set."""
    plain = Transcript.for_thread(project_root, thread_id)
    spec = env.get(ENV, "").strip()
    if not spec:
        return plain
    kind, _, nth = spec.partition(":")
    return _Crashing(plain.path, kind=kind, nth=int(nth) if nth.isdigit() else 1)
