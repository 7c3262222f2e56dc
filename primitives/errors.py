"""The primitives' own small error tree.

Primitives import nothing from ``kernel`` (SPEC §2), so they raise these; the kernel maps
``code`` onto its error tree (``TIMEOUT`` → ``ExecutionTimeout``, ``HTTP_ERROR`` → ``HttpError``,
``EXECUTION_FAILED`` → ``ExecutionFailed``). Messages and ``details`` never hold a secret: no
request headers, no query strings, no environment values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["PrimitiveError", "PrimitiveHttpError", "PrimitiveTimeout"]


class PrimitiveError(Exception):
    """An effect failed. ``code`` is a stable SPEC §5.5 code, ``details`` structured context."""

    def __init__(
        self, code: str, message: str, *, details: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details: dict[str, Any] = dict(details or {})

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r})"


class PrimitiveTimeout(PrimitiveError, TimeoutError):
    """The effect ran out of time. ``partial`` is what was gathered before (or None)."""

    def __init__(
        self,
        message: str,
        *,
        partial: Any = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__("TIMEOUT", message, details=details)
        self.partial = partial


class PrimitiveHttpError(PrimitiveError):
    """The server answered with an error (status ≥ 400, or an error event inside a stream).

    ``details`` holds ``status``, the response ``headers`` (cookies removed) and the ``body``
    (parsed JSON or text, truncated).
    """

    def __init__(
        self, message: str, *, status: int, details: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__("HTTP_ERROR", message, details=details)
        self.status = status
