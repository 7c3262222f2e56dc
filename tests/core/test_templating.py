"""The one templating engine, tested without disk."""

from __future__ import annotations

import pytest

from kiwi_mcp.kernel.core.templating import TemplateContext, bind_link, env_names, render
from kiwi_mcp.kernel.errors import TemplateError

CTX = TemplateContext(
    params={"city": "Oslo", "n": 3, "tags": ["a"], "deep": {"x": {"y": 1}}},
    env={"HOME": "/home/k", "API": "https://api.test"},
    secrets={"KEY": "s3cr3t-value"},
    tool={"path": "/p/.ai/tools/w.yaml", "dir": "/p/.ai/tools", "id": "w", "sha256": "ab"},
    project_path="/p",
    user_path="/u",
    thread_id=None,
)


def test_whole_string_expressions_keep_their_type() -> None:
    out = render({"json": {"n": "${params.n}", "tags": "${params.tags}"}}, CTX).value
    assert out == {"json": {"n": 3, "tags": ["a"]}}


def test_embedded_expressions_are_spliced_as_text() -> None:
    out = render({"url": "${API}/v1/${params.city}?n=${params.n}"}, CTX).value
    assert out == {"url": "https://api.test/v1/Oslo?n=3"}


def test_nested_params_paths_resolve() -> None:
    assert render({"a": "${params.deep.x.y}"}, CTX).value == {"a": 1}


def test_defaults_apply_only_when_missing() -> None:
    out = render({"a": "${params.none:-dflt}", "b": "${params.city:-dflt}", "c": "${NOPE:-}"}, CTX)
    assert out.value == {"a": "dflt", "b": "Oslo", "c": ""}


def test_double_dollar_escapes_and_lone_dollars_stay() -> None:
    out = render({"a": "$${HOME} costs $5 and $$"}, CTX).value
    assert out == {"a": "${HOME} costs $5 and $$"}


def test_context_roots() -> None:
    out = render(
        {
            "args": [
                "${tool.path}",
                "${tool.dir}",
                "${tool.id}",
                "${project.path}",
                "${user.path}",
                "${thread.id:-none}",
                "${params_json}",
            ]
        },
        CTX,
    ).value
    assert out["args"][:6] == ["/p/.ai/tools/w.yaml", "/p/.ai/tools", "w", "/p", "/u", "none"]
    assert out["args"][6].startswith('{"city":"Oslo"')


def test_secrets_are_allowed_in_headers_env_and_body_and_are_reported() -> None:
    out = render({"headers": {"Authorization": "Bearer ${secrets.KEY}"}}, CTX)
    assert out.value == {"headers": {"Authorization": "Bearer s3cr3t-value"}}
    assert out.secrets_used == frozenset({"KEY"})


@pytest.mark.parametrize("section", ["url", "args", "query", "command"])
def test_secrets_elsewhere_are_refused(section: str) -> None:
    with pytest.raises(TemplateError) as info:
        render({section: "${secrets.KEY}"}, CTX)
    assert "only allowed in headers, env and body" in info.value.message


@pytest.mark.parametrize(
    ("template", "fragment"),
    [
        ("${weird.root}", "unknown template root"),
        ("${params.missing}", "${params.missing} has no value"),
        ("${NOT_SET}", "${NOT_SET} has no value"),
        ("${unclosed", "unclosed"),
        ("${thread.id}", "${thread.id} has no value"),
    ],
)
def test_errors_name_the_config_path(template: str, fragment: str) -> None:
    with pytest.raises(TemplateError) as info:
        render({"query": {"q": template}}, CTX)
    assert fragment in info.value.message
    assert info.value.message.startswith("config.query.q:")


def test_missing_secret_hint_names_the_signin_command() -> None:
    with pytest.raises(TemplateError) as info:
        render({"headers": {"X": "${secrets.OTHER}"}}, CTX)
    assert "kiwi auth signin OTHER" in info.value.hint


def test_bind_link_replaces_only_link_expressions() -> None:
    bound = bind_link(
        {"args": ["${link.dir}/run.py", "${tool.path}", "$${link.dir}"]},
        {"dir": "/sys/runtimes", "path": "/sys/runtimes/python.yaml", "id": "runtimes/python"},
    )
    assert bound == {"args": ["/sys/runtimes/run.py", "${tool.path}", "$${link.dir}"]}
    assert render(bound, CTX).value["args"][2] == "${link.dir}"


def test_env_names_collects_upper_case_references() -> None:
    config = {"command": "${KIWI_PYTHON}", "env": {"A": "${HOME:-x}/${params.p}"}, "n": 1}
    assert env_names(config) == {"KIWI_PYTHON", "HOME"}
