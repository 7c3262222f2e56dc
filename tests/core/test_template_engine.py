"""The one ``${…}`` engine, held to the three parsers it replaced.

``_template_oracles`` keeps the config engine, the ``env_config.env`` expansion and the
directive instructions rendering as they were before they shared a tokenizer. On random
strings — nested braces, ``:-`` defaults (nested too), ``$${``, unclosed ``${``, unknown
names — each entry point returns what its oracle returns, or raises the same error: class,
code, message, hint, ``at`` and item id.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from kiwi_mcp.kernel.core import directives, templating, text_templates
from kiwi_mcp.kernel.core.env_config import EnvConfig
from kiwi_mcp.kernel.core.items import Directive, DirectiveInput
from kiwi_mcp.kernel.core.template_tokens import CONFIG, Unclosed, tokens
from kiwi_mcp.kernel.core.templating import TemplateContext
from kiwi_mcp.kernel.errors import KiwiError
from tests.core import _template_oracles as oracle

_RUNS = settings(max_examples=400, deadline=None)

# Pieces the interesting cases are made of; joined at random they give unbalanced braces,
# escapes next to openings (``$$${``), lone dollars and defaults outside any expression.
_ATOMS = [
    *("$", "$$", "{", "}", "}}", "${", "$${", ":-", ":", "-", ".", " ", "\n", "é"),
    *("a", "x", "A", "HOME", "_", "1", "inputs.", "params.", "secrets.", "tool.", "link."),
]
_noise = st.lists(st.sampled_from(_ATOMS), max_size=10).map("".join)


def _templates(
    good: list[str], bad: list[str], outer: list[str] | None = None
) -> st.SearchStrategy[str]:
    """Strings mixing noise with well-formed ``${name}`` and ``${name:-default}`` (the name
    from ``outer`` if given), where a default is itself such a string, so defaults nest.
    Names the mode resolves are drawn four times as often as names it refuses, so that a
    good share of strings render."""
    names = st.sampled_from(good * 4 + bad)
    closed = names.map(lambda name: "${" + name + "}")
    opened = names.map(lambda name: "${" + name)  # unclosed unless a later ``}`` closes it
    pieces = st.recursive(
        st.one_of(closed, closed, closed, opened, _noise),
        lambda inner: st.builds(
            lambda name, default: "${" + name + ":-" + default + "}",
            st.sampled_from(outer) if outer else names,
            st.lists(inner, max_size=3).map("".join),
        ),
        max_leaves=8,
    )
    return st.lists(pieces, max_size=5).map("".join)


def _outcome(run: Callable[[], Any]) -> tuple[Any, ...]:
    try:
        return ("ok", run())
    except KiwiError as err:
        return ("error", type(err).__name__, err.to_dict(), err.item_id)


def _kind(outcome: tuple[Any, ...]) -> str:
    """What an outcome was, for ``--hypothesis-show-statistics``: ok, or the error's gist."""
    if outcome[0] == "ok":
        return "ok"
    message: str = outcome[2]["message"]
    gists = ("unclosed", "unknown", "not an environment", "no value", "not set", "only", "declares")
    for gist in gists:
        if gist in message:
            return f"error: {gist}"
    return "error: other"


# --- config: render / compile_template, and bind_link / env_names on the same tokens -----

_config_strings = _templates(
    [
        *("params.a", "params.b.c", "params.b", "params", "params_json", "HOME", " HOME "),
        *("secrets.K", "tool.path", "tool.sha256", "project.path", "user.path"),
    ],
    [
        *("params.none", "UNSET", "lower", "", "secrets.GONE", "tool.nope", "thread.id"),
        *("link.dir", "bogus.root"),
    ],
)
_sections = st.sampled_from(["headers", "env", "body", "url", "args", "command"])
_configs = st.dictionaries(
    _sections,
    st.one_of(
        _config_strings,
        st.lists(_config_strings, max_size=3),
        st.dictionaries(st.sampled_from(["k", "q"]), _config_strings, max_size=2),
    ),
    max_size=3,
)
_CTX = TemplateContext(
    params={"a": "A-value", "b": {"c": 1}, "list": [1, "é"]},
    env={"HOME": "/home/k", "EMPTY": ""},
    secrets={"K": "s3cr3t"},
    tool={"path": "/p/t.py", "dir": "/p", "id": "t", "sha256": "ab"},
    project_path="/p",
    user_path="/u",
    thread_id=None,
)
_LINK = {"path": "/sys/r.yaml", "dir": "/sys", "id": "r"}


def _config_pieces(text: str) -> tuple[Any, ...]:
    try:
        return ("ok", list(tokens(text, CONFIG)))
    except Unclosed:
        return ("unclosed",)


def _oracle_pieces(text: str) -> tuple[Any, ...]:
    try:
        return ("ok", list(oracle._tokens(text, "config")))
    except KiwiError:
        return ("unclosed",)


@_RUNS
@given(text=_config_strings)
@example(text="$$${HOME}")
@example(text="${a:-${b}}")
@example(text="x ${unclosed")
def test_config_pieces_are_the_old_tokenizers(text: str) -> None:
    expected = _oracle_pieces(text)
    event(expected[0])
    assert _config_pieces(text) == expected


