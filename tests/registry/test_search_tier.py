"""``search(source: registry|all)`` over the MCP face (SPEC §16, the search tier): the
registry's hits come after the local ones, each saying ``tier: registry``; ``all`` reaches for
a registry only when the server was given ``KIWI_REGISTRY``; an unreachable one under ``all``
is a warning next to the local results, under ``registry`` an error."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from kiwi_mcp.kernel.faces.mcp.actions import run_tool
from kiwi_mcp.kernel.faces.mcp.contexts import ProjectContexts
from kiwi_mcp.kernel.ops.registry import login, publish
from tests.registry.conftest import LiveRegistry
from tests.registry.people import GREET, Person, person


def _search(carol: Person, source: str, query: str, **env: str) -> dict[str, Any]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("KIWI_")}
    base["KIWI_WARM"] = "0"  # a `kiwi` its tools start runs in-process
    contexts = ProjectContexts(
        [carol.project],
        env={**base, "KIWI_USER_SPACE": str(carol.user_space), "KIWI_VERIFY": "hash", **env},
    )
    args = {"query": query, "source": source, "limit": 10, "mode": "keyword"}
    envelope: dict[str, Any] = asyncio.run(run_tool(contexts, "search", args))
    return envelope


def test_the_registry_tier_of_search(registry: LiveRegistry, tmp_path: Path) -> None:
    alice, carol = person(tmp_path, "alice"), person(tmp_path, "carol")
    alice.run(lambda k: login(k, registry.url, "alice"))
    alice.write_tool("alice/greet", GREET.format(word="hello"))
    alice.run(lambda k: publish(k, registry.url, "tool", "alice/greet"))
    carol.write_tool("carol/greet", GREET.format(word="howdy"), sign=False)

    only = _search(carol, "registry", "friendly hello", KIWI_REGISTRY=registry.url)
    assert only["ok"], only
    assert [(h["id"], h["tier"]) for h in only["data"]["hits"]] == [("alice/greet", "registry")]

    both = _search(carol, "all", "friendly", KIWI_REGISTRY=registry.url)
    assert both["ok"], both
    tiers = [(h["id"], h.get("tier", h.get("space"))) for h in both["data"]["hits"]]
    assert ("carol/greet", "project") in tiers and ("alice/greet", "registry") in tiers
    assert tiers.index(("carol/greet", "project")) < tiers.index(("alice/greet", "registry"))

    local = _search(carol, "all", "friendly")  # no KIWI_REGISTRY: no network call at all
    assert "registry" not in local["data"]
    assert all("tier" not in h for h in local["data"]["hits"])
    unset = _search(carol, "registry", "friendly")
    assert not unset["ok"] and "KIWI_REGISTRY" in unset["error"]["message"]

    gone = "http://127.0.0.1:9"  # nothing listens there
    warned = _search(carol, "all", "friendly", KIWI_REGISTRY=gone)
    assert warned["ok"] and warned["data"]["registry_warning"], warned
    assert [h["id"] for h in warned["data"]["hits"]] == ["carol/greet"]
    assert not _search(carol, "registry", "friendly", KIWI_REGISTRY=gone)["ok"]
