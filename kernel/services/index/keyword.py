"""The keyword half: exact BM25 over weighted fields, in tantivy (SPEC §15).

Each document holds an item's integer key (the row of the index's state database), its
kind and trust level as filter fields, and four text fields weighted as SPEC §15 lists them.
Filters are clauses of the query, so they run inside the engine; nothing is stored but the
key. tantivy's commit is atomic: a reader sees the last commit whatever happens to a writer.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from kiwi_mcp.kernel.core.ids import KINDS, Kind

if TYPE_CHECKING:
    import tantivy

__all__ = ["FIELD_BOOSTS", "KeywordDoc", "KeywordIndex", "query_words"]

#: Tuned on BFCL (bench/bench_search.py bfcl): a tool's parameters (its body) say as much as
#: its description; a strong name boost ranks every "calculate_*" over the right tool.
FIELD_BOOSTS: Final = {"name": 1.0, "description": 1.0, "tags": 0.8, "body": 1.0}
#: The weight of a query word that is an item's whole name (the last segment of its id).
EXACT: Final = 3.0
_WORD: Final = re.compile(r"[a-z0-9]+")
#: tantivy's default tokenizer drops longer tokens; so do we, so a query term always exists.
_MAX_WORD: Final = 40
_HEAP: Final = 64 * 1024 * 1024


#: Words that say nothing of what a tool does: dropped from a query that has other words
#: (an agent's intent is a sentence; "the" would rank by whose description is shortest).
STOP_WORDS: Final = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "can",
        "could",
        "do",
        "does",
        "for",
        "from",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "me",
        "my",
        "of",
        "on",
        "or",
        "please",
        "should",
        "so",
        "some",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "this",
        "to",
        "us",
        "want",
        "was",
        "we",
        "what",
        "when",
        "where",
        "which",
        "who",
        "will",
        "with",
        "would",
        "you",
        "your",
    ]
)


def query_words(text: str) -> list[str]:
    """The words of a query as the engine indexes them (no query syntax reaches tantivy),
    without stop words unless there is nothing else."""
    words = [w for w in _WORD.findall(text.lower()) if len(w) <= _MAX_WORD]
    kept = [w for w in words if w not in STOP_WORDS]
    return list(dict.fromkeys(kept or words))[:64]


@dataclass(frozen=True, kw_only=True, slots=True)
class KeywordDoc:
    key: int
    kind: Kind
    level: int
    exact: str
    name: str
    description: str
    tags: str
    body: str


def _schema() -> tantivy.Schema:
    import tantivy

    builder = tantivy.SchemaBuilder()
    builder.add_integer_field("key", stored=False, indexed=True, fast=True)
    builder.add_integer_field("level", stored=False, indexed=True, fast=True)
    builder.add_text_field("kind", stored=False, tokenizer_name="raw", index_option="basic")
    builder.add_text_field("exact", stored=False, tokenizer_name="raw", index_option="basic")
    for name in FIELD_BOOSTS:
        builder.add_text_field(name, stored=False, tokenizer_name="en_stem", index_option="freq")
    return builder.build()


class KeywordIndex:
    """One space's tantivy index in ``folder``; one writer at a time (the caller's lock)."""

    def __init__(self, folder: Path) -> None:
        import tantivy

        folder.mkdir(parents=True, exist_ok=True)
        self._tantivy = tantivy
        self.schema = _schema()
        self.index = tantivy.Index(self.schema, path=str(folder), reuse=True)
        self._writer: tantivy.IndexWriter | None = None
        self.folder = folder
        self._stamp: tuple[int, int] | None = None

    def _writing(self) -> tantivy.IndexWriter:
        if self._writer is None:
            self._writer = self.index.writer(_HEAP, 1)
        return self._writer

    def delete(self, keys: Iterable[int]) -> None:
        writer = self._writing()
        for key in keys:
            writer.delete_documents_by_term("key", key)

    def add(self, docs: Iterable[KeywordDoc]) -> None:
        writer = self._writing()
        for doc in docs:
            writer.add_document(
                self._tantivy.Document(
                    key=doc.key,
                    level=doc.level,
                    kind=doc.kind,
                    exact=doc.exact,
                    name=doc.name,
                    description=doc.description,
                    tags=doc.tags,
                    body=doc.body,
                )
            )

    def commit(self) -> None:
        """Make every change since the last commit visible at once, then release the writer
        (and its lock file) so another process can write next."""
        if self._writer is not None:
            self._writer.commit()
            self._writer.wait_merging_threads()
            self._writer = None
        self.index.reload()

    def rollback(self) -> None:
        if self._writer is not None:
            self._writer.rollback()
            self._writer = None

    def search(
        self, words: Sequence[str], *, kinds: Sequence[Kind], min_level: int, limit: int
    ) -> list[tuple[int, float]]:
        """(key, BM25 score) of the best ``limit`` documents matching any of ``words``."""
        if not words:
            return []
        t = self._tantivy
        text = self.index.parse_query(
            " ".join(words), list(FIELD_BOOSTS), field_boosts=dict(FIELD_BOOSTS)
        )
        # a word that is an item's whole name (``python`` for runtimes/python) ranks it first
        named = [
            (
                t.Occur.Should,
                t.Query.boost_query(t.Query.term_query(self.schema, "exact", w), EXACT),
            )
            for w in words
        ]
        either = t.Query.boolean_query([(t.Occur.Should, text), *named])
        clauses: list[tuple[tantivy.Occur, tantivy.Query]] = [(t.Occur.Must, either)]
        if set(kinds) != set(KINDS):
            kinds_query = t.Query.term_set_query(self.schema, "kind", list(kinds))
            clauses.append((t.Occur.Must, kinds_query))
        if min_level > 0:
            level = t.Query.range_query(self.schema, "level", t.FieldType.Integer, min_level, None)
            clauses.append((t.Occur.Must, level))
        searcher = self._searcher()
        hits = searcher.search(t.Query.boolean_query(clauses), limit, count=False).hits
        if not hits:
            return []
        keys = searcher.fast_field_values("key", [address for _, address in hits])
        return [(int(k), float(s)) for (s, _), k in zip(hits, keys, strict=True) if k is not None]

    def _searcher(self) -> tantivy.Searcher:
        """A searcher of the last commit, whichever process made it (``meta.json`` is
        replaced at every commit)."""
        try:
            st = os.stat(self.folder / "meta.json")
            stamp: tuple[int, int] | None = (st.st_ino, st.st_mtime_ns)
        except OSError:
            stamp = None
        if stamp != self._stamp:
            self.index.reload()
            self._stamp = stamp
        return self.index.searcher()

    def count(self) -> int:
        return int(self._searcher().num_docs)
