"""One LLM call planned (SPEC §12): the chain's merged config and the canonical request in, the
HTTP request for ``http_client`` and what the runner needs to fold and price the answer out.

The merged config of ``provider → protocol → http_client`` holds the HTTP part (``url``,
``headers``, ``timeout``, ``method``), the provider's ``models:`` and the protocol's ``llm:``
data. ``plan_call`` splits them: the HTTP part (with the body built and ``stream`` set) is what
``http_client``'s ``config_schema`` checks and the effect gate sees; the rest stays with the
kernel.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kiwi_mcp.kernel.core.llm.pricing import ModelInfo, model_info
from kiwi_mcp.kernel.core.llm.protocol import Protocol, compile_protocol
from kiwi_mcp.kernel.core.llm.request import CanonicalRequest, build_body, canonical_request

__all__ = ["LLM_KEYS", "LlmCall", "plan_call"]

#: config keys that belong to the kernel's LLM step, never sent to http_client
LLM_KEYS = frozenset({"llm", "models"})


@dataclass(frozen=True, slots=True)
class LlmCall:
    provider: str
    protocol: Protocol
    request: CanonicalRequest
    model: ModelInfo
    body: Mapping[str, Any]


def plan_call(
    config: Mapping[str, Any], params: Mapping[str, Any], *, provider: str
) -> tuple[LlmCall, dict[str, Any]]:
    """The call and the HTTP config for it.

    Raises:
        ParamsInvalid: the canonical request is wrong (the field is named).
        ConfigInvalid: the protocol's data or the provider's ``models`` are wrong.
    """
    protocol = compile_protocol(config.get("llm"))
    request = canonical_request(params)
    model = model_info(config.get("models"), request.model)
    body = build_body(
        request,
        protocol.request,
        max_tokens=model.max_output and min(model.max_output, protocol.request.max_tokens_default),
    )
    http = {k: v for k, v in config.items() if k not in LLM_KEYS}
    http["method"] = str(http.get("method", "POST"))
    http["json"] = body
    stream = dict(http.get("stream") or {})
    stream["transport"] = "sse"
    http["stream"] = stream
    # Retries are the LLM step's (it classifies each failure); the primitive sends once.
    http["retry"] = {"attempts": 1}
    return LlmCall(
        provider=provider, protocol=protocol, request=request, model=model, body=body
    ), http
