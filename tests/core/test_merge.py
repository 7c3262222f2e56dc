"""Config merge laws (SPEC §5.3)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from kiwi_mcp.kernel.core.merge import merge_configs, merge_into

scalars = st.one_of(st.integers(), st.text(max_size=3), st.booleans())
leaves = st.one_of(scalars, st.lists(scalars, max_size=3))
# Associativity holds when a key is a mapping in every config or in none (a list replacing a
# mapping erases it, by design), so keys "m*" always hold mappings and "v*" never do.
nested = st.fixed_dictionaries({}, optional={"v1": leaves, "v2": leaves})
configs = st.fixed_dictionaries(
    {}, optional={"m1": nested, "m2": nested, "v1": leaves, "v2": leaves}
)


def test_mappings_merge_lists_replace_and_null_deletes() -> None:
    base = {"env": {"A": "1", "B": "2"}, "args": ["x", "y"], "input": "hi", "timeout": 5}
    top = {"env": {"B": "3", "C": "4"}, "args": ["z"], "input": None}
    assert merge_into(base, top) == {
        "env": {"A": "1", "B": "3", "C": "4"},
        "args": ["z"],
        "timeout": 5,
    }


def test_merge_does_not_modify_its_inputs() -> None:
    base: dict[str, Any] = {"env": {"A": "1"}, "args": ["x"]}
    top: dict[str, Any] = {"env": {"B": "2"}}
    merged = merge_into(base, top)
    merged["env"]["A"] = "changed"
    merged["args"].append("y")
    assert base == {"env": {"A": "1"}, "args": ["x"]}


@given(configs, configs, configs)
def test_merge_is_associative(a: dict[str, Any], b: dict[str, Any], c: dict[str, Any]) -> None:
    assert merge_into(merge_into(a, b), c) == merge_into(a, merge_into(b, c))


@given(configs)
def test_merging_with_empty_is_identity(a: dict[str, Any]) -> None:
    assert merge_into(a, {}) == a
    assert merge_into({}, a) == a


@given(configs, configs)
def test_the_later_config_wins_on_scalars(a: dict[str, Any], b: dict[str, Any]) -> None:
    merged = merge_configs([a, b])
    for key, value in b.items():
        if not isinstance(value, dict):
            assert merged[key] == value
