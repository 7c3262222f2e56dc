"""Scope globs of capabilities (SPEC §9.1): parsing, matching, and glob-vs-glob coverage.

A scope is a list of *parts* split on a separator: ``/`` for path and id scopes, ``.`` for
host scopes. A part is either ``**`` (zero or more whole parts) or a part pattern in which
``*`` matches zero or more characters inside that one part. Nothing else is special: ``?``
and ``[`` are literal. ``**`` must be a whole part (``a**`` is refused) so that the two
wildcards never blur into each other.

Every concrete part is non-empty, so ``**`` alone matches every scope and a pattern can
never match an empty path segment or DNS label (``/etc`` and ``a//b`` are not matched by
``**``). Host ``**`` matches zero labels too: ``**.example.test`` covers ``example.test``.

Coverage of one glob by another (``wanted ⊆ granted``) is decided symbolically: a wildcard
in *wanted* may only be absorbed by a wildcard in *granted* of at least the same reach.
That is sound (never says "covered" when some instance is not) and exact when *wanted* has
no wildcard; for the rare glob pairs it cannot prove, it answers "not covered".
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final

__all__ = ["SEPARATORS", "GlobSyntaxError", "glob_covers", "has_wildcard", "split_scope"]

SEPARATORS: Final = {"path": "/", "host": "."}

_DEEP: Final = "**"


class GlobSyntaxError(ValueError):
    """A scope that is not a well-formed glob; the message says why."""


def has_wildcard(scope: str) -> bool:
    """True when ``scope`` contains a ``*``."""
    return "*" in scope


@lru_cache(maxsize=4096)
def split_scope(scope: str, kind: str) -> tuple[str, ...]:
    """The parts of ``scope`` (``kind`` is ``"path"`` or ``"host"``).

    Raises GlobSyntaxError for an empty scope or part, ``.``/``..`` path segments, and
    ``**`` mixed with other characters inside one part.
    """
    sep = SEPARATORS[kind]
    if not scope:
        raise GlobSyntaxError("the scope is empty (leave out ':' to mean any)")
    parts = tuple(scope.split(sep))
    for part in parts:
        if not part:
            what = "segment" if kind == "path" else "label"
            raise GlobSyntaxError(f"empty {what} in '{scope}'")
        # '..' and '.' would let a concrete path escape the folder a glob names.
        if kind == "path" and part in (".", ".."):
            raise GlobSyntaxError(f"'{part}' segments are not allowed in '{scope}'")
        if _DEEP in part and part != _DEEP:
            raise GlobSyntaxError(f"'**' must be a whole {_part_word(kind)} in '{scope}'")
    return parts


def _part_word(kind: str) -> str:
    return "segment" if kind == "path" else "label"


@lru_cache(maxsize=4096)
def _compiled(granted: str, kind: str) -> re.Pattern[str]:
    """A regex for a granted glob, matched against ``sep + concrete`` (precompiled once)."""
    sep = SEPARATORS[kind]
    esc_sep = re.escape(sep)
    one = f"[^{esc_sep}]"
    out: list[str] = []
    for part in split_scope(granted, kind):
        if part == _DEEP:
            out.append(f"(?:{esc_sep}{one}+)*")
            continue
        pieces = [re.escape(p) for p in part.split("*")]
        body = f"{one}*".join(pieces)
        # A part made only of '*' must still match a non-empty part.
        if not "".join(pieces):
            body = f"{one}+"
        out.append(esc_sep + body)
    return re.compile("".join(out))


def _part_covers(granted: str, wanted: str) -> bool:
    """Symbolic: every string matched by part pattern ``wanted`` is matched by ``granted``.

    A ``*`` in granted may absorb any run of wanted's characters and stars; a literal in
    granted must meet the same literal in wanted.
    """
    g_len, w_len = len(granted), len(wanted)
    # reach[j]: granted[:i] can absorb wanted[:j]
    reach = [True] + [False] * w_len
    for i in range(g_len):
        ch = granted[i]
        new = [False] * (w_len + 1)
        if ch == "*":
            seen = False
            for j in range(w_len + 1):
                seen = seen or reach[j]
                new[j] = seen
        else:
            for j in range(w_len):
                if reach[j] and wanted[j] == ch:
                    new[j + 1] = True
        reach = new
    return reach[w_len]


@lru_cache(maxsize=8192)
def glob_covers(granted: str, wanted: str, kind: str) -> bool:
    """True when every concrete scope matched by ``wanted`` is matched by ``granted``.

    ``wanted`` may be concrete or a glob (attenuation). Raises GlobSyntaxError when either
    is malformed.
    """
    if not has_wildcard(wanted):
        split_scope(wanted, kind)
        sep = SEPARATORS[kind]
        return _compiled(granted, kind).fullmatch(sep + wanted) is not None
    g_parts = split_scope(granted, kind)
    w_parts = split_scope(wanted, kind)
    # reach[j]: granted parts so far can absorb w_parts[:j]
    reach = [True] + [False] * len(w_parts)
    for g in g_parts:
        new = [False] * (len(w_parts) + 1)
        if g == _DEEP:
            seen = False
            for j in range(len(w_parts) + 1):
                seen = seen or reach[j]
                new[j] = seen
        else:
            for j, w in enumerate(w_parts):
                if reach[j] and w != _DEEP and _part_covers(g, w):
                    new[j + 1] = True
        reach = new
    return reach[len(w_parts)]
