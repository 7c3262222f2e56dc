"""A directive's ``<permissions>`` block as capability strings (SPEC §4.1, §9.1). Pure.

Each child element (``<read resource="filesystem" path="…"/>``, ``<http host="…"/>``, …)
names one capability through the table ``_PERMISSIONS``; ``<capability value="…"/>`` gives
one directly. Coverage of the result is ``kiwi_mcp.kernel.trust.capabilities``' business.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from kiwi_mcp.kernel.errors import ParseError
from kiwi_mcp.kernel.trust.capabilities import Capability

__all__ = ["permissions_to_capabilities"]


@dataclass(frozen=True, kw_only=True, slots=True)
class _Permission:
    capability: str
    scope_attr: str | None
    required: bool


def _p(capability: str, scope_attr: str | None, *, required: bool = True) -> _Permission:
    return _Permission(capability=capability, scope_attr=scope_attr, required=required)


_KINDS: Final = ("tool", "directive", "knowledge")

# (tag, resource attribute or None) → what a directive's <permissions> child grants.
_PERMISSIONS: Final[Mapping[tuple[str, str | None], _Permission]] = {
    ("read", "filesystem"): _p("fs.read", "path"),
    ("write", "filesystem"): _p("fs.write", "path"),
    ("delete", "filesystem"): _p("fs.delete", "path"),
    **{(tag, kind): _p(f"{kind}.load", "id") for tag in ("read", "load") for kind in _KINDS},
    ("execute", "tool"): _p("tool.execute", "id"),
    ("execute", "directive"): _p("directive.execute", "id"),
    **{("sign", kind): _p(f"{kind}.sign", "id") for kind in _KINDS},
    ("execute", "process"): _p("process.exec", "command"),
    ("http", None): _p("net.http", "host"),
    ("network", None): _p("net.http", "host"),
    ("call", "mcp"): _p("mcp.call", "id"),
    ("spawn", None): _p("spawn.thread", None, required=False),
    ("read", "registry"): _p("registry.read", None, required=False),
    ("write", "registry"): _p("registry.write", None, required=False),
    ("control", "thread"): _p("thread.control", "id", required=False),
}


def _permission_form(key: tuple[str, str | None], perm: _Permission) -> str:
    tag, resource = key
    attrs = f' resource="{resource}"' if resource else ""
    if perm.scope_attr:
        attrs += f' {perm.scope_attr}="…"'
    if perm.capability == "net.http":
        attrs += ' [port="…"]'
    return f"<{tag}{attrs}/>"


_PERMISSION_HINT: Final = (
    "Use one of: "
    + ", ".join(_permission_form(k, p) for k, p in _PERMISSIONS.items())
    + ', or <capability value="resource.action:scope"/>.'
)


def permissions_to_capabilities(
    elements: Iterable[tuple[str, Mapping[str, str]]],
) -> list[str]:
    """Map a directive's ``<permissions>`` children, as ``(tag, attributes)``, to capabilities.

    The table (``_PERMISSIONS``): ``<read|write|delete resource="filesystem" path=…>`` →
    ``fs.*``; ``<execute resource="tool|directive" id=…>`` → ``*.execute``;
    ``<load|read resource="tool|directive|knowledge" id=…>`` → ``*.load``;
    ``<sign resource=… id=…>`` → ``*.sign``; ``<execute resource="process" command=…>`` →
    ``process.exec``; ``<http|network host=… [port=…]>`` → ``net.http``;
    ``<call resource="mcp" id="server/tool">`` → ``mcp.call``; ``<spawn/>`` →
    ``spawn.thread``; ``<read|write resource="registry">`` → ``registry.*``;
    ``<control resource="thread" [id=…]>`` → ``thread.control``; and
    ``<capability value="…"/>`` for any capability string. Results are in order, without
    repeats. Raises ParseError naming the child for an unknown tag or resource, a missing
    or unexpected attribute, or a scope that does not parse.
    """
    out: list[str] = []
    for position, (tag, attrs) in enumerate(elements, start=1):
        where = f"<permissions> child {position} <{tag}>"
        text = _permission_text(tag, attrs, where)
        try:
            Capability.parse(text)
        except ParseError as err:
            raise ParseError(f"{where}: {err.message}", hint=err.hint) from None
        if text not in out:
            out.append(text)
    return out


def _permission_text(tag: str, attrs: Mapping[str, str], where: str) -> str:
    if tag == "capability":
        _no_other_attrs(attrs, {"value"}, where)
        value = attrs.get("value")
        if not value:
            raise ParseError(f"{where}: missing attribute 'value'", hint=_PERMISSION_HINT)
        return value
    resource = attrs.get("resource")
    perm = _PERMISSIONS.get((tag, resource))
    if perm is None:
        shown = f' resource="{resource}"' if resource is not None else ""
        raise ParseError(f"{where}: unknown permission <{tag}{shown}>", hint=_PERMISSION_HINT)
    allowed = {"resource"} if resource is not None else set()
    if perm.scope_attr:
        allowed.add(perm.scope_attr)
    if perm.capability == "net.http":
        allowed.add("port")
    _no_other_attrs(attrs, allowed, where)
    scope = attrs.get(perm.scope_attr) if perm.scope_attr else None
    if scope is None:
        if perm.required:
            raise ParseError(
                f"{where}: missing attribute '{perm.scope_attr}'"
                " (write '**' explicitly to allow everything)",
                hint=_PERMISSION_HINT,
            )
        return perm.capability
    port = attrs.get("port")
    if port is not None:
        scope = f"{scope}:{port}"
    return f"{perm.capability}:{scope}"


def _no_other_attrs(attrs: Mapping[str, str], allowed: set[str], where: str) -> None:
    extra = sorted(set(attrs) - allowed)
    if extra:
        raise ParseError(
            f"{where}: unexpected attribute '{extra[0]}'"
            f" (allowed: {', '.join(sorted(allowed)) or 'none'})",
            hint=_PERMISSION_HINT,
        )
