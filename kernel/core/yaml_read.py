"""Reading untrusted YAML: item files and the operator's policy (SPEC §4, §9.4).

A few hundred bytes of anchors and aliases can name 10^9 strings (a "billion laughs"), and
any ``repr`` or walk of the result hangs, so anchors and aliases are refused before anything
is built. ``may_hold_anchors`` is a few ``str.find``s; only text where a YAML token could
start with ``&`` or ``*`` is read event by event with libyaml to find them.
"""

from __future__ import annotations

from typing import Any

import yaml

from kiwi_mcp.kernel.errors import ParseError

__all__ = ["load_yaml_mapping", "may_hold_anchors", "refuse_anchors"]

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_ANCHOR_HINT = (
    "Write the value out in full where it is used: item files are read without expanding "
    "references, because a few lines of anchors can stand for gigabytes."
)


def may_hold_anchors(text: str) -> bool:
    """Whether an ``&`` or ``*`` stands where YAML could read an anchor or alias: where a
    token starts — at the start, after a blank, a line break, a BOM, '[', '{' or ',', or
    right after a '?' or a ':' that touches it in flow context (``{?*a : 1}``, ``{"k":*a}``;
    such a ':' follows a blank, a quote, ']', '}' or '?'). Anywhere else it is part of a
    value, or libyaml refuses the document before building anything; a Hypothesis test
    holds this to libyaml. A few ``str.find``s: most files have no '&' or '*'."""
    for mark in ("&", "*"):
        at = text.find(mark)
        while at >= 0:
            if at == 0:
                return True
            before = text[at - 1]
            if before.isspace() or before in "[{,\ufeff":
                return True
            if before in "?:":
                ahead = text[at - 2] if at > 1 else " "
                if ahead.isspace() or ahead in ("[{," if before == "?" else "\"']}?"):
                    return True
            at = text.find(mark, at + 1)
    return False


def refuse_anchors(text: str, label: str, line_offset: int = 0) -> None:
    """Raise at the first anchor or alias; syntax errors are left to the load, which names
    their line. Text that cannot hold one (``may_hold_anchors``) costs nothing more."""
    if not may_hold_anchors(text):
        return
    try:
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
                mark = event.start_mark
                where = f"line {mark.line + 1 + line_offset}: " if mark is not None else ""
                raise ParseError(
                    f"{label}: {where}YAML anchors and aliases are not allowed in item files",
                    at=label,
                    hint=_ANCHOR_HINT,
                )
    except yaml.YAMLError:
        return


def load_yaml_mapping(text: str, label: str, *, line_offset: int = 0) -> dict[str, Any]:
    """The mapping a YAML document holds (empty → ``{}``), by the C safe loader.

    Raises:
        ParseError: an anchor or alias, bad syntax or a value the loader cannot build, with
            the line (``line_offset`` added for YAML embedded in a larger file), or a
            document that is not a mapping.
    """
    refuse_anchors(text, label, line_offset)
    try:
        value = yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1 + line_offset}: " if mark is not None else ""
        raise ParseError(
            f"{label}: {where}invalid YAML: {exc.problem or exc.context}",
            at=label,
            hint="Fix the YAML syntax at that line.",
        ) from None
    except yaml.YAMLError as exc:
        raise ParseError(f"{label}: invalid YAML: {exc}", at=label) from None
    except (ValueError, OverflowError, RecursionError) as exc:
        # A value the constructor cannot build: an integer of more than 4300 digits, a
        # date out of range, nesting deeper than Python's stack.
        raise ParseError(
            f"{label}: invalid YAML: {str(exc)[:200] or type(exc).__name__}",
            at=label,
            hint="Write the value as a quoted string, or nest it less deeply.",
        ) from None
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise ParseError(f"{label}: the document must be a mapping of fields", at=label)
    return value
