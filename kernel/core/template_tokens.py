"""The ``${…}`` tokenizer under every template Kiwi renders (SPEC §5.4). Pure.

One scanner reads three syntaxes, one per entry point of ``templating``:

* ``CONFIG`` (``render``, ``compile_template``): every ``${`` opens an expression that ends
  at the first ``}``; an unclosed one is an error.
* ``ENV`` (``expand_env``): an expression ends at its *matching* ``}``, so that defaults
  nest (``${A:-${B:-x}}``); every ``${`` inside counts as an opening, the one of an escape too.
* ``INSTRUCTIONS`` (``render_instructions``): only ``${inputs.…}`` is an expression; any
  other ``${`` (a shell example, a tool's template), closed or not, is text as written.

In all three ``$${`` is a literal ``${``. The scanner finds expressions; what a body means
(names, ``:-`` defaults) and how an error is worded belong to the entry point.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

__all__ = ["CONFIG", "ENV", "INSTRUCTIONS", "Piece", "Syntax", "Unclosed", "tokens"]

#: ``(True, body)`` for an expression ``${body}``, ``(False, text)`` for text. Text between
#: expressions comes as one piece, except that each ``$${`` is its own ``(False, "${")``.
Piece = tuple[bool, str]


@dataclass(frozen=True, kw_only=True, slots=True)
class Syntax:
    """Where an expression ends, which ``${`` open one, and what an unclosed one is."""

    #: the expression ends at its matching ``}`` (else at the first ``}``)
    nested: bool = False
    #: a body must start with this; any other ``${`` is text
    only: str = ""
    #: an unclosed ``${`` raises ``Unclosed`` (else it is text)
    strict: bool = True
    #: finds the next ``$${`` or ``${<only>`` (the scan jumps from one to the next)
    opening: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        opening = re.compile(r"\$\$\{|\$\{" + re.escape(self.only))
        object.__setattr__(self, "opening", opening)


CONFIG = Syntax()
ENV = Syntax(nested=True)
INSTRUCTIONS = Syntax(only="inputs.", strict=False)


class Unclosed(Exception):
    """A strict syntax met a ``${`` without its ``}``; the entry point words the error."""


def tokens(text: str, syntax: Syntax) -> Iterator[Piece]:
    """Split ``text`` into pieces (see ``Piece``), lazily and left to right, so that a
    caller resolving each expression as it comes fails at the first bad one.

    Raises:
        Unclosed: the scan reached an unclosed ``${`` (strict syntaxes only); every piece
            before it has been yielded.
    """
    search, find = syntax.opening.search, text.find
    start = index = 0
    while found := search(text, index):
        index = found.start()
        if text[index + 1] == "$":
            if index > start:
                yield False, text[start:index]
            yield False, "${"
            start = index = index + 3
            continue
        end = _matching(text, index + 2) if syntax.nested else find("}", index + 2)
        if end < 0:
            if syntax.strict:
                raise Unclosed
            index += 1  # the ``$`` is text; a ``${`` further on may still open
            continue
        if index > start:
            yield False, text[start:index]
        yield True, text[index + 2 : end]
        start = index = end + 1
    if start < len(text):
        yield False, text[start:]


def _matching(text: str, start: int) -> int:
    """The index of the ``}`` closing an expression whose body starts at ``start``, or -1."""
    depth = 0
    while (close := text.find("}", start)) >= 0:
        opened = text.find("${", start, close)
        if opened >= 0:
            depth += 1
            start = opened + 2
        elif depth:
            depth -= 1
            start = close + 1
        else:
            return close
    return -1


def references(text: str, syntax: Syntax, name: re.Pattern[str]) -> set[str]:
    """Every ``${NAME}`` or ``${NAME:-…}`` in ``text`` whose ``NAME`` matches ``name``,
    defaults (and malformed heads) searched too. An unclosed ``${`` ends the search: the
    render will say so."""
    found: set[str] = set()
    try:
        for is_expr, piece in tokens(text, syntax):
            if is_expr:
                head, _, default = piece.partition(":-")
                if name.match(head):
                    found.add(head)
                    rest = default
                else:  # a malformed body may still hold references
                    rest = piece
                if "${" in rest:
                    found |= references(rest, syntax, name)
    except Unclosed:
        pass
    return found
