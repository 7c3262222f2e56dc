"""Local fake LLM provider servers: Anthropic Messages, OpenAI Chat Completions and OpenAI
Responses, spoken byte-faithfully over real loopback HTTP (llm-wire.md §5).

Usage::

    from tests.support.fake_llm import FakeLLM

    with FakeLLM() as fake:                       # 127.0.0.1, a port of its own
        fake.base_url                             # "http://127.0.0.1:PORT"
        # POST /v1/messages, /v1/chat/completions, /v1/responses; the model picks the scenario
        fake.script("my-model", [{"tool_calls": [{"name": "get_weather",
                                                  "arguments": {"city": "Paris"}}]},
                                 {"text": "It is sunny."}])
        fake.requests[0].json                     # what the client sent
        fake.reset()

Scenarios (the same names on every wire; ``SCENARIOS`` lists them): fake-text, fake-tool,
fake-parallel, fake-split-json, fake-thinking, fake-ping, fake-unknown, fake-length,
fake-refusal, fake-midstream-error, fake-failed, fake-cut, fake-eof, fake-trickle,
fake-429-ms, fake-429-s, fake-429-date, fake-429-cap, fake-529, fake-overloaded-always,
fake-quota, fake-500-noretry. A scripted turn is ``{"text": ...}``, ``{"tool_calls": [...],
"text"?: ...}`` or ``{"scenario": "<name>"}`` (that scenario as on its first request).

Standalone: ``python -m tests.support.fake_llm --port 0 [--script FILE.json]`` prints
``fake-llm: listening on http://127.0.0.1:PORT`` and serves until killed.
"""

from tests.support.fake_llm.scenarios import SCENARIOS
from tests.support.fake_llm.server import FakeLLM, FakeRequest

__all__ = ["SCENARIOS", "FakeLLM", "FakeRequest"]
