"""Config templating (SPEC §5.4): ``render`` / ``compile_template`` for a chain's merged
config. Pure: every value comes in as an argument.

The one engine is the tokenizer of ``template_tokens``; this module is its config entry
point, ``text_templates`` its two string entry points (``expand_env`` for an
``env_config.env`` value, ``render_instructions`` for a directive's body). ``$${`` is a
literal ``${`` in all three.

Config forms: ``${params.a.b}``, ``${NAME}`` (resolved environment), ``${secrets.NAME}``,
``${tool.path|dir|id|sha256}``, ``${project.path}``, ``${user.path}``, ``${thread.id}``,
``${params_json}``, ``${x:-default}``. Kiwi adds ``${link.path|dir|id}``: the file of the
link whose own config holds the string, bound before the merge by ``bind_link`` (a runtime
names its own helper files this way). A string that is exactly one ``${…}`` keeps the
value's type. Unknown roots and missing values without a default raise ``TemplateError``
naming the config path, before any effect.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from kiwi_mcp.kernel.core.template_tokens import CONFIG, Unclosed, tokens
from kiwi_mcp.kernel.errors import TemplateError

__all__ = [
    "SECRET_SECTIONS",
    "TemplateContext",
    "Templated",
    "bind_link",
    "compile_template",
    "env_names",
    "render",
]

#: top-level config keys where ``${secrets.X}`` may appear
SECRET_SECTIONS = frozenset({"headers", "env", "body", "json"})
_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*\Z")
_MISSING = object()


@dataclass(frozen=True, kw_only=True, slots=True)
class TemplateContext:
    """Everything a template can name."""

    params: Mapping[str, Any]
    env: Mapping[str, str] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict)
    tool: Mapping[str, str] = field(default_factory=dict)
    project_path: str = ""
    user_path: str = ""
    thread_id: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Templated:
    """The rendered value and the names of the secrets it used."""

    value: Any
    secrets_used: frozenset[str]


def _tokens(text: str, where: str) -> Iterator[tuple[bool, str]]:
    """Split a config string into (is_expression, text) pieces."""
    try:
        yield from tokens(text, CONFIG)
    except Unclosed:
        raise TemplateError(f"{where}: unclosed '${{' in {text!r}", at=where) from None


_PIECES: dict[str, tuple[tuple[bool, str], ...]] = {}
_MAX_PIECES = 4096


def _pieces(text: str, where: str) -> tuple[tuple[bool, str], ...]:
    """``_tokens`` of ``text``, memoized: the same config strings are rendered every call."""
    found = _PIECES.get(text)
    if found is None:
        found = tuple(_tokens(text, where))  # raises for a bad string: never memoized
        if len(_PIECES) < _MAX_PIECES:
            _PIECES[text] = found
    return found


_Getter = Callable[[TemplateContext], Any]
#: One compiled expression: its value for a context (``_MISSING`` when absent) and the
#: secret it names, if any.
_Resolver = Callable[[TemplateContext], tuple[Any, str | None]]


def _resolver(expr: str, where: str, section: str) -> _Resolver:
    """Compile one ``${…}`` body: everything about it that does not depend on the context
    is decided here, once; errors about it are raised when the result is called."""
    name, sep, default = expr.partition(":-")
    name = name.strip()
    root, _, rest = name.partition(".")
    secret: str | None = None
    get: _Getter
    if name == "params_json":

        def get(ctx: TemplateContext) -> Any:
            return json.dumps(ctx.params, separators=(",", ":"), ensure_ascii=False)

    elif root == "params":
        parts = tuple(rest.split(".")) if rest else ()

        def get(ctx: TemplateContext) -> Any:
            value: Any = ctx.params
            for part in parts:
                value = value.get(part, _MISSING) if isinstance(value, Mapping) else _MISSING
                if value is _MISSING:
                    break
            return value

    elif root == "secrets":
        if section not in SECRET_SECTIONS:
            return _raiser(
                lambda: TemplateError(
                    f"{where}: ${{secrets.{rest}}} is only allowed in headers, env and body",
                    at=where,
                    hint="Move the secret into a header, an env value or the request body.",
                )
            )
        secret = rest

        def get(ctx: TemplateContext) -> Any:
            return ctx.secrets.get(rest, _MISSING)

    elif root == "tool" and rest in ("path", "dir", "id", "sha256"):

        def get(ctx: TemplateContext) -> Any:
            return ctx.tool.get(rest, _MISSING)

    elif name == "project.path":

        def get(ctx: TemplateContext) -> Any:
            return ctx.project_path

    elif name == "user.path":

        def get(ctx: TemplateContext) -> Any:
            return ctx.user_path

    elif name == "thread.id":

        def get(ctx: TemplateContext) -> Any:
            return ctx.thread_id if ctx.thread_id is not None else _MISSING

    elif root == "link" and rest in ("path", "dir", "id"):
        return _raiser(
            lambda: TemplateError(f"{where}: ${{{name}}} was not bound to a link", at=where)
        )
    elif _ENV_NAME.match(name):

        def get(ctx: TemplateContext) -> Any:
            return ctx.env.get(name, _MISSING)

    else:
        return _raiser(
            lambda: TemplateError(f"{where}: unknown template root in ${{{expr}}}", at=where)
        )

    def resolve(ctx: TemplateContext) -> tuple[Any, str | None]:
        value = get(ctx)
        if value is not _MISSING:
            return value, secret
        if sep:
            return default, None
        if secret is not None:
            raise TemplateError(
                f"{where}: secret {secret!r} has no value",
                at=where,
                hint=f"Store it with 'kiwi auth signin {secret} --token-stdin' "
                f"or put {secret}=… in the project's .env.",
            )
        raise TemplateError(
            f"{where}: ${{{name}}} has no value",
            at=where,
            hint=f"Pass it, or give a default: ${{{name}:-value}}.",
        )

    return resolve


def _raiser(error: Callable[[], TemplateError]) -> _Resolver:
    """A resolver that always fails (a fresh error each time it is rendered)."""

    def resolve(ctx: TemplateContext) -> tuple[Any, str | None]:
        raise error()

    return resolve


def render(config: Mapping[str, Any], ctx: TemplateContext) -> Templated:
    """Render every string of ``config`` (``compile_template(config)(ctx)``; a config rendered
    on many calls is better compiled once).

    Raises:
        TemplateError: unknown root, missing value without default, secret outside
            headers/env/body, or an unclosed ``${``; the message names the config path.
    """
    return compile_template(config)(ctx)


_Node = Callable[[TemplateContext, set[str]], Any]
#: A compiled config node: (True, the value itself) for a constant, else (False, renderer).
_Compiled = tuple[bool, Any]


def compile_template(config: Mapping[str, Any]) -> Callable[[TemplateContext], Templated]:
    """Prepare ``config`` for rendering: its types are walked, its field paths built and
    each ``${…}`` parsed once; the result renders it for a context. A kernel compiles each
    chain's merged config once.

    Containers are rebuilt on every call (a caller may change the result); ``config`` itself
    must not be changed afterwards.
    """
    items = [(key, *_compile(inner, f"config.{key}", key)) for key, inner in config.items()]

    def run(ctx: TemplateContext) -> Templated:
        used: set[str] = set()
        value = {key: (node if constant else node(ctx, used)) for key, constant, node in items}
        return Templated(value=value, secrets_used=frozenset(used))

    return run


def _compile(value: Any, where: str, section: str) -> _Compiled:
    if isinstance(value, str):
        if "$" not in value:
            return True, value
        try:
            pieces = _pieces(value, where)
        except TemplateError:
            # Raised when rendered, not when compiled (a fresh error each time).
            def fail(ctx: TemplateContext, used: set[str]) -> Any:
                return _pieces(value, where)  # raises again: failures are not memoized

            return False, fail

        if len(pieces) == 1 and pieces[0][0]:
            whole = _resolver(pieces[0][1], where, section)

            def one(ctx: TemplateContext, used: set[str]) -> Any:
                value, secret = whole(ctx)
                if secret:
                    used.add(secret)
                return value

            return False, one
        parts = [
            (_resolver(piece, where, section) if is_expr else piece) for is_expr, piece in pieces
        ]

        def text(ctx: TemplateContext, used: set[str]) -> Any:
            out: list[str] = []
            for part in parts:
                if isinstance(part, str):
                    out.append(part)
                    continue
                value, secret = part(ctx)
                if secret:
                    used.add(secret)
                out.append(value if isinstance(value, str) else json.dumps(value))
            return "".join(out)

        return False, text
    if isinstance(value, Mapping):
        entries = [
            (key, *_compile(inner, f"{where}.{key}", section or key))
            for key, inner in value.items()
        ]

        def mapping(ctx: TemplateContext, used: set[str]) -> Any:
            return {key: (node if constant else node(ctx, used)) for key, constant, node in entries}

        return False, mapping
    if isinstance(value, list | tuple):
        elements = [_compile(inner, f"{where}[{i}]", section) for i, inner in enumerate(value)]

        def sequence(ctx: TemplateContext, used: set[str]) -> Any:
            return [node if constant else node(ctx, used) for constant, node in elements]

        return False, sequence
    return True, value


def bind_link(config: Mapping[str, Any], link: Mapping[str, str]) -> dict[str, Any]:
    """Replace ``${link.path|dir|id}`` in one link's own config, before the merge."""

    def bind(value: Any) -> Any:
        if isinstance(value, str) and "${link." in value:
            out: list[str] = []
            for is_expr, piece in _tokens(value, "config"):
                name = piece.strip()
                if is_expr and name.startswith("link.") and name[5:] in link:
                    out.append(link[name[5:]])
                elif is_expr:
                    out.append("${" + piece + "}")
                else:
                    out.append("$${" if piece == "${" else piece)
            return "".join(out)
        if isinstance(value, Mapping):
            return {key: bind(inner) for key, inner in value.items()}
        if isinstance(value, list):
            return [bind(inner) for inner in value]
        return value

    result: dict[str, Any] = bind(config)
    return result


def env_names(value: Any) -> set[str]:
    """Every ``${NAME}`` environment reference in a config (for EnvResolver's wanted keys)."""
    found: set[str] = set()

    def visit(inner: Any) -> None:
        if isinstance(inner, str) and "${" in inner:
            for is_expr, piece in _tokens(inner, "config"):
                name = piece.partition(":-")[0].strip()
                if is_expr and _ENV_NAME.match(name):
                    found.add(name)
        elif isinstance(inner, Mapping):
            for item in inner.values():
                visit(item)
        elif isinstance(inner, list | tuple):
            for item in inner:
                visit(item)

    visit(value)
    return found
