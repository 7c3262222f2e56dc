"""The lockfile store under concurrent writers and writers killed mid-write."""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import time
from multiprocessing.synchronize import Barrier, Event
from pathlib import Path

from kiwi_mcp.kernel.services.lockfiles.store import LockedLink, Lockfile, LockfileStore

FORK = multiprocessing.get_context("fork")


def _lockfile(tool_id: str, integrity_digit: int) -> Lockfile:
    integrity = f"{integrity_digit % 10}" * 64
    return Lockfile(
        root={"id": tool_id, "version": "1.0.0", "integrity": integrity},
        chain=(
            LockedLink(
                id=tool_id,
                version="1.0.0",
                space="project",
                integrity=integrity,
                executor_id="primitives/subprocess",
            ),
            LockedLink(
                id="primitives/subprocess",
                version="1.0.0",
                space="system",
                integrity="f" * 64,
                executor_id=None,
            ),
        ),
        kernel={"version": "0.1.0"},
        pins={f"pin{n}": "e" * 64 for n in range(integrity_digit % 7)},
    )


def _assert_nothing_torn(root: Path) -> int:
    """Every lockfile present parses and the index parses; returns the lockfile count."""
    count = 0
    for path in root.rglob("*.lock.json"):
        Lockfile.from_bytes(path.read_bytes(), source=str(path))
        count += 1
    index_path = root / ".index.json"
    if index_path.exists():
        index = json.loads(index_path.read_bytes())
        assert index["index_version"] == 1
        assert isinstance(index["entries"], dict)
    return count


def _freeze_many(root: Path, worker: int, barrier: Barrier) -> None:
    barrier.wait(timeout=30)
    store = LockfileStore([root])
    for round_ in range(15):
        store.freeze(_lockfile(f"tools/worker{worker}", round_))
        store.freeze(_lockfile("shared", worker + round_))


def test_ten_concurrent_freezing_processes_leave_a_complete_valid_index(tmp_path: Path) -> None:
    barrier = FORK.Barrier(10)
    workers = [FORK.Process(target=_freeze_many, args=(tmp_path, n, barrier)) for n in range(10)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert [worker.exitcode for worker in workers] == [0] * 10
    assert _assert_nothing_torn(tmp_path) == 11
    index = json.loads((tmp_path / ".index.json").read_bytes())
    expected = {f"tools/worker{n}@1.0.0.lock.json" for n in range(10)} | {"shared@1.0.0.lock.json"}
    assert set(index["entries"]) == expected
    assert not list(tmp_path.rglob("*.tmp"))


def _freeze_forever(root: Path, started: Event) -> None:
    store = LockfileStore([root])
    round_ = 0
    started.set()
    while True:
        round_ += 1
        store.freeze(_lockfile("llm/provider", round_))
        store.freeze(_lockfile(f"tools/t{round_ % 5}", round_))


def test_a_writer_killed_at_random_points_never_leaves_a_torn_file(tmp_path: Path) -> None:
    rng = random.Random(8785)
    for _ in range(50):
        started = FORK.Event()
        child = FORK.Process(target=_freeze_forever, args=(tmp_path, started))
        child.start()
        assert started.wait(timeout=30)
        time.sleep(rng.uniform(0.0, 0.02))  # the kill lands at an arbitrary point of a freeze
        assert child.pid is not None
        os.kill(child.pid, signal.SIGKILL)
        child.join(timeout=30)
        assert child.exitcode == -signal.SIGKILL
        _assert_nothing_torn(tmp_path)
    assert (tmp_path / "llm" / "provider@1.0.0.lock.json").exists()
    # The next writer sweeps the temp files the killed ones left behind.
    LockfileStore([tmp_path]).freeze(_lockfile("llm/provider", 0))
    LockfileStore([tmp_path]).freeze(_lockfile("tools/t0", 0))
    assert not list(tmp_path.rglob("*.tmp"))
