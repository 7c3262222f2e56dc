"""Capabilities and their coverage (SPEC §9.1). Pure: no disk, no environment, no clock.

A capability is ``<resource>.<action>[:<scope>]``. A granted capability *covers* a wanted
one when it names the same ``resource.action`` (or one that implies it, see
``IMPLIES``) and its scope covers the wanted scope (see ``kiwi_mcp.kernel.trust.globs``; no scope on
the granted side means any). Wanted scopes may themselves be globs, which is how a child
token asks for less than its parent holds.

Kiwi's own state under a project's ``.ai/`` (``STATE_DIRS``: ``config/``, ``logs/``,
``lockfiles/``, ``threads/``, ``index/``) is outside every ``fs.*`` glob such as ``**`` or
``.ai/**`` (SPEC §9.4): only a scope that names the folder literally (``.ai/logs/**``)
covers a path in it, and nothing covers ``.ai/config/``. The operator's set
(``CapabilitySet.operator()``) covers everything.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Final
from urllib.parse import urlsplit

from kiwi_mcp.kernel.errors import ParseError
from kiwi_mcp.kernel.trust.globs import GlobSyntaxError, glob_covers, split_scope

__all__ = [
    "ACTIONS",
    "IMPLIES",
    "STATE_DIRS",
    "Capability",
    "CapabilitySet",
    "covers",
    "exec_capability",
    "http_capability",
]

# resource.action → the kind of scope it takes ("path" globs split on '/', "host" on '.').
ACTIONS: Final[Mapping[str, str]] = {
    "fs.read": "path",
    "fs.write": "path",
    "fs.delete": "path",
    "net.http": "host",
    "process.exec": "path",
    "tool.execute": "path",
    "tool.load": "path",
    "tool.sign": "path",
    "directive.execute": "path",
    "directive.load": "path",
    "directive.sign": "path",
    "knowledge.load": "path",
    "knowledge.sign": "path",
    "mcp.call": "path",
    "spawn.thread": "path",
    "registry.read": "path",
    "registry.write": "path",
    "thread.control": "path",
}

# A granted key also grants each value, over the same scope.
IMPLIES: Final[Mapping[str, tuple[str, ...]]] = {
    "fs.write": ("fs.read",),
    "tool.execute": ("tool.load",),
    "directive.execute": ("directive.load",),
}

#: Kiwi's own folders under ``.ai/``: no ``fs.*`` glob reaches them (``config`` never).
STATE_DIRS: Final = frozenset({"config", "logs", "lockfiles", "threads", "index"})

_ALLOWED_HINT: Final = "Use <resource>.<action>[:<scope>] with one of: " + ", ".join(ACTIONS) + "."


@dataclass(frozen=True, kw_only=True, slots=True)
class Capability:
    """One parsed capability; ``str()`` gives back its canonical text."""

    resource: str
    action: str
    scope: str | None = None

    @classmethod
    def parse(cls, text: str) -> Capability:
        """Parse ``<resource>.<action>[:<scope>]`` (case-sensitive).

        Raises ParseError naming the text: unknown ``resource.action`` (the hint lists the
        allowed ones), or a malformed scope.
        """
        return _parse(text)

    @property
    def name(self) -> str:
        """``resource.action``."""
        return f"{self.resource}.{self.action}"

    @property
    def scope_kind(self) -> str:
        """``"path"`` or ``"host"``."""
        return ACTIONS[self.name]

    def __str__(self) -> str:
        return self.name if self.scope is None else f"{self.name}:{self.scope}"


@lru_cache(maxsize=4096)
def _parse(text: str) -> Capability:
    if not isinstance(text, str):
        raise ParseError(f"capability must be a string, got {type(text).__name__}")
    name, colon, scope = text.partition(":")
    if name not in ACTIONS:
        raise ParseError(
            f"unknown capability '{text}'",
            hint=_ALLOWED_HINT,
            details={"allowed": list(ACTIONS)},
        )
    resource, _, action = name.partition(".")
    if not colon:
        return Capability(resource=resource, action=action, scope=None)
    try:
        _check_scope(name, scope)
    except GlobSyntaxError as err:
        raise ParseError(f"bad scope in capability '{text}': {err}", hint=_ALLOWED_HINT) from None
    return Capability(resource=resource, action=action, scope=scope)


def _check_scope(name: str, scope: str) -> None:
    if ACTIONS[name] == "host":
        host, port = _split_port(scope)
        split_scope(host, "host")
        if port is not None and not (port.isdigit() and 0 < int(port) < 65536):
            raise GlobSyntaxError(f"port '{port}' is not a number from 1 to 65535")
        return
    if name == "process.exec" and "/" in scope:
        raise GlobSyntaxError("process.exec takes a command's base name, without '/'")
    split_scope(scope, "path")


def _split_port(scope: str) -> tuple[str, str | None]:
    """``host[:port]`` → (host, port). A bracketed IPv6 literal keeps its colons."""
    if scope.startswith("["):
        end = scope.find("]")
        if end == -1:
            raise GlobSyntaxError(f"unclosed '[' in '{scope}'")
        rest = scope[end + 1 :]
        if rest and not rest.startswith(":"):
            raise GlobSyntaxError(f"unexpected text after ']' in '{scope}'")
        return scope[: end + 1], (rest[1:] if rest else None)
    host, colon, port = scope.rpartition(":")
    if not colon:
        return scope, None
    return host, port


@lru_cache(maxsize=8192)
def _covers(granted: Capability, wanted: Capability) -> bool:
    if granted.name != wanted.name and wanted.name not in IMPLIES.get(granted.name, ()):
        return False
    if granted.scope is None:
        # no scope is any; for fs.* that is '**', which stops at Kiwi's own state
        return not (granted.resource == "fs" and wanted.scope and _state_dir(wanted.scope))
    if wanted.scope is None:
        # "any" is only covered by a glob that matches everything.
        return granted.scope == "**"
    if wanted.scope_kind == "host":
        g_host, g_port = _split_port(granted.scope)
        w_host, w_port = _split_port(wanted.scope)
        if g_port is not None and g_port != w_port:
            return False
        return glob_covers(g_host, w_host, "host")
    if granted.resource == "fs":
        state = _state_dir(wanted.scope)
        if state is not None and (state == "config" or _state_dir(granted.scope) != state):
            return False
    return glob_covers(granted.scope, wanted.scope, "path")


def _state_dir(scope: str) -> str | None:
    """The Kiwi state folder a path scope names literally (``.ai/logs/x`` → ``logs``).

    Case-folded, so ``.AI/Config`` on a case-insensitive disk is still ``config``.
    """
    head, _, rest = scope.partition("/")
    if head.casefold() != ".ai":
        return None
    name = rest.partition("/")[0].casefold()
    return name if name in STATE_DIRS else None


def covers(granted: Capability | str, wanted: Capability | str) -> bool:
    """True when ``granted`` allows everything ``wanted`` asks for.

    Raises ParseError when either side is a string that does not parse.
    """
    g = granted if isinstance(granted, Capability) else _parse(granted)
    w = wanted if isinstance(wanted, Capability) else _parse(wanted)
    return _covers(g, w)


_MAX_VERDICTS = 1024


def _by_name(caps: tuple[Capability, ...]) -> dict[str, tuple[Capability, ...]]:
    """Index: wanted ``resource.action`` → the granted caps that could cover it."""
    index: dict[str, list[Capability]] = {}
    for cap in caps:
        for name in (cap.name, *IMPLIES.get(cap.name, ())):
            index.setdefault(name, []).append(cap)
    return {name: tuple(found) for name, found in index.items()}


@dataclass(frozen=True, kw_only=True, slots=True)
class CapabilitySet:
    """An immutable set of granted capabilities. An empty set denies everything.

    ``unrestricted`` is the operator's set (``operator()``): it covers every capability,
    Kiwi's own state included. Agents never hold it: it is not a capability string, so no
    policy, token or directive can name it.
    """

    caps: tuple[Capability, ...] = ()
    unrestricted: bool = False
    _index: dict[str, tuple[Capability, ...]] = field(
        init=False, repr=False, compare=False, hash=False
    )
    #: Verdicts for wanted strings: the set never changes, so neither do they.
    _verdicts: dict[str, bool] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", _by_name(self.caps))
        object.__setattr__(self, "_verdicts", {})

    @classmethod
    def operator(cls) -> CapabilitySet:
        """The operator's set: everything (``kiwi run --as-operator``, SPEC §9.4)."""
        return cls(unrestricted=True)

    @classmethod
    def from_strings(cls, texts: Iterable[str]) -> CapabilitySet:
        """Parse each capability; duplicates are dropped, order kept.

        Raises ParseError for the first one that does not parse.
        """
        seen: dict[Capability, None] = {}
        for text in texts:
            seen.setdefault(_parse(text), None)
        return cls(caps=tuple(seen))

    def covers(self, wanted: Capability | str) -> bool:
        """True when some capability in the set covers ``wanted``.

        A ``wanted`` string that does not parse is never covered (so a gate that builds
        capability strings from effects denies rather than crashes).
        """
        if self.unrestricted:
            return True
        if isinstance(wanted, Capability):
            return any(_covers(g, wanted) for g in self._index.get(wanted.name, ()))
        verdict = self._verdicts.get(wanted)
        if verdict is None:
            try:
                parsed = _parse(wanted)
            except ParseError:
                return False
            verdict = any(_covers(g, parsed) for g in self._index.get(parsed.name, ()))
            if len(self._verdicts) < _MAX_VERDICTS:
                self._verdicts[wanted] = verdict
        return verdict

    def missing(self, wanted: Iterable[Capability | str]) -> list[str]:
        """The wanted capabilities this set does not cover, in order, without repeats."""
        out: list[str] = []
        for cap in wanted:
            if not self.covers(cap):
                text = str(cap)
                if text not in out:
                    out.append(text)
        return out

    def attenuate(self, requested: Iterable[Capability | str]) -> CapabilitySet:
        """The requested capabilities that this set covers (the rest are dropped).

        The result never allows anything this set does not. Raises ParseError for a
        requested string that does not parse.
        """
        kept: dict[Capability, None] = {}
        for cap in requested:
            parsed = cap if isinstance(cap, Capability) else _parse(cap)
            if self.covers(parsed):
                kept.setdefault(parsed, None)
        return CapabilitySet(caps=tuple(kept))

    def to_list(self) -> list[str]:
        """The capabilities as strings, in order (the operator's set: every
        ``resource.action`` without a scope)."""
        if self.unrestricted:
            return list(ACTIONS)
        return [str(cap) for cap in self.caps]


def http_capability(url: str) -> str:
    """``net.http:<host>`` for a URL, with ``:<port>`` only when the URL names one.

    Raises ParseError for a URL without a host or with a bad port.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as err:
        raise ParseError(f"bad URL '{url}': {err}") from None
    host = parts.hostname
    if not host:
        raise ParseError(f"URL '{url}' has no host", hint="Use an absolute http(s) URL.")
    if ":" in host:
        host = f"[{host}]"
    return f"net.http:{host}" if port is None else f"net.http:{host}:{port}"


def exec_capability(command: str) -> str:
    """``process.exec:<base name>`` for a command path or name.

    Raises ParseError for an empty command.
    """
    base = posixpath.basename(command.rstrip("/"))
    if not base:
        raise ParseError(f"cannot derive a command name from '{command}'")
    return f"process.exec:{base}"
