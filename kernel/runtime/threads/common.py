"""What the runner and the thread ops share: where a thread's files are, the token's
audience, and the price table and context window of a thread's model."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

__all__ = ["AUDIENCE", "model_info_of", "read_token", "thread_folder", "thread_token"]

AUDIENCE: Final = "kiwi-thread"


def thread_folder(project_root: Path, thread_id: str) -> Path:
    return project_root / ".ai" / "threads" / thread_id


def read_token(folder: Path) -> str:
    return (folder / "token").read_text(encoding="utf-8").strip()


def thread_token(project_root: Path, user_space: Path, thread_id: str, *, now: float) -> Any:
    """The thread's token, verified against the operator's trusted keys as of ``now``.

    Raises:
        TokenInvalid: a bad signature, an untrusted key, another audience, or expired.
        OSError: the thread has no token file.
    """
    from kiwi_mcp.kernel.trust.keys import TrustStore
    from kiwi_mcp.kernel.trust.tokens import verify_token

    return verify_token(
        read_token(thread_folder(project_root, thread_id)),
        trusted_keys=TrustStore(user_space).trusted_keys(),
        audience=AUDIENCE,
        now=now,
    )


def model_info_of(harness: Any, provider: str, model: str) -> tuple[dict[str, str] | None, Any]:
    """The provider's price table and context window for ``model`` (None when unlisted)."""
    from kiwi_mcp.kernel.core.llm.pricing import model_info

    chain = harness.resolve(provider)
    models: dict[str, Any] = {}
    for tool in reversed(chain.tools):
        models.update(tool.config.get("models") or {})
    info = model_info(models, model)
    prices = None
    if info.prices is not None:
        p = info.prices
        prices = {
            "input": str(p.input),
            "output": str(p.output),
            "cache_read": str(p.cache_read),
            "cache_write": str(p.cache_write),
        }
    return prices, info.context_window
