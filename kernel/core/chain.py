"""Chain resolution (SPEC §5.1). Pure: links are loaded through a function passed in."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kiwi_mcp.kernel.core.items import Tool
from kiwi_mcp.kernel.core.spaces import LoadedItem, SpaceName, tier_for
from kiwi_mcp.kernel.errors import ChainBroken, ItemNotFound, KiwiError

__all__ = ["MAX_LINKS", "Chain", "LoadLink", "resolve_chain", "tier_for"]

MAX_LINKS = 10

#: load a tool id, looking only in the given spaces
LoadLink = Callable[[str, Sequence[SpaceName]], LoadedItem]


@dataclass(frozen=True, kw_only=True, slots=True)
class Chain:
    """Links from the asked tool down to a primitive."""

    links: tuple[LoadedItem, ...]

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(link.file.id for link in self.links)

    @property
    def tools(self) -> tuple[Tool, ...]:
        return tuple(_tool(link) for link in self.links)

    @property
    def asked(self) -> Tool:
        return _tool(self.links[0])

    @property
    def primitive(self) -> str:
        return self.links[-1].file.id


def _tool(link: LoadedItem) -> Tool:
    assert isinstance(link.item, Tool)
    return link.item


def resolve_chain(asked: LoadedItem, load: LoadLink) -> Chain:
    """Follow ``executor_id`` from ``asked`` to a primitive.

    Raises:
        ChainBroken: a missing link, a cycle, more than ``MAX_LINKS`` links, or a tier
            violation; ``chain`` holds the partial chain ending in ``?``.
        KiwiError: a link that cannot be parsed (with the partial chain added).
    """
    links = [asked]
    seen = {asked.file.id}
    while True:
        current = links[-1]
        tool = _tool(current)
        ids = [link.file.id for link in links]
        if tool.is_primitive:
            return Chain(links=tuple(links))
        executor = tool.executor_id
        assert executor is not None  # parse guarantees it for non-primitives
        if executor in seen:
            raise ChainBroken(
                f"cycle: {' → '.join([*ids, executor])}",
                chain=[*ids, executor],
                at=current.file.id,
                hint=f"Point {current.file.id}'s executor_id at a runtime or a primitive.",
            )
        if len(links) >= MAX_LINKS:
            raise ChainBroken(
                f"the chain is longer than {MAX_LINKS} links",
                chain=[*ids, "…"],
                at=current.file.id,
                hint="Shorten the chain; runtimes should execute through a primitive quickly.",
            )
        allowed = tier_for(current.file.space)
        try:
            link = load(executor, allowed)
        except ItemNotFound:
            above = _found_above(load, executor, allowed)
            reason = (
                f"{current.file.id} ({current.file.space}) may not execute through "
                f"{executor} in the {above} space (tier rule: a link only executes through "
                "its own or a lower space)"
                if above
                else f"{current.file.id} executes through {executor!r}, which does not exist"
            )
            raise ChainBroken(
                f"broken chain: {' → '.join(ids)} → ?: {reason}",
                chain=[*ids, "?"],
                at=current.file.id,
                hint=f"Create the tool {executor!r} or fix {current.file.id}'s executor_id.",
            ) from None
        except KiwiError as err:
            raise err.with_context(chain=[*ids, executor], at=executor) from None
        links.append(link)
        seen.add(link.file.id)


def _found_above(load: LoadLink, executor: str, allowed: Sequence[SpaceName]) -> SpaceName | None:
    for space in ("project", "user"):
        if space in allowed:
            continue
        try:
            load(executor, (space,))
        except KiwiError:
            continue
        return space
    return None