@_RUNS
@given(config=_configs)
@example(config={"url": "${params.a}/${HOME:-${x}}", "env": {"k": "$${HOME} ${secrets.K}"}})
@example(config={"args": ["${params.b}", "${link.dir}", "${params.none:-}", "${unclosed"]})
@example(config={"url": "${secrets.K}", "headers": {"k": "${secrets.GONE}"}})
def test_render_and_compile_agree_with_the_old_config_engine(config: dict[str, Any]) -> None:
    def result(render: Callable[[], templating.Templated]) -> Callable[[], Any]:
        return lambda: (lambda done: (done.value, done.secrets_used))(render())

    expected = _outcome(result(lambda: oracle.render(config, _CTX)))
    event(_kind(expected))
    assert _outcome(result(lambda: templating.render(config, _CTX))) == expected
    compiled = templating.compile_template(config)
    assert _outcome(result(lambda: compiled(_CTX))) == expected
    assert _outcome(lambda: templating.bind_link(config, _LINK)) == _outcome(
        lambda: oracle.bind_link(config, _LINK)
    )
    assert _outcome(lambda: templating.env_names(config)) == _outcome(
        lambda: oracle.env_names(config)
    )


# --- env_config.env: expand_env ----------------------------------------------------------

_env_templates = _templates(
    ["HOME", "PATH", "EMPTY", "lower_ok", "VALUE"],
    ["UNSET", "ALSO_UNSET", "1BAD", "A B", "", "HOME ", "params.x"],
)
_envs = st.sampled_from(
    [
        {"HOME": "/home/k", "PATH": "/bin:/usr/bin", "EMPTY": "", "lower_ok": "v"},
        {"HOME": "${PATH}", "PATH": "", "VALUE": "$${x}"},
        {},  # values are used as they are, never expanded
    ]
)


@_RUNS
@given(template=_env_templates, env=_envs)
@example(template="${KIWI_VENV_BIN:-}:${PATH}", env={"PATH": "/bin"})
@example(template="${UNSET:-${ALSO_UNSET:-${HOME}}}/x", env={"HOME": "/h"})
@example(template="${HOME:-$${x}}${UNSET:-$${}y}", env={})
@example(template="${UNSET}${unclosed", env={})
@example(template="${unclosed ${HOME}", env={"HOME": "/h"})
@example(template="${HOME:-${unclosed}", env={"HOME": "/h"})
def test_expand_env_agrees_with_the_old_env_expansion(
    template: str, env: Mapping[str, str]
) -> None:
    where = "env_config.env.X"
    expected = _outcome(lambda: oracle._expand(template, env, where=where))
    event(_kind(expected))
    assert _outcome(lambda: text_templates.expand_env(template, env, where=where)) == expected


@_RUNS
@given(template=_env_templates)
@example(template="${UNSET:-${ALSO_UNSET:-${HOME}}}/x")
@example(template="$${HOME}${PATH}")
def test_the_names_an_env_value_wants_are_the_old_scanners_where_it_expands(
    template: str,
) -> None:
    # Where the value expands at all (an unclosed or malformed one is an error at render
    # time whatever it wants), the tokenizer finds the names the old regex found.
    every = {name: "v" for name in oracle.old_referenced_names(template)}
    if _kind(_outcome(lambda: oracle._expand(template, every, where="w"))) != "ok":
        return
    event("expands")
    config = EnvConfig(env=(("X", template),))
    assert config.referenced_names() == oracle.old_referenced_names(template)


# --- a directive's instructions: render_instructions ------------------------------------

# Mostly ``${PATH:-…${inputs.env}…}``: an expression left as written around one rendered.
_instructions = _templates(
    ["inputs.env", "inputs.hosts", "inputs.opt", "input.env", "PATH", "params.x"],
    ["inputs.gone", "inputs.", "inputs.env ", "inputs.a.b"],
    outer=["PATH", "params.x", "PATH", "params.x", "inputs.env"],
)
_DECLARED = (
    DirectiveInput(name="env", type="string", required=True, default=None, description=""),
    DirectiveInput(name="hosts", type="array", required=False, default=None, description=""),
    DirectiveInput(name="opt", type="string", required=False, default=None, description=""),
)
_inputs = st.sampled_from(
    [
        {"env": "prod", "hosts": ["a", "é"]},
        {},
        {"env": 3, "hosts": {"k": "ü"}, "opt": "${inputs.env}"},
        {"gone": "undeclared but given"},
    ]
)


def _directive(process: str) -> Directive:
    return Directive(
        id="ops/deploy",
        name="deploy",
        version="1.0.0",
        description="",
        category="ops",
        author="",
        model=None,
        permissions=(),
        limits={},
        inputs=_DECLARED,
        outputs=(),
        process=process,
    )


@_RUNS
@given(process=_instructions, inputs=_inputs)
@example(process="keep ${PATH $${x} and ${foo ${inputs.env}}", inputs={"env": "e"})
@example(process="${inputs.env ${inputs.env}", inputs={"env": "e"})
@example(process="$${inputs.env} $$${inputs.env} ${inputs.gone}", inputs={"env": "e"})
@example(process="${inputs.a $${b}", inputs={})
@example(process="${inputs.env} and ${inputs.env", inputs={"env": "e"})
@example(process="${PATH ${inputs.env", inputs={"env": "e"})
def test_render_instructions_agrees_with_the_old_directive_rendering(
    process: str, inputs: Mapping[str, Any]
) -> None:
    directive = _directive(process)
    expected = _outcome(lambda: oracle.render_instructions(directive, inputs))
    event(_kind(expected))
    assert _outcome(lambda: directives.render_instructions(directive, inputs)) == expected
    declared = {entry.name for entry in _DECLARED}
    assert (
        _outcome(
            lambda: text_templates.render_instructions(
                process, inputs, declared=declared, directive_id=directive.id
            )
        )
        == expected
    )
