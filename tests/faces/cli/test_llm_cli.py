"""The LLM runtime from the terminal (SPEC §12, issue acceptance): a provider added as one
project YAML runs with ``kiwi run llm/providers/<it>``, and through a tier of
``.ai/config/llm.yaml`` with ``kiwi run llm/runtime`` — real processes, the fake on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.support.fake_llm import FakeLLM
from tests.support.project import Project

PROVIDER = """\
version: "1.0.0"
tool_type: llm_provider
executor_id: llm/protocols/anthropic_messages
description: A team's Claude gateway (here the local fake)
config:
  url: "{url}/v1/messages"
  headers: {{anthropic-version: "2023-06-01"}}
  models:
    fake-text:
      context_window: 100000
      max_output: 1000
      pricing: {{input: "3.00", output: "15.00", cache_read: "0.30", cache_write: "3.75"}}
auth: {{service: gateway, header: x-api-key, scheme: ""}}
requires: ["net.http:127.0.0.1"]
"""


@pytest.fixture
def gateway(project: Project) -> Iterator[tuple[Project, FakeLLM]]:
    with FakeLLM() as fake:
        project.write_tool("llm/providers/gateway.yaml", PROVIDER.format(url=fake.base_url))
        project.sign()
        done = project.kiwi("auth", "signin", "gateway", "--token-stdin", stdin="sk-gw-123")
        assert done.returncode == 0, done.stderr
        yield project, fake


def test_a_provider_of_one_project_yaml_runs_with_kiwi_run(
    gateway: tuple[Project, FakeLLM],
) -> None:
    project, fake = gateway
    done = project.kiwi(
        "--json",
        "run",
        "llm/providers/gateway",
        "-p",
        "model=fake-text",
        "-p",
        "prompt=hello",
        "-p",
        "max_tokens=50",
    )
    assert done.returncode == 0, done.stderr
    envelope = json.loads(done.stdout)
    assert envelope["data"]["text"] == "You said: hello"
    # 12 input · 3.00 + 7 output · 15.00 + 3 cache read · 0.30 + 2 cache write · 3.75, per million
    assert envelope["data"]["cost_usd"] == "0.0001494"
    assert envelope["meta"]["chain"] == [
        "llm/providers/gateway",
        "llm/protocols/anthropic_messages",
        "primitives/http_client",
    ]
    assert fake.requests[-1].json["max_tokens"] == 50
    assert fake.requests[-1].headers["x-api-key"] == "sk-gw-123"
    assert "sk-gw-123" not in done.stdout + done.stderr


def test_a_tier_of_the_project_llm_yaml_routes_kiwi_run_llm_runtime(
    gateway: tuple[Project, FakeLLM],
) -> None:
    project, fake = gateway
    config = project.root / ".ai" / "config" / "llm.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        "tiers:\n  local: {provider: gateway, model: fake-text}\ndefaults: {max_tokens: 77}\n"
    )
    done = project.kiwi("--json", "run", "llm/runtime", "-p", "tier=local", "-p", "prompt=hi")
    assert done.returncode == 0, done.stderr
    envelope = json.loads(done.stdout)
    assert envelope["data"]["text"] == "You said: hi"
    assert envelope["data"]["provider"] == "llm/providers/gateway"
    assert envelope["meta"]["chain"][:2] == ["llm/runtime", "llm/providers/gateway"]
    assert fake.requests[-1].json["max_tokens"] == 77


def test_an_unknown_tier_names_the_tiers(gateway: tuple[Project, FakeLLM]) -> None:
    project, fake = gateway
    done = project.kiwi("--json", "run", "llm/runtime", "-p", "tier=nope", "-p", "prompt=hi")
    assert done.returncode != 0
    error = json.loads(done.stdout)["error"]
    assert error["code"] == "PARAMS_INVALID"
    assert "balanced" in error["message"] and "fast" in error["message"]
    assert fake.requests == []


def test_the_audit_line_names_the_chain_and_holds_no_key(
    gateway: tuple[Project, FakeLLM],
) -> None:
    project, _ = gateway
    done = project.kiwi("run", "llm/providers/gateway", "-p", "model=fake-text", "-p", "prompt=x")
    assert done.returncode == 0, done.stderr
    tail = project.kiwi("--json", "audit", "tail", "-n", "1")
    assert "llm/protocols/anthropic_messages" in tail.stdout
    logs = list((project.root / ".ai" / "logs").rglob("*"))
    assert logs and all("sk-gw-123" not in p.read_text() for p in logs if p.is_file())
