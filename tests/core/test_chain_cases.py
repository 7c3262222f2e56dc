"""The chain cases, planned over values: no disk, no ``tmp_path``, no ``Kernel``.

Each ``tests/fixtures/chains/*.yaml`` case that values can decide (``needs_the_disk`` is
None) is built into in-memory spaces and planned by the core's functions in SPEC §5.2
order (``tests/support/chain_cases.py``); the rest run on disk in
``tests/exec/test_chain_cases_disk.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kiwi_mcp.kernel.errors import KiwiError
from tests.support.chain_cases import (
    CASES,
    MemorySpaces,
    check_error,
    check_plan,
    load_case,
    needs_the_disk,
    plan_in_memory,
)

MEMORY_CASES = [path for path in CASES if needs_the_disk(load_case(path)) is None]


def test_most_cases_run_in_memory_and_every_case_runs_somewhere() -> None:
    assert len(CASES) >= 42
    assert len(MEMORY_CASES) >= 30
    disk = [path for path in CASES if needs_the_disk(load_case(path)) is not None]
    assert sorted(MEMORY_CASES + disk) == CASES


@pytest.mark.parametrize("case_file", MEMORY_CASES, ids=[c.stem for c in MEMORY_CASES])
def test_chain_case_in_memory(case_file: Path) -> None:
    case = load_case(case_file)
    spaces = MemorySpaces.from_case(case)
    expect = case["expect"]
    if "error" in expect:
        with pytest.raises(KiwiError) as info:
            plan_in_memory(spaces, case["ask"], case.get("params", {}))
        check_error(info.value, expect["error"])
        return
    plan = plan_in_memory(spaces, case["ask"], case.get("params", {}))
    check_plan(expect, plan.chain, plan.params, plan.config)
