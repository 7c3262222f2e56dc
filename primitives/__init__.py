"""Kiwi's two primitives: the only code that has effects (SPEC §6).

``run_process`` runs a command; ``HttpClient.request`` sends an HTTP request, streaming SSE
events to sinks. Both take a frozen spec and return a frozen result, and raise only the
``Primitive*`` errors (plus ``CancelledError``). Nothing here imports ``kernel``.

``HttpClient`` and the HTTP spec types are loaded on first use, so ``import primitives``
(``kiwi run`` of a subprocess tool) imports neither httpx nor ``http_spec``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import PrimitiveError, PrimitiveHttpError, PrimitiveTimeout
from .process import run_process
from .process_spec import ProcessResult, ProcessSpec
from .sinks import FileSink, NullSink, ReturnSink, Sink

if TYPE_CHECKING:
    from .http_client import HttpClient
    from .http_spec import NO_BODY, HttpResult, HttpSpec, RetryPolicy

__all__ = [
    "NO_BODY",
    "FileSink",
    "HttpClient",
    "HttpResult",
    "HttpSpec",
    "NullSink",
    "PrimitiveError",
    "PrimitiveHttpError",
    "PrimitiveTimeout",
    "ProcessResult",
    "ProcessSpec",
    "RetryPolicy",
    "ReturnSink",
    "Sink",
    "run_process",
]


_HTTP_SPEC_NAMES = frozenset({"NO_BODY", "HttpResult", "HttpSpec", "RetryPolicy"})


def __getattr__(name: str) -> Any:
    if name == "HttpClient":
        from .http_client import HttpClient

        return HttpClient
    if name in _HTTP_SPEC_NAMES:
        from . import http_spec

        return getattr(http_spec, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
