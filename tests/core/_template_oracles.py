"""The pre-unification ``${…}`` parsers, kept as oracles for ``test_template_engine.py``.

Until layout change 7 the kernel had three: the config engine of ``kernel/core/templating.py``
(``_tokens`` … ``env_names``), the ``env_config.env`` expansion of
``kernel/services/env/resolver.py`` (``_expand``, ``_closing_brace``) and the directive
instructions of ``kernel/core/directives.py`` (``render_instructions``). Their bodies are
copied here verbatim from the commit before the change; only the imports and the module-level
constants they name are restated. Test-only: nothing in the kernel imports this.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from kiwi_mcp.kernel.core.env_config import ENV_NAME
from kiwi_mcp.kernel.core.items import Directive
from kiwi_mcp.kernel.core.templating import SECRET_SECTIONS, TemplateContext, Templated
from kiwi_mcp.kernel.errors import TemplateError

# -- kernel/core/templating.py ------------------------------------------------------------

_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*\Z")
_MISSING = object()


def _tokens(text: str, where: str) -> Iterator[tuple[bool, str]]:
    """Split a string into (is_expression, text) pieces."""
    i, start, n = 0, 0, len(text)
    while i < n:
        if text.startswith("$${", i):
            if i > start:
                yield False, text[start:i]
            yield False, "${"
            i += 3
            start = i
        elif text.startswith("${", i):
            end = text.find("}", i + 2)
            if end < 0:
                raise TemplateError(f"{where}: unclosed '${{' in {text!r}", at=where)
            if i > start:
                yield False, text[start:i]
            yield True, text[i + 2 : end]
            i = end + 1
            start = i
        else:
            i += 1
    if start < n:
        yield False, text[start:]


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


# -- kernel/services/env/resolver.py ------------------------------------------------------


def _expand(template: str, env: Mapping[str, str], *, where: str) -> str:
    """Expand ``${VAR}``, ``${VAR:-default}`` (defaults may nest) and ``$${`` in ``template``."""
    out: list[str] = []
    index = 0
    while index < len(template):
        if template.startswith("$${", index):
            out.append("${")
            index += 3
            continue
        if not template.startswith("${", index):
            out.append(template[index])
            index += 1
            continue
        end = _closing_brace(template, index + 2)
        if end == -1:
            raise TemplateError(f"{where}: unclosed '${{'", at=where)
        body = template[index + 2 : end]
        name, has_default, default = body.partition(":-")
        if not ENV_NAME.match(name):
            raise TemplateError(
                f"{where}: '${{{body}}}' is not an environment reference",
                hint="env_config.env values may use ${NAME} and ${NAME:-default} only.",
                at=where,
            )
        if name in env:
            out.append(env[name])
        elif has_default:
            out.append(_expand(default, env, where=where))
        else:
            raise TemplateError(
                f"{where}: ${{{name}}} is not set",
                hint=f"Set {name} in .env or the environment, or write ${{{name}:-default}}.",
                at=where,
            )
        index = end + 1
    return "".join(out)


def _closing_brace(text: str, start: int) -> int:
    depth = 0
    for index in range(start, len(text)):
        if text.startswith("${", index):
            depth += 1
        elif text[index] == "}":
            if depth == 0:
                return index
            depth -= 1
    return -1


# -- kernel/core/directives.py ------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\$\$\{|\$\{inputs\.([^}]*)\}")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def render_instructions(directive: Directive, inputs: Mapping[str, Any]) -> str:
    """The process text with ``${inputs.x}`` replaced (an optional input left out → empty).

    Raises:
        TemplateError: the text names an input the directive does not declare.
    """
    declared = {entry.name for entry in directive.inputs}

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        name = match.group(1)
        if name not in declared:
            raise TemplateError(
                f"directive {directive.id} uses ${{inputs.{name}}} but declares no input {name!r}",
                item_id=directive.id,
                hint="Declare it in the directive's <inputs> block, or fix the name.",
            )
        return _text(inputs[name]) if name in inputs else ""

    return _PLACEHOLDER.sub(replace, directive.process)


# kernel/core/env_config.py before the tokenizer: the names an env_config.env value wants.
_REFERENCE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-|\})")


def old_referenced_names(value: str) -> set[str]:
    return {match.group(1) for match in _REFERENCE.finditer(value)}
