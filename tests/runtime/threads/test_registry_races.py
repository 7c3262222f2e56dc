"""Real OS processes racing for one registry (SPEC §13.3): N children reserving at once never
overspend the root, spawns are never over-granted, ids never collide, and a new file can be
opened by many processes at once. Each process is started, waits on stdin, and is let go
with the others; every loop is bounded and every wait has a timeout (hang guards, not
timing checks)."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kiwi_mcp.kernel.runtime.threads.registry import Registry
from kiwi_mcp.kernel.runtime.threads.schema import MIGRATIONS
from tests.runtime.threads.registry_support import BASE, T0, Clock, ledger, make, query

REPO = Path(__file__).resolve().parents[3]

RESERVER = """
import json, sys
from decimal import Decimal
from pathlib import Path
from kiwi_mcp.kernel.errors import LimitExceeded
from kiwi_mcp.kernel.runtime.threads.registry import Registry
path, thread_id, tokens, usd = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
price = None if usd == "-" else Decimal(usd)
won, refused = 0, None
with Registry(Path(path)) as registry:
    print("ready", flush=True)
    sys.stdin.readline()
    for _ in range(10_000):
        try:
            held = registry.reserve(thread_id, tokens=tokens, usd=price)
        except LimitExceeded as exc:
            refused = exc.details
            break
        won += 1
        if won % 2:
            registry.settle(held, tokens=None, usd=None)
print(json.dumps({"won": won, "refused": refused}))
"""

SPAWNER = """
import json, sys
from pathlib import Path
from kiwi_mcp.kernel.errors import LimitExceeded
from kiwi_mcp.kernel.runtime.threads.registry import Limits, Registry
made, refused = [], []
with Registry(Path(sys.argv[1]), clock=lambda: float(sys.argv[3])) as registry:
    print("ready", flush=True)
    sys.stdin.readline()
    for _ in range(3):
        try:
            made.append(registry.create(directive="demo/worker", directive_sha256="ab",
                        limits=Limits(), inputs={}, parent=sys.argv[2]).thread_id)
        except LimitExceeded as exc:
            refused.append(exc.details["limit"])
print(json.dumps({"made": made, "refused": refused}))
"""

OPENER = """
import json, sys
from pathlib import Path
from kiwi_mcp.kernel.runtime.threads.registry import Limits, Registry
print("ready", flush=True)
sys.stdin.readline()
with Registry(Path(sys.argv[1]), clock=lambda: float(sys.argv[2])) as registry:
    made = [registry.create(directive="demo/worker", directive_sha256="ab", limits=Limits(),
            inputs={}).thread_id for _ in range(2)]
print(json.dumps({"made": made}))
"""


def race(script: str, argvs: list[list[str]]) -> list[dict[str, Any]]:
    """One process per argv, let go together; what each printed last, as JSON."""
    children = [
        subprocess.Popen(
            [sys.executable, "-c", script, *argv],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for argv in argvs
    ]
    try:
        for child in children:
            assert child.stdout is not None
            assert child.stdout.readline() == "ready\n", child.communicate(timeout=60)[1]
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        results = []
        for child in children:
            out, err = child.communicate(timeout=120)
            assert child.returncode == 0, err
            results.append(json.loads(out.splitlines()[-1]))
        return results
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait(timeout=60)


@pytest.mark.parametrize(
    ("limits", "tokens", "usd", "limit", "budget"),
    [
        ({"tokens": 1000}, 7, "-", "tokens", 1000),
        ({"spend_usd": Decimal("10.00")}, 1, "0.07", "spend", Decimal("10.00")),
    ],
    ids=["tokens", "spend"],
)
def test_eight_processes_reserving_for_their_children_never_overspend_the_root(
    tmp_path: Path, limits: dict[str, Any], tokens: int, usd: str, limit: str, budget: Any
) -> None:
    path = tmp_path / "registry.db"
    with Registry(path, clock=Clock()) as registry:
        root = make(registry, **limits).thread_id
        children = [make(registry, parent=root).thread_id for _ in range(8)]

    results = race(RESERVER, [[str(path), child, str(tokens), usd] for child in children])

    per_call: Any = tokens if usd == "-" else Decimal(usd)
    calls = int(budget // per_call)
    assert calls == 142
    assert sum(r["won"] for r in results) == calls
    for result in results:
        assert (result["refused"]["limit"], result["refused"]["thread_id"]) == (limit, root)
    rows = ledger(path)
    assert len(rows) == calls
    for child, result in zip(children, results, strict=True):
        mine = [json.loads(row["chain"]) for row in rows if row["thread_id"] == child]
        assert mine == [[child, root]] * result["won"]

    def amount(row: Any, column: str) -> Any:
        return row[column] if usd == "-" else Decimal(row[column])

    open_rows = [row for row in rows if row["settled_at"] is None]
    settled = [row for row in rows if row["settled_at"] is not None]
    with Registry(path) as registry:
        top = registry.get(root)
        reserved, spent = (
            (top.reserved_tokens, top.spent_tokens)
            if usd == "-"
            else (top.reserved_usd, top.spent_usd)
        )
        assert reserved + spent == calls * per_call <= budget
        assert reserved == sum(amount(row, "tokens" if usd == "-" else "usd") for row in open_rows)
        assert spent == sum(
            amount(row, "settled_tokens" if usd == "-" else "settled_usd") for row in settled
        )
        assert sum(len(registry.open_reservations(c)) for c in children) == len(open_rows)
        for child, result in zip(children, results, strict=True):
            record = registry.get(child)
            assert record.turn == result["won"]
            assert record.reserved_tokens + record.spent_tokens == tokens * result["won"]


def test_four_processes_spawning_children_get_exactly_the_spawns_allowed(tmp_path: Path) -> None:
    path = tmp_path / "registry.db"
    with Registry(path, clock=Clock()) as registry:
        root = make(registry, spawns=5).thread_id
    assert root == BASE

    results = race(SPAWNER, [[str(path), root, str(T0)] for _ in range(4)])

    made = [thread_id for r in results for thread_id in r["made"]]
    assert sorted(made) == sorted(f"{BASE}_{n}" for n in range(2, 7))
    assert [limit for r in results for limit in r["refused"]] == ["spawns"] * 7
    with Registry(path) as registry:
        assert registry.get(root).spawned == 5
        assert len(registry.list_threads(root=root)) == 6


def test_eight_processes_opening_a_new_registry_at_once_all_get_in(tmp_path: Path) -> None:
    # Switching a new file to WAL is where they collide, and only sometimes: five new files.
    for attempt in range(5):
        path = tmp_path / f"fresh{attempt}" / "registry.db"

        results = race(OPENER, [[str(path), str(T0)] for _ in range(8)])

        made = [thread_id for r in results for thread_id in r["made"]]
        assert sorted(made) == sorted([BASE, *(f"{BASE}_{n}" for n in range(2, 17))])
        versions = query(path, "SELECT version FROM schema_version")
        assert [row[0] for row in versions] == [len(MIGRATIONS)]
        assert query(path, "PRAGMA journal_mode")[0][0] == "wal"
