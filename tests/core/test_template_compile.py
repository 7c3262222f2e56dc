"""A compiled template is prepared once and rendered on many calls: each rendering depends
on its own context only, and hands out containers the caller may change."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kiwi_mcp.kernel.core.templating import TemplateContext, Templated, compile_template
from kiwi_mcp.kernel.errors import TemplateError

_EXPRESSIONS = [
    "params.city",
    "params.n",
    "params.deep.x",
    "params.absent",
    "params.absent:-fallback",
    "params_json",
    "HOME",
    "UNSET_NAME",
    "UNSET_NAME:-d",
    "secrets.KEY",
    "secrets.GONE",
    "secrets.GONE:-none",
    "tool.path",
    "tool.sha256",
    "project.path",
    "user.path",
    "thread.id",
    "thread.id:-no-thread",
    "link.dir",
    "bogus.root",
]

_pieces = st.one_of(
    st.sampled_from(["", "plain", "/a/b", " x ", "$", "$${literal}", "${unclosed", "$$"]),
    st.sampled_from(_EXPRESSIONS).map(lambda e: "${" + e + "}"),
)
_strings = st.lists(_pieces, min_size=1, max_size=4).map("".join)
_scalars = st.one_of(_strings, st.integers(), st.none(), st.booleans(), st.floats(allow_nan=False))
_keys = st.sampled_from(["headers", "env", "body", "json", "url", "args", "command", "k"])
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_keys, inner, max_size=3)),
    max_leaves=12,
)
_configs = st.dictionaries(_keys, _values, max_size=4)
_contexts = st.builds(
    TemplateContext,
    params=st.fixed_dictionaries(
        {"city": st.sampled_from(["Oslo", "Åre"]), "n": st.integers(), "deep": st.just({"x": [1]})}
    ),
    env=st.just({"HOME": "/home/k"}),
    secrets=st.sampled_from([{}, {"KEY": "s3cr3t"}, {"GONE": "g0ne"}]),
    tool=st.just({"path": "/p/t.py", "dir": "/p", "id": "t", "sha256": "ab"}),
    project_path=st.just("/p"),
    user_path=st.just("/u"),
    thread_id=st.sampled_from([None, "th-1"]),
)


def _outcome(run: Any) -> tuple[str, Any]:
    try:
        result: Templated = run()
    except TemplateError as err:
        return "error", (err.message, err.to_dict().get("at"))
    return "ok", (result.value, result.secrets_used)


@settings(max_examples=400, deadline=None)
@given(config=_configs, first=_contexts, second=_contexts)
def test_a_rendering_depends_only_on_its_own_context(
    config: dict[str, Any], first: TemplateContext, second: TemplateContext
) -> None:
    kept = compile_template(config)
    _outcome(lambda: kept(first))  # values, secrets used or an error: nothing may stay behind
    fresh = compile_template(config)
    assert _outcome(lambda: kept(second)) == _outcome(lambda: fresh(second))


def test_results_are_fresh_containers() -> None:
    config = {"headers": {"A": "1"}, "args": ["x", "${params.city}"]}
    compiled = compile_template(config)
    ctx = TemplateContext(params={"city": "Oslo"})
    first = compiled(ctx).value
    first["headers"]["Authorization"] = "Bearer t"
    first["args"].append("more")
    assert compiled(ctx).value == {"headers": {"A": "1"}, "args": ["x", "Oslo"]}
    assert config == {"headers": {"A": "1"}, "args": ["x", "${params.city}"]}
