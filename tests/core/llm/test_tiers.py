"""``llm/runtime``'s routing: tiers and defaults, the user's then the project's llm.yaml."""

from __future__ import annotations

import pytest

from kiwi_mcp.kernel.core.llm.tiers import merge_llm_config, route
from kiwi_mcp.kernel.errors import ConfigInvalid, ParamsInvalid

BASE = {
    "tiers": {
        "fast": {"provider": "anthropic", "model": "haiku"},
        "balanced": {"provider": "anthropic", "model": "sonnet"},
    },
    "defaults": {"tier": "balanced", "max_tokens": 4096},
}


def test_the_project_wins_over_the_user_over_the_system() -> None:
    merged = merge_llm_config(
        BASE,
        [
            ("user", {"tiers": {"fast": {"model": "user-fast"}}, "defaults": {"max_tokens": 10}}),
            ("project", {"tiers": {"local": {"provider": "openai_compatible", "model": "q"}}}),
        ],
    )
    assert merged["tiers"]["fast"] == {"provider": "anthropic", "model": "user-fast"}
    assert merged["tiers"]["local"]["provider"] == "openai_compatible"
    assert merged["defaults"] == {"tier": "balanced", "max_tokens": 10}


def test_routes() -> None:
    chosen = route(BASE, {"prompt": "hi"})
    assert (chosen.provider, chosen.model, chosen.tier) == (
        "llm/providers/anthropic",
        "sonnet",
        "balanced",
    )
    assert chosen.params == {"prompt": "hi", "model": "sonnet", "max_tokens": 4096}
    assert route(BASE, {"tier": "fast", "model": "other", "prompt": "x"}).model == "other"
    direct = route(BASE, {"provider": "team/gw", "model": "m", "prompt": "x", "max_tokens": 5})
    assert direct.provider == "team/gw" and direct.params["max_tokens"] == 5


def test_errors_name_what_is_wrong() -> None:
    with pytest.raises(ParamsInvalid, match="balanced, fast"):
        route(BASE, {"tier": "huge", "prompt": "x"})
    with pytest.raises(ParamsInvalid, match="model"):
        route(BASE, {"provider": "anthropic", "prompt": "x"})
    with pytest.raises(ConfigInvalid, match="project"):
        merge_llm_config(BASE, [("project llm.yaml", {"tier": "fast"})])
