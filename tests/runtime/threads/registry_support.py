"""What the registry tests share: a clock the test sets, a thread maker, a raw look at the
file through a connection of the test's own."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from kiwi_mcp.kernel.runtime.threads.registry import Limits, Registry, ThreadRecord

T0 = 1_735_689_600.0  # 2025-01-01 00:00:00 UTC
BASE = "demo_worker_20250101_000000"  # the id of the first demo/worker thread made at T0


class Clock:
    """Stands still until the test moves it."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def make(
    registry: Registry, *, parent: str | None = None, directive: str = "demo/worker", **limits: Any
) -> ThreadRecord:
    return registry.create(
        directive=directive,
        directive_sha256="ab" * 32,
        limits=Limits(**limits),
        inputs={"topic": "kiwis"},
        parent=parent,
    )


def query(path: Path, sql: str) -> list[sqlite3.Row]:
    with closing(sqlite3.connect(path)) as db:
        db.row_factory = sqlite3.Row
        return db.execute(sql).fetchall()


def ledger(path: Path) -> list[sqlite3.Row]:
    return query(path, "SELECT * FROM ledger ORDER BY id")
