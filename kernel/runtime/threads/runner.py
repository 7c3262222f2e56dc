"""The thread runner: the detached process ``threads/spawn_thread`` starts (SPEC §13.1).

``python -m kiwi_mcp.kernel.runtime.threads.runner --project P --thread ID`` loads the thread
from the registry, checks the transcript (a changed line stops it: ``TRANSCRIPT_TAMPERED``),
loads and verifies the directive (the same bytes it was started with), verifies the thread's
token, builds the prompt and drives ``turns.ThreadRun`` to an outcome, which it records.
SIGTERM (``kiwi threads cancel``) cancels the current step: the LLM stream is closed and a
tool's process group killed by the primitives, and the thread ends ``cancelled``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from kiwi_mcp.kernel.errors import ContextExceeded, KiwiError, LimitExceeded

__all__ = ["main", "run_thread"]

_AGENT_GUIDE = "threads/agent_guide"


async def run_thread(project: Path, thread_id: str, env: dict[str, str]) -> str:
    """Run the thread to an outcome; returns the status it ended with."""
    from kiwi_mcp.kernel.exec.kernel import Kernel
    from kiwi_mcp.kernel.runtime.threads.failpoint import transcript_for
    from kiwi_mcp.kernel.runtime.threads.registry import Registry
    from kiwi_mcp.kernel.runtime.threads.signer import Signer
    from kiwi_mcp.kernel.runtime.threads.turns import Outcome, limit_outcome
    from kiwi_mcp.kernel.store.settings import Settings

    settings = Settings.from_environment(project, env=env)
    registry = Registry.for_project(settings.project_root)
    transcript = transcript_for(settings.project_root, thread_id, env)
    signer = Signer(settings.user_space)
    record = registry.get(thread_id)
    resuming = record.status != "created"
    registry.set_status(thread_id, "running", expect=("created", "orphaned", "paused"))
    registry.update(thread_id, pid=os.getpid())
    for reservation in registry.open_reservations(thread_id):
        registry.settle(reservation, tokens=None, usd=None)  # a crash mid-call: worst case
    harness = Kernel(settings)
    agent: Kernel | None = None
    run = None
    outcome: Outcome
    try:
        if resuming:
            check = transcript.verify(signer.check)
            if not check.verified:
                from kiwi_mcp.kernel.errors import TranscriptTampered

                raise TranscriptTampered(
                    f"the transcript of {thread_id} changed at seq {check.first_bad_seq} "
                    f"({check.reason}); the thread will not resume from it",
                    details=check.to_dict(),
                )
        run, agent = _prepare(settings, harness, registry, transcript, signer, thread_id)
        if not resuming:
            transcript.append("system_prompt", {"text": run.system})
            transcript.append("user_message", {"text": _first_message(harness, record)})
        transcript.append("thread_resumed" if resuming else "thread_running", {"pid": os.getpid()})
        outcome = await run.run()
    except asyncio.CancelledError:
        outcome = Outcome(
            status="cancelled", error={"code": "CANCELLED", "message": "cancelled while running"}
        )
    except (LimitExceeded, ContextExceeded) as err:
        outcome = limit_outcome(err)
    except KiwiError as err:
        outcome = Outcome(status="failed", error=err.to_dict())
    finally:
        # --for-thread may have replaced the run's agent kernel: close both
        for kernel in {
            id(k): k for k in (harness, agent, getattr(run, "agent", None)) if k
        }.values():
            await kernel.aclose()
    transcript.append(
        "thread_paused" if outcome.status == "paused" else "thread_finished",
        {
            "status": outcome.status,
            "result": outcome.result,
            "error": dict(outcome.error or {}) or None,
        },
    )
    transcript.checkpoint(signer.sign, signer.key_id)
    registry.set_status(
        thread_id,
        outcome.status,
        result=outcome.result,
        error=dict(outcome.error) if outcome.error else None,
    )
    registry.close()
    return outcome.status


def _first_message(harness: Any, record: Any) -> str:
    from kiwi_mcp.kernel.core.directives import render_instructions
    from kiwi_mcp.kernel.core.items import Directive
    from kiwi_mcp.kernel.ops.load import load_verified

    directive = load_verified(harness, "directive", record.directive).loaded.item
    assert isinstance(directive, Directive)
    return render_instructions(directive, record.inputs)


def _prepare(
    settings: Any, harness: Any, registry: Any, transcript: Any, signer: Any, thread_id: str
) -> tuple[Any, Any]:
    """The directive (its bytes as started), the token's kernel, the offer, the prompt."""
    from kiwi_mcp.kernel.core.items import Directive, Knowledge
    from kiwi_mcp.kernel.core.thread_plan import parse_limits
    from kiwi_mcp.kernel.errors import IntegrityFailed
    from kiwi_mcp.kernel.exec.kernel import Kernel
    from kiwi_mcp.kernel.ops.load import load_verified
    from kiwi_mcp.kernel.runtime.threads.agent_tools import offer
    from kiwi_mcp.kernel.runtime.threads.approvals import Approvals
    from kiwi_mcp.kernel.runtime.threads.common import model_info_of, thread_token
    from kiwi_mcp.kernel.runtime.threads.turns import ThreadRun

    record = registry.get(thread_id)
    verified = load_verified(harness, "directive", record.directive)
    if verified.loaded.sha256 != record.directive_sha256:
        raise IntegrityFailed(
            f"directive {record.directive} changed since the thread started",
            hint="Start a new thread for the changed directive.",
        )
    directive = verified.loaded.item
    assert isinstance(directive, Directive)
    token = thread_token(settings.project_root, settings.user_space, thread_id, now=time.time())
    agent = Kernel(settings, caps=token.capabilities, token_id=token.jti)
    guide = load_verified(harness, "knowledge", _AGENT_GUIDE).loaded.item
    assert isinstance(guide, Knowledge)
    model = dict(directive.model or {})
    info = model_info_of(harness, record.provider, record.model)
    run = ThreadRun(
        thread_id=thread_id,
        agent=agent,
        harness=harness,
        registry=registry,
        transcript=transcript,
        signer=signer,
        offer=offer(agent, directive.tools),
        provider=record.provider,
        model=record.model,
        system=guide.body.strip(),
        max_tokens=int(model.get("max_tokens", 4096)),
        outputs=tuple(directive.outputs),
        prices=info[0],
        context_window=info[1],
        context_policy=str(parse_limits(directive.limits)["context"]),
        unknown_as_error=any(
            op == "unknown_as_error" for _, op, _ in registry.pending_controls(thread_id)
        ),
        reviewer=Approvals(signer),
    )
    return run, agent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kiwi-thread-runner")
    parser.add_argument("--project", required=True)
    parser.add_argument("--thread", required=True)
    args = parser.parse_args(argv)

    async def go() -> str:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        if task is not None:
            loop.add_signal_handler(signal.SIGTERM, task.cancel)
        return await run_thread(Path(args.project), args.thread, dict(os.environ))

    try:
        status = asyncio.run(go())
    except KiwiError as err:
        print(f"kiwi thread runner: {err}", file=sys.stderr)
        return 1
    with contextlib.suppress(Exception):
        print(f"kiwi thread runner: {args.thread} ended {status}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
