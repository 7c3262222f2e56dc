"""The string entry points of the one ``${…}`` engine (SPEC §5.4, §8.1): an
``env_config.env`` value (``expand_env``) and a directive's body (``render_instructions``).
Both read through ``template_tokens.tokens``, as config templating (``templating``) does.
Pure: every value comes in as an argument.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any

from kiwi_mcp.kernel.core.env_config import ENV_NAME
from kiwi_mcp.kernel.core.template_tokens import ENV, INSTRUCTIONS, Unclosed, tokens
from kiwi_mcp.kernel.errors import TemplateError

__all__ = ["expand_env", "render_instructions"]


def expand_env(template: str, env: Mapping[str, str], *, where: str) -> str:
    """``template``, an ``env_config.env`` value, with ``${NAME}`` and ``${NAME:-default}``
    replaced from ``env`` and ``$${`` by ``${``, left to right. A default may hold further
    ``${…}`` and is expanded only when used; values from ``env`` are used as they are.

    Raises:
        TemplateError: an unclosed ``${``, a body that is not ``NAME`` or ``NAME:-…``, or a
            name ``env`` lacks without a default; the message starts with ``where``.
    """
    out: list[str] = []
    try:
        for is_expr, piece in tokens(template, ENV):
            if not is_expr:
                out.append(piece)
                continue
            name, has_default, default = piece.partition(":-")
            if not ENV_NAME.match(name):
                raise TemplateError(
                    f"{where}: '${{{piece}}}' is not an environment reference",
                    hint="env_config.env values may use ${NAME} and ${NAME:-default} only.",
                    at=where,
                )
            if name in env:
                out.append(env[name])
            elif has_default:
                out.append(expand_env(default, env, where=where))
            else:
                raise TemplateError(
                    f"{where}: ${{{name}}} is not set",
                    hint=f"Set {name} in .env or the environment, or write ${{{name}:-default}}.",
                    at=where,
                )
    except Unclosed:
        raise TemplateError(f"{where}: unclosed '${{'", at=where) from None
    return "".join(out)


def render_instructions(
    text: str, inputs: Mapping[str, Any], *, declared: Collection[str], directive_id: str
) -> str:
    """``text``, a directive's process, with ``${inputs.x}`` replaced by input ``x`` (a
    string as it is, any other value as JSON; a declared input left out → empty) and
    ``$${`` by ``${``. Every other ``${…}`` is left as written.

    Raises:
        TemplateError: the text names an input that is not in ``declared``.
    """
    out: list[str] = []
    for is_expr, piece in tokens(text, INSTRUCTIONS):
        if not is_expr:
            out.append(piece)
            continue
        name = piece[len(INSTRUCTIONS.only) :]
        if name not in declared:
            raise TemplateError(
                f"directive {directive_id} uses ${{inputs.{name}}} but declares no input {name!r}",
                item_id=directive_id,
                hint="Declare it in the directive's <inputs> block, or fix the name.",
            )
        if name in inputs:
            value = inputs[name]
            out.append(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
    return "".join(out)
