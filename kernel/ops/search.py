"""``search`` over the spaces' indexes (SPEC §10 ``search``, §11 ``kiwi search``, §15).

Each space's index answers from its engines: BM25 over weighted fields (``keyword``), the
nearest embedded items (``semantic``), or both fused by reciprocal rank (``hybrid``, the
default). Items are never re-read to answer: only the files of the hits are stat-ed, and a
hit whose file changed in place since it was indexed is re-indexed before it is shown.
Across spaces the first space holding an id wins; a hit from a space it shadows counts for
the winner, which lists the files it shadows, once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal, get_args

from kiwi_mcp.kernel.core.ids import KINDS, Kind
from kiwi_mcp.kernel.core.spaces import SPACE_ORDER, SpaceName
from kiwi_mcp.kernel.errors import UsageError
from kiwi_mcp.kernel.ops.index import indexes
from kiwi_mcp.kernel.services.index.entries import min_level
from kiwi_mcp.kernel.services.index.keyword import query_words
from kiwi_mcp.kernel.services.index.space_index import SpaceIndex, still_valid
from kiwi_mcp.kernel.services.index.state import Row

if TYPE_CHECKING:
    from kiwi_mcp.kernel.exec.kernel import Kernel

__all__ = [
    "MODES",
    "Mode",
    "SearchHit",
    "check_mode",
    "left_out_count",
    "search",
    "skipped_entries",
]

Mode = Literal["hybrid", "keyword", "semantic"]
MODES: Final[tuple[Mode, ...]] = get_args(Mode)
#: Reciprocal rank fusion's constant (the usual 60: a rank's weight falls off slowly).
RRF_K: Final = 60
#: How deep each half is read before fusing.
DEPTH: Final = 50
#: A semantic-only candidate (no query word in it) is kept in ``hybrid`` only this close:
#: static embeddings put every text somewhere near, and a list of unrelated items for a
#: word nothing contains would be noise.
SEMANTIC_FLOOR: Final = 0.55


@dataclass(frozen=True, kw_only=True, slots=True)
class SearchHit:
    kind: Kind
    id: str
    space: SpaceName
    description: str
    score: float
    path: str
    shadowed: tuple[str, ...] = ()
    signed: bool = True
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.id,
            "space": self.space,
            "description": self.description,
            "score": round(self.score, 4),
            "path": self.path,
            "shadowed": list(self.shadowed),
            "signed": self.signed,
            "error": self.error,
        }


def check_mode(mode: str) -> Mode:
    """Raises: UsageError: ``mode`` is not one of :data:`MODES`."""
    if mode not in MODES:
        raise UsageError(
            f"search mode {mode!r} is not one of {', '.join(MODES)}",
            hint="Use --mode hybrid (the default), keyword or semantic.",
        )
    return mode


@dataclass(frozen=True, kw_only=True, slots=True)
class _Candidate:
    index: SpaceIndex
    kind: Kind
    id: str
    score: float


def search(
    kernel: Kernel,
    query: str,
    *,
    kinds: Sequence[Kind] = KINDS,
    spaces: Sequence[SpaceName] = SPACE_ORDER,
    limit: int = 20,
    mode: str = "hybrid",
    signed: bool = False,
) -> list[SearchHit]:
    """The items of ``kinds`` in ``spaces`` that verify under the kernel's policy (and, with
    ``signed``, carry a trusted signature whatever the policy) and match ``query``, best
    first; an empty query lists them by id.

    Raises:
        UsageError: an unknown ``mode``.
        NotAvailable: the semantic half's model is missing (``semantic``/``hybrid``).
    """
    chosen = check_mode(mode)
    floor = max(min_level(kernel.settings.verify), min_level("signed") if signed else 0)
    with indexes(kernel, spaces) as held:
        hits, stale = _search(held, query, kinds, limit, chosen, floor)
        if stale:
            for index, rows in stale.items():
                index.update_rows(rows)
            hits, _ = _search(held, query, kinds, limit, chosen, floor)
    return hits


def _search(
    held: list[SpaceIndex],
    query: str,
    kinds: Sequence[Kind],
    limit: int,
    mode: Mode,
    floor: int,
) -> tuple[list[SearchHit], dict[SpaceIndex, list[Row]]]:
    words = query_words(query)
    if not words:
        ranked = _listing(held, kinds, floor, limit)
    else:
        ranked = _ranked(held, query, words, kinds, floor, mode, max(DEPTH, limit))
    hits: list[SearchHit] = []
    stale: dict[SpaceIndex, list[Row]] = {}
    seen: set[tuple[str, str]] = set()
    for cand in ranked:
        key = (cand.kind, cand.id)
        if key in seen:
            continue
        seen.add(key)
        hit = _resolve(held, cand, floor, stale)
        if hit is not None:
            hits.append(hit)
            if len(hits) >= limit:
                break
    return hits, stale


def _listing(
    held: list[SpaceIndex], kinds: Sequence[Kind], floor: int, limit: int
) -> list[_Candidate]:
    """An empty query: the first ids of each kind (an indexed read, not the whole space)."""
    out = [
        _Candidate(index=index, kind=row.kind, id=row.id, score=0.0)
        for index in held
        for kind in kinds
        for row in index.state.listing(kind, floor, limit)
    ]
    out.sort(key=lambda c: (c.kind, c.id))
    return out


def _ranked(
    held: list[SpaceIndex],
    query: str,
    words: list[str],
    kinds: Sequence[Kind],
    floor: int,
    mode: Mode,
    depth: int,
) -> list[_Candidate]:
    lexical: list[tuple[float, SpaceIndex, int]] = []
    dense: list[tuple[float, SpaceIndex, int]] = []
    if mode != "semantic":
        for index in held:
            found = index.keyword.search(words, kinds=kinds, min_level=floor, limit=depth)
            lexical.extend((score, index, key) for key, score in found)
    if mode != "keyword":
        from kiwi_mcp.kernel.services.index.embedder import default_embedder

        vector = default_embedder().embed([query])[0]
        for index in held:
            # the vector index holds every kind and level: read deeper, then filter
            dense.extend((sim, index, key) for key, sim in index.nearest(vector, depth * 2))
    lexical.sort(key=lambda t: -t[0])
    dense.sort(key=lambda t: -t[0])
    rows: dict[SpaceIndex, dict[int, tuple[Kind, str, int]]] = {}
    for index in held:
        keys = [k for _, i, k in lexical if i is index] + [k for _, i, k in dense if i is index]
        rows[index] = index.state.briefs(keys)

    def usable(index: SpaceIndex, key: int) -> tuple[Kind, str, int] | None:
        brief = rows[index].get(key)
        return brief if brief is not None and brief[2] >= floor and brief[0] in kinds else None

    scores: dict[tuple[SpaceIndex, int], float] = {}
    if mode == "keyword":
        for score, index, key in lexical:
            scores[(index, key)] = score
    elif mode == "semantic":
        for sim, index, key in dense:
            if usable(index, key) is not None:
                scores[(index, key)] = sim
    else:
        for rank, (_, index, key) in enumerate(lexical[:depth]):
            scores[(index, key)] = 1.0 / (RRF_K + rank + 1)
        rank = 0
        for sim, index, key in dense:
            if rank >= depth or usable(index, key) is None:
                continue
            rank += 1
            if (index, key) in scores or sim >= SEMANTIC_FLOOR:
                scores[(index, key)] = scores.get((index, key), 0.0) + 1.0 / (RRF_K + rank)
    # equal fused scores (first in one half, second in the other) go to the keyword half
    lexical_rank = {(index, key): rank for rank, (_, index, key) in enumerate(lexical)}
    out: list[tuple[float, int, _Candidate]] = []
    for (index, key), score in scores.items():
        brief = usable(index, key)
        if brief is not None:
            cand = _Candidate(index=index, kind=brief[0], id=brief[1], score=score)
            out.append((-score, lexical_rank.get((index, key), len(lexical)), cand))
    out.sort(key=lambda t: (t[0], t[1], t[2].kind, t[2].id))
    return [cand for _, _, cand in out]


def _resolve(
    held: list[SpaceIndex],
    cand: _Candidate,
    floor: int,
    stale: dict[SpaceIndex, list[Row]],
) -> SearchHit | None:
    """The hit for ``cand``'s id as the first space holding it has it; None when that file
    does not verify (the id would run it, so no lower file is offered instead)."""
    kind, item_id = cand.kind, cand.id
    holders = [(index, index.state.by_id(kind, item_id)) for index in held]
    holders = [(index, rows) for index, rows in holders if rows]
    if not holders:
        return None
    index, rows = holders[0]
    winner = rows[0] if len(rows) == 1 else None
    if winner is None or winner.level < floor:
        return None
    if not still_valid(winner):
        stale.setdefault(index, []).append(winner)
        return None
    shadowed = tuple(f"{i.space.name}:{r.path}" for i, rs in holders[1:] for r in rs)
    return SearchHit(
        kind=kind,
        id=item_id,
        space=index.space.name,
        description=winner.description,
        score=cand.score,
        path=winner.path,
        shadowed=shadowed,
        signed=winner.level >= 2,
    )


def skipped_entries(
    kernel: Kernel, *, kinds: Sequence[Kind] = KINDS, spaces: Sequence[SpaceName] = SPACE_ORDER
) -> list[dict[str, str]]:
    """What the last listing of ``kinds`` in ``spaces`` left out and why (symlink loops,
    dangling links, FIFOs…), each path relative to its space's ``.ai`` folder: shown next to
    search results so a broken entry is reported, never silently missing. Read from the
    indexes as the search just left them: nothing is listed or refreshed for it."""
    out: list[dict[str, str]] = []
    with indexes(kernel, spaces, fresh=False) as held:
        for index in held:
            for kind, path, reason in index.state.skipped():
                if kind in kinds:
                    out.append(
                        {"kind": kind, "space": index.space.name, "path": path, "reason": reason}
                    )
    return out


def left_out_count(
    kernel: Kernel, *, kinds: Sequence[Kind] = KINDS, spaces: Sequence[SpaceName] = SPACE_ORDER
) -> int:
    """How many items of ``kinds`` the indexes hold but never return under the kernel's
    ``KIWI_VERIFY`` (unsigned, changed, unreadable): said next to results, so an item that
    is missing for a reason is not mistaken for one that does not exist (``kiwi index
    status`` names each). Read as the search just left the indexes."""
    floor = min_level(kernel.settings.verify)
    with indexes(kernel, spaces, fresh=False) as held:
        return sum(i.state.left_out_count(floor, kinds) for i in held)
