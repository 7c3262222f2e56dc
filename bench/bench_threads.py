"""Threads benchmark (issue 16). A script, not a test: prints numbers and ratios.

* Start, in process: ``start_thread`` from its call to its return, and the part of it after
  the registry row is written (``Registry.create`` is wrapped in this process to stamp its
  return); with a fresh ``Kernel`` per start (what the CLI does) and with one kept kernel
  (the server's case). Target: ``{thread_id, status}`` within 50 ms of the registry write
  (SPEC §13.1).
* Start, CLI: wall time of ``kiwi --json threads start <directive>`` against
  ``python -c pass`` on the same interpreter, alternated; target ≤ 1.5×. A third command,
  ``python -c 'import <the start path's modules>'``, alternated with them, shows the import
  floor any Python CLI for this pays.
* Kernel overhead per turn: a thread of K turns that each call a cheap tool, then a final
  answer, run in this process with ``runner.run_thread``. Per turn: wall time − the LLM
  call − the tool call, the two timed by wrapping ``Kernel.execute`` (the provider's id
  only) and ``turns.run_call`` here; the runner's own transcript appends from inside the
  LLM call (``llm_delta``, the stream hook) count as overhead, not LLM. Cross-checked from
  the transcript's timestamps (``llm_request`` → ``llm_turn``, ``tool_intent`` →
  ``tool_result``, checkpoint to checkpoint). Target ≤ 5 ms, judged on the median of the
  runs' means. Between turns (taken out of the turns) a bare append + fsync and a bare
  SQLite commit sample the disk, so the part of the overhead that is the disk's own floor
  is printed from the same run.
* Registry statements per turn (a trace callback on every SQLite connection this process
  opens, by wrapping ``sqlite3.connect``) and fsyncs per turn (``os.fsync`` wrapped, by file),
  in a separate run of the same thread.

Every runner a start spawns is waited for (outside the timed part) before the next start, so
no runner competes with a measurement. The fake LLM (``tests/support/fake_llm``) answers on
loopback from a thread of this process.

Run: ``.venv/bin/python bench/bench_threads.py [--turns K] [--starts N] [--quick] [--profile]``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kiwi_mcp.kernel.exec.kernel import Kernel
from kiwi_mcp.kernel.runtime.threads import runner as runner_mod
from kiwi_mcp.kernel.runtime.threads import start as start_mod
from kiwi_mcp.kernel.runtime.threads import turns as turns_mod
from kiwi_mcp.kernel.runtime.threads.registry import TERMINAL, Registry
from kiwi_mcp.kernel.runtime.threads.transcript import Transcript
from kiwi_mcp.kernel.store.settings import Settings
from tests.support.fake_llm import FakeLLM
from tests.support.project import KIWI, Project

PROVIDER_ID = "llm/providers/fakeprov"
MODEL = "worker"
START_TARGET_MS = 50.0
CLI_TARGET = 1.5
TURN_TARGET_MS = 5.0
RUNS = 3  # timed runs of the K-turn thread (1 with --quick)
_FSYNC = os.fsync  # the real one, for the baseline probe while os.fsync is wrapped

# The shapes of tests/runtime/threads/conftest.py, kept here so the tests' changes to their
# fixtures do not move the bench.
PROVIDER = """\
version: "1.0.0"
tool_type: llm_provider
executor_id: llm/protocols/anthropic_messages
description: The fake provider, priced
config:
  url: "{url}/v1/messages"
  headers: {{anthropic-version: "2023-06-01"}}
  models:
    worker:
      context_window: 200000
      max_output: 4096
      pricing: {{input: "1.00", output: "2.00"}}
auth: {{service: fakeprov, header: x-api-key, scheme: ""}}
requires: ["net.http:127.0.0.1"]
"""

NOTE = '''"""Return the note: the cheapest tool a turn can call (one runner process, no I/O)."""

__version__ = "1.0.0"
__executor_id__ = "runtimes/python"
PARAMETERS = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}


def execute(params, context):
    return {"noted": params["text"]}
'''

DIRECTIVE = """\
# {name}

```xml
<directive name="{name}" version="1.0.0">
  <metadata>
    <description>Write notes, then say done</description>
    <model provider="fakeprov" id="worker" max_tokens="500"/>
    <limits turns="{turns}" spend="50.00"/>
    <permissions>
      <execute resource="tool" id="note"/><execute resource="process" command="python"/>
    </permissions>
    <tools><tool id="note"/></tools>
  </metadata>
  <inputs><input name="topic" type="string" required="false">What to note</input></inputs>
</directive>
```

Write notes about ${{inputs.topic}} with the note tool, then say done.
"""


def _ms(seconds: float) -> float:
    return seconds * 1000


def _verdict(ok: bool) -> str:
    return "ok" if ok else "missed"


# --- the project -----------------------------------------------------------------------------


def _check(done: subprocess.CompletedProcess[str], what: str) -> subprocess.CompletedProcess[str]:
    if done.returncode != 0:
        raise RuntimeError(f"{what} exited {done.returncode}: {done.stdout}{done.stderr}")
    return done


def make_project(root: Path, fake: FakeLLM, turns: int) -> Project:
    """A project as the thread tests make it: keys, a priced fake provider, a cheap tool, two
    signed directives (``bench/starter``, ``bench/worker``) and the provider's token."""
    (root / "project" / ".ai" / "tools").mkdir(parents=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(root),
        "KIWI_USER_SPACE": str(root / "user"),
        "KIWI_AUTH_BACKEND": "file",
    }
    project = Project(root=root / "project", user=root / "user", env=env)
    _check(project.kiwi("keys", "init"), "kiwi keys init")
    project.write_tool("llm/providers/fakeprov.yaml", PROVIDER.format(url=fake.base_url))
    project.write_tool("note.py", NOTE)
    _check(project.kiwi("sign", "tool", "**"), "kiwi sign tool")
    for name, limit in (("starter", 4), ("worker", turns + 2)):
        path = project.root / ".ai" / "directives" / "bench" / f"{name}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(DIRECTIVE.format(name=name, turns=limit))
        _check(project.kiwi("sign", "directive", f"bench/{name}"), "kiwi sign directive")
    login = project.kiwi("auth", "signin", "fakeprov", "--token-stdin", stdin="sk-bench")
    _check(login, "kiwi auth signin")
    return project


def _kernel(project: Project) -> Kernel:
    # what `kiwi threads start` opens: the operator's kernel
    return Kernel(Settings.from_environment(project.root, env=project.env), as_operator=True)


def wait_runner(registry: Registry, project: Project, thread_id: str) -> str:
    """Poll until the thread ended and its runner exited (a hang guard, not a timing)."""
    deadline = time.monotonic() + 60
    while True:
        record = registry.get(thread_id)
        if record.status in TERMINAL and (record.pid is None or not start_mod._alive(record.pid)):
            return record.status
        if time.monotonic() > deadline:
            log = project.root / ".ai" / "threads" / thread_id / "runner.log"
            text = log.read_text() if log.exists() else "(no runner.log)"
            raise RuntimeError(f"thread {thread_id} still {record.status} after 60 s:\n{text}")
        time.sleep(0.01)


# --- patching in this process only -------------------------------------------------------------


class Patches:
    """Attributes replaced for a measurement and put back after it (this process only)."""

    def __init__(self) -> None:
        self._saved: list[tuple[Any, str, Any]] = []

    def set(self, owner: Any, name: str, value: Any) -> None:
        # a class's own attribute (a plain function), so putting it back restores it exactly
        original = vars(owner)[name]
        self._saved.append((owner, name, original))
        setattr(owner, name, value)

    def restore(self) -> None:
        while self._saved:
            owner, name, original = self._saved.pop()
            setattr(owner, name, original)


@contextmanager
def patched() -> Iterator[Patches]:
    patches = Patches()
    try:
        yield patches
    finally:
        patches.restore()


def _public_methods(cls: type) -> list[str]:
    return [
        name
        for name, value in vars(cls).items()
        if not name.startswith("_") and callable(value) and name not in ("close", "for_project")
    ]


# --- 1a. start, in process ---------------------------------------------------------------------


@dataclass
class StartSample:
    total: float
    before: float  # call → the registry row written (Registry.create returned)
    parts: dict[str, float]


async def _start_once(kernel: Kernel, stamps: dict[str, Any]) -> StartSample:
    stamps.clear()
    stamps["parts"] = defaultdict(float)
    t0 = time.perf_counter()
    out = await start_mod.start_thread(
        kernel, "bench/starter", {"topic": "bench"}, caps=kernel.caps, caller="bench"
    )
    t1 = time.perf_counter()
    stamps["thread_id"] = out["thread_id"]
    created = stamps["created"]
    parts = dict(stamps["parts"])
    parts["token mint + file, close, rest"] = (t1 - created) - sum(parts.values())
    return StartSample(total=t1 - t0, before=created - t0, parts=parts)


def _start_patches(patches: Patches, stamps: dict[str, Any]) -> None:
    real_create = Registry.create

    def create(self: Registry, **kw: Any) -> Any:
        record = real_create(self, **kw)
        stamps["created"] = time.perf_counter()
        return record

    patches.set(Registry, "create", create)

    def after_create(label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kw: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*args, **kw)
            finally:
                if "created" in stamps:
                    stamps["parts"][label] += time.perf_counter() - t

        return timed

    patches.set(
        Registry, "update", after_create("registry.update (token id, pid)", Registry.update)
    )
    patches.set(
        Transcript, "append", after_create("thread_started append (fsync)", Transcript.append)
    )
    real_execute = Kernel.execute

    async def execute(self: Kernel, tool_id: str, *args: Any, **kw: Any) -> Any:
        if tool_id != start_mod.START_CHAIN:
            return await real_execute(self, tool_id, *args, **kw)
        t = time.perf_counter()
        try:
            return await real_execute(self, tool_id, *args, **kw)
        finally:
            stamps["parts"]["spawn chain: execute → runner exec'd"] += time.perf_counter() - t

    patches.set(Kernel, "execute", execute)


async def bench_start_in_process(project: Project, fake: FakeLLM, starts: int) -> None:
    fake.reset()
    fake.script(MODEL, [{"text": "done"}])
    samples: dict[str, list[StartSample]] = {"fresh": [], "kept": []}
    stamps: dict[str, Any] = {}
    kept = _kernel(project)
    with Registry.for_project(project.root) as registry, patched() as patches:
        _start_patches(patches, stamps)
        for i in range(starts + 1):  # the first of each is a warm-up: imports, caches
            for kind in ("fresh", "kept"):
                kernel = _kernel(project) if kind == "fresh" else kept
                sample = await _start_once(kernel, stamps)
                if kernel is not kept:
                    await kernel.aclose()
                wait_runner(registry, project, stamps["thread_id"])
                if i:
                    samples[kind].append(sample)
    await kept.aclose()
    med = {
        kind: {
            "total": statistics.median(s.total for s in rows),
            "before": statistics.median(s.before for s in rows),
            "after": statistics.median(s.total - s.before for s in rows),
            "max_after": max(s.total - s.before for s in rows),
        }
        for kind, rows in samples.items()
    }
    print(f"threads start, in process ({starts} starts each, median; runners waited for between)")
    print(f"  {'':44} {'fresh kernel':>13} {'kept kernel':>13}")
    for key, label in (
        ("total", "start_thread: call → return"),
        ("before", "  call → registry row written"),
        ("after", "  registry row written → return"),
        ("max_after", "  … the slowest of the starts"),
    ):
        print(f"  {label:<44} {_ms(med['fresh'][key]):10.1f} ms {_ms(med['kept'][key]):10.1f} ms")
    labels = list(samples["fresh"][0].parts)
    for label in labels:
        values = [
            _ms(statistics.median(s.parts.get(label, 0.0) for s in samples[k]))
            for k in ("fresh", "kept")
        ]
        print(f"    {label:<42} {values[0]:10.1f} ms {values[1]:10.1f} ms")
    worst = max(med["fresh"]["after"], med["kept"]["after"])
    print(
        f"  after the registry write: {_ms(worst):.1f} ms at the median "
        f"(target ≤ {START_TARGET_MS:.0f} ms) {_verdict(_ms(worst) <= START_TARGET_MS)}"
    )


# --- 1b. start, CLI ----------------------------------------------------------------------------


def _timed_run(argv: list[str], project: Project) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    done = subprocess.run(
        argv, cwd=project.root, env=project.env, capture_output=True, text=True, timeout=60
    )
    return time.perf_counter() - start, done


# What the CLI's start path imports before it does anything: the floor a Python CLI stands on.
IMPORTS = (
    "import asyncio, sqlite3, kiwi_mcp.kernel.faces.cli.main, kiwi_mcp.kernel.exec.kernel, "
    "kiwi_mcp.kernel.runtime.threads.start, kiwi_mcp.kernel.runtime.threads.registry, "
    "kiwi_mcp.kernel.runtime.threads.transcript, kiwi_mcp.kernel.trust.tokens"
)


def bench_start_cli(project: Project, fake: FakeLLM, starts: int) -> None:
    fake.reset()
    fake.script(MODEL, [{"text": "done"}])
    commands = {
        "bare": [sys.executable, "-c", "pass"],
        "imports": [sys.executable, "-c", IMPORTS],
        "kiwi": [KIWI, "--json", "threads", "start", "bench/starter", "-p", "topic=bench"],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    with Registry.for_project(project.root) as registry:

        def once(name: str) -> float:
            elapsed, done = _timed_run(commands[name], project)
            _check(done, " ".join(commands[name][-2:]))
            if name == "kiwi":
                data = json.loads(done.stdout)
                if data.get("status") != "spawned":
                    raise RuntimeError(f"kiwi threads start: {done.stdout}")
                wait_runner(registry, project, data["thread_id"])
            return elapsed

        for name in commands:  # warm-up: page cache, .pyc files
            once(name)
        for i in range(starts):
            for name in list(commands)[:: 1 if i % 2 else -1]:
                times[name].append(once(name))
    median = {name: _ms(statistics.median(values)) for name, values in times.items()}
    ratio = median["kiwi"] / median["bare"]
    paired = statistics.median(k / b for k, b in zip(times["kiwi"], times["bare"], strict=True))
    print(f"threads start, CLI ({starts} runs each, alternated, median wall time)")
    print(f"  python -c pass                            {median['bare']:7.1f} ms")
    print(
        f"  python -c 'import <the start path>'       {median['imports']:7.1f} ms  "
        f"({median['imports'] / median['bare']:.2f}×: the imports alone)"
    )
    print(f"  kiwi --json threads start                 {median['kiwi']:7.1f} ms")
    print(
        f"  ratio {ratio:.2f}× (median of paired ratios {paired:.2f}×; target ≤ {CLI_TARGET}×) "
        f"{_verdict(ratio <= CLI_TARGET)}"
    )


# --- 2, 3. a thread's turns, in process ----------------------------------------------------------


class DiskProbe:
    """The floor a turn's durability stands on, sampled between turns on the same disk: one
    append + fsync of a transcript-sized line, and one ``BEGIN IMMEDIATE``/``UPDATE``/``COMMIT``
    on a SQLite database set up as the registry is (WAL, synchronous NORMAL)."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(folder / "probe.jsonl", os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        self._db = sqlite3.connect(folder / "probe.db", isolation_level=None)
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v INTEGER)")
        self._db.execute("INSERT OR IGNORE INTO t VALUES (1, 0)")
        self.fsyncs: list[float] = []
        self.commits: list[float] = []

    def sample(self) -> None:
        t = time.perf_counter()
        os.write(self._fd, b'{"payload":{},"type":"probe"}'.ljust(300) + b"\n")
        _FSYNC(self._fd)
        mid = time.perf_counter()
        self._db.execute("BEGIN IMMEDIATE")
        self._db.execute("UPDATE t SET v = v + 1 WHERE k = 1")
        self._db.execute("COMMIT")
        self.fsyncs.append(mid - t)
        self.commits.append(time.perf_counter() - mid)

    def close(self) -> None:
        os.close(self._fd)
        self._db.close()


@dataclass
class TurnLog:
    """What the wrappers saw during one run of the thread."""

    provider: str
    count: bool
    probe: DiskProbe | None = None
    phase: str = "setup"  # setup → turns (inside ThreadRun.run) → finish
    starts: list[float] = field(default_factory=list)  # each loop iteration (a _control call)
    llm: list[float] = field(default_factory=list)
    hook: list[float] = field(default_factory=list)  # transcript appends inside the LLM call
    tool: list[float] = field(default_factory=list)
    excluded: list[float] = field(default_factory=list)  # the probe's samples
    run_start: float = 0.0
    run_end: float = 0.0
    thread_start: float = 0.0
    thread_end: float = 0.0
    inside: str = ""  # "llm" or "tool" while one runs
    depth: int = 0  # nesting of timed parts: only the outermost counts
    parts: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    part_calls: Counter[str] = field(default_factory=Counter)
    statements: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    fsyncs: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    durable: Counter[str] = field(default_factory=Counter)

    @property
    def turns(self) -> int:
        return len(self.starts)

    def overheads(self) -> list[float]:
        ends = [*self.starts[1:], self.run_end]
        return [
            (end - start) - (llm - hook) - tool - excluded
            for start, end, llm, hook, tool, excluded in zip(
                self.starts, ends, self.llm, self.hook, self.tool, self.excluded, strict=True
            )
        ]

    def durable_wait(self) -> float:
        """Seconds in the calls that end in an fsync: durable appends, checkpoints, registry
        writes (its reads are a few SELECTs on a held connection)."""
        reads = ("registry.get", "registry.pending_controls", "registry.open_reservations")
        return sum(
            spent
            for label, spent in self.parts.items()
            if label in ("transcript append, durable", "checkpoint (hash, sign, fsync)")
            or (label.startswith("registry.") and label not in reads)
        )


def _statement_kind(sql: str) -> str:
    word = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else "?"
    return "BEGIN" if word == "BEGIN" else word


def _fd_kind(fd: int) -> str:
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return "?"
    name = os.path.basename(target)
    if name == "transcript.jsonl":
        return "transcript"
    if os.path.isdir(target):
        return "folder"
    if target.endswith(".jsonl"):
        return "audit log"
    return name


def _turn_patches(patches: Patches, log: TurnLog) -> None:
    ThreadRun = turns_mod.ThreadRun
    real_run, real_control = ThreadRun.run, ThreadRun._control
    real_execute, real_call = Kernel.execute, turns_mod.run_call

    async def run(self: Any) -> Any:
        log.phase, log.run_start = "turns", time.perf_counter()
        try:
            return await real_run(self)
        finally:
            log.run_end, log.phase = time.perf_counter(), "finish"

    def control(self: Any) -> Any:
        log.starts.append(time.perf_counter())
        log.llm.append(0.0)
        log.hook.append(0.0)
        log.tool.append(0.0)
        log.excluded.append(0.0)
        if log.probe is not None:
            t = time.perf_counter()
            log.probe.sample()
            log.excluded[-1] += time.perf_counter() - t
        return part("controls (pending_controls)", real_control)(self)

    async def execute(self: Kernel, tool_id: str, *args: Any, **kw: Any) -> Any:
        if tool_id != log.provider or log.phase != "turns":
            return await real_execute(self, tool_id, *args, **kw)
        log.inside, t = "llm", time.perf_counter()
        try:
            return await real_execute(self, tool_id, *args, **kw)
        finally:
            log.llm[-1] += time.perf_counter() - t
            log.inside = ""

    async def run_call(*args: Any, **kw: Any) -> Any:
        log.inside, t = "tool", time.perf_counter()
        try:
            return await real_call(*args, **kw)
        finally:
            log.tool[-1] += time.perf_counter() - t
            log.inside = ""

    def part(label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kw: Any) -> Any:
            if log.phase != "turns" or log.inside == "tool":
                return fn(*args, **kw)
            log.depth += 1
            t = time.perf_counter()
            try:
                return fn(*args, **kw)
            finally:
                log.depth -= 1
                spent = time.perf_counter() - t
                if log.inside == "llm":
                    if log.depth == 0:
                        log.hook[-1] += spent
                elif log.depth == 0:
                    log.parts[label] += spent
                    log.part_calls[label] += 1

        return timed

    real_append = Transcript.append

    def append(self: Transcript, type: str, payload: Any, *, durable: bool = True) -> Any:
        if log.count and durable:
            log.durable[log.phase] += 1
        label = "transcript append, durable" if durable else "transcript append, droppable"
        return part(label, real_append)(self, type, payload, durable=durable)

    real_checkpoint = Transcript.checkpoint

    def checkpoint(self: Transcript, *args: Any, **kw: Any) -> Any:
        if log.count:
            log.durable[log.phase] += 1
        return part("checkpoint (hash, sign, fsync)", real_checkpoint)(self, *args, **kw)

    patches.set(ThreadRun, "run", run)
    patches.set(ThreadRun, "_control", control)
    patches.set(Kernel, "execute", execute)
    patches.set(turns_mod, "run_call", run_call)
    patches.set(Transcript, "append", append)
    patches.set(Transcript, "checkpoint", checkpoint)
    patches.set(Transcript, "events", part("transcript read (events())", Transcript.events))
    for name in ("history", "estimate_tokens"):
        if hasattr(turns_mod, name):
            patches.set(turns_mod, name, part(f"{name}()", getattr(turns_mod, name)))
    for name in _public_methods(Registry):
        patches.set(Registry, name, part(f"registry.{name}", getattr(Registry, name)))
    if log.count:
        real_connect, real_fsync = sqlite3.connect, os.fsync

        def connect(*args: Any, **kw: Any) -> sqlite3.Connection:
            db = real_connect(*args, **kw)
            db.set_trace_callback(
                lambda sql: log.statements[log.phase].update([_statement_kind(sql)])
            )
            return db

        def fsync(fd: int) -> None:
            log.fsyncs[log.phase][_fd_kind(fd)] += 1
            real_fsync(fd)

        patches.set(sqlite3, "connect", connect)
        patches.set(os, "fsync", fsync)


async def _register(project: Project) -> str:
    """``start_thread`` of ``bench/worker`` as the CLI does it, without spawning the runner:
    this process runs the thread instead."""

    async def no_spawn(kernel: Any, registry: Any, thread_id: str, *args: Any, **kw: Any) -> Any:
        return {"thread_id": thread_id, "status": "spawned"}

    kernel = _kernel(project)
    with patched() as patches:
        patches.set(start_mod, "_spawn", no_spawn)
        out = await start_mod.start_thread(
            kernel, "bench/worker", {"topic": "bench"}, caps=kernel.caps, caller="bench"
        )
    await kernel.aclose()
    return str(out["thread_id"])


async def run_thread_once(
    project: Project,
    fake: FakeLLM,
    turns: int,
    *,
    count: bool = False,
    profile: cProfile.Profile | None = None,
    probe: DiskProbe | None = None,
) -> tuple[TurnLog, list[dict[str, Any]]]:
    fake.reset()
    # each call's arguments differ: the same call repeated is what the loop detector stops
    calls = [
        {"tool_calls": [{"name": "note", "arguments": {"text": f"note {i}"}}]} for i in range(turns)
    ]
    fake.script(MODEL, [*calls, {"text": "done"}])
    thread_id = await _register(project)
    log = TurnLog(provider=PROVIDER_ID, count=count, probe=probe)
    with patched() as patches:
        _turn_patches(patches, log)
        if profile is not None:
            profile.enable()
        log.thread_start = time.perf_counter()
        status = await runner_mod.run_thread(project.root, thread_id, dict(project.env))
        log.thread_end = time.perf_counter()
        if profile is not None:
            profile.disable()
    if status != "completed":
        with Registry.for_project(project.root) as registry:
            record = registry.get(thread_id)
        raise RuntimeError(f"thread {thread_id} ended {status}: {record.error}")
    if log.turns != turns + 1:
        print(f"  note: saw {log.turns} loop iterations for {turns + 1} LLM calls")
    events = Transcript.for_thread(project.root, thread_id).events()
    return log, events


def from_transcript(events: list[dict[str, Any]]) -> list[tuple[float, float, float]]:
    """(turn wall, LLM, tool) per turn from the event timestamps: a turn runs from the previous
    checkpoint (the first from ``thread_running``) to its own."""
    out: list[tuple[float, float, float]] = []
    begin: float | None = None
    llm = tool = 0.0
    opened: dict[str, float] = {}
    for event in events:
        kind, ts = event["type"], float(event["ts"])
        if kind in ("thread_running", "thread_resumed"):
            begin = ts
        elif kind == "llm_request":
            opened["llm"] = ts
        elif kind == "llm_turn" and "llm" in opened:
            llm += ts - opened.pop("llm")
        elif kind == "tool_intent":
            opened[event["payload"]["call_id"]] = ts
        elif kind == "tool_result" and event["payload"]["call_id"] in opened:
            tool += ts - opened.pop(event["payload"]["call_id"])
        elif kind == "checkpoint" and begin is not None:
            if llm:  # the final checkpoint after thread_finished has no turn
                out.append((ts - begin, llm, tool))
            begin, llm, tool = ts, 0.0, 0.0
    return out


async def bench_turns(
    project: Project, fake: FakeLLM, turns: int, runs: int, profile: bool, scratch: Path
) -> None:
    print(
        f"kernel overhead per turn ({turns} turns that each call the cheap `note` tool, then a "
        "final answer; in process)"
    )
    print(
        "  method: per loop iteration of ThreadRun.run, wall − (the provider's Kernel.execute − "
        "the runner's appends from its stream hook) − turns.run_call, each timed by a wrapper "
        "in this process; cross-check from the transcript: checkpoint→checkpoint − "
        "(llm_request→llm_turn) − (tool_intent→tool_result). Between turns (and taken out of "
        "them) a bare append+fsync and a bare WAL commit sample the disk"
    )
    await run_thread_once(project, fake, turns)  # warm-up
    logs: list[TurnLog] = []
    probes: list[DiskProbe] = []
    for i in range(runs):
        probe = DiskProbe(scratch / f"probe{i}")
        log, events = await run_thread_once(project, fake, turns, probe=probe)
        probe.close()
        logs.append(log)
        probes.append(probe)
        over = log.overheads()
        crosscheck = statistics.mean(
            wall - llm - tool for wall, llm, tool in from_transcript(events)
        )
        half = len(over) // 2
        print(
            f"  run {i + 1}: {log.turns} turns; overhead mean {_ms(statistics.mean(over)):.2f} ms "
            f"(median {_ms(statistics.median(over)):.2f}, first half "
            f"{_ms(statistics.mean(over[:half])):.2f}, second half "
            f"{_ms(statistics.mean(over[half:])):.2f}); in fsyncing calls "
            f"{_ms(log.durable_wait() / log.turns):.2f}, the rest "
            f"{_ms((sum(over) - log.durable_wait()) / log.turns):.2f}; transcript method "
            f"{_ms(crosscheck):.2f}; bare fsync {_ms(statistics.median(probe.fsyncs)):.2f}, "
            f"bare commit {_ms(statistics.median(probe.commits)):.2f}"
        )
    last = logs[-1]
    n = last.turns
    llm_ms = _ms(statistics.mean(x - h for x, h in zip(last.llm, last.hook, strict=True)))
    print(
        f"  per turn, last run: LLM call {llm_ms:.2f} ms, tool call "
        f"{_ms(statistics.mean(last.tool)):.2f} ms, stream-hook appends "
        f"{_ms(statistics.mean(last.hook)):.3f} ms (counted as overhead)"
    )
    print(
        f"  runner setup (run_thread → first turn) {_ms(last.run_start - last.thread_start):.1f} "
        f"ms; finish (last turn → run_thread returns) {_ms(last.thread_end - last.run_end):.1f} ms"
    )
    print("  where the overhead goes (last run, per turn, outermost timed calls):")
    total_over = sum(last.overheads())
    for label, spent in sorted(last.parts.items(), key=lambda kv: -kv[1]):
        calls = last.part_calls[label] / n
        print(f"    {label:<40} {_ms(spent / n):6.2f} ms  ({calls:.1f} calls)")
    rest = (total_over - sum(last.parts.values())) / n
    print(f"    {'the rest (loop, request, checks)':<40} {_ms(rest):6.2f} ms")

    log, _ = await run_thread_once(project, fake, turns, count=True)
    per = log.turns
    st = log.statements["turns"]
    writes = sum(st[k] for k in ("INSERT", "UPDATE", "DELETE", "REPLACE"))
    fs = log.fsyncs["turns"]
    commits, transcript_syncs = st["COMMIT"] / per, fs["transcript"] / per
    print(f"registry statements and fsyncs per turn (a separate run of {per} turns, counted)")
    print(
        f"  SQL writes (INSERT/UPDATE/DELETE) {writes / per:.2f}, transactions (COMMIT) "
        f"{commits:.2f}, BEGIN IMMEDIATE {st['BEGIN'] / per:.2f}, SELECT {st['SELECT'] / per:.2f}"
    )
    print(
        "  with journal_mode WAL and synchronous NORMAL a COMMIT does not fsync (a WAL "
        "checkpoint does, inside SQLite, so not in the os.fsync count below)"
    )
    others = ", ".join(f"{k} {v / per:.2f}" for k, v in sorted(fs.items()) if k != "transcript")
    print(
        f"  transcript: durable appends + checkpoints {log.durable['turns'] / per:.2f}, os.fsync "
        f"of transcript.jsonl {transcript_syncs:.2f}; other os.fsync in this process: "
        f"{others or 'none'}"
    )
    for phase in ("setup", "finish"):
        ph = log.statements[phase]
        print(
            f"  {phase} (once per thread): SQL writes "
            f"{sum(ph[k] for k in ('INSERT', 'UPDATE', 'DELETE'))}, COMMIT {ph['COMMIT']}, "
            f"durable appends {log.durable[phase]}, os.fsync {sum(log.fsyncs[phase].values())}"
        )

    means = [statistics.mean(lg.overheads()) for lg in logs]
    cpu = [(sum(lg.overheads()) - lg.durable_wait()) / lg.turns for lg in logs]
    floor = [
        transcript_syncs * statistics.median(p.fsyncs) + commits * statistics.median(p.commits)
        for p in probes
    ]
    print("overhead per turn, by run")
    print(f"  {'measured':<24}{', '.join(f'{_ms(m):6.2f}' for m in means)} ms")
    print(f"  {'outside fsyncing calls':<24}{', '.join(f'{_ms(c):6.2f}' for c in cpu)} ms")
    print(
        f"  {'the disk floor':<24}{', '.join(f'{_ms(f):6.2f}' for f in floor)} ms  "
        f"({transcript_syncs:.1f} bare fsyncs + {commits:.1f} bare commits at each run's median)"
    )
    middle = _ms(statistics.median(means))
    print(
        f"  overhead per turn {middle:.2f} ms, median of the runs "
        f"({_ms(min(means)):.2f}–{_ms(max(means)):.2f}; target ≤ {TURN_TARGET_MS:.0f} ms) "
        f"{_verdict(middle <= TURN_TARGET_MS)}"
    )
    if profile:
        prof = cProfile.Profile()
        await run_thread_once(project, fake, turns, profile=prof)
        _print_profile(prof, f"run_thread, {turns + 1} turns")


def _print_profile(prof: cProfile.Profile, title: str) -> None:
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out).strip_dirs()
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(30)
    print(f"--- cProfile: {title}")
    print(out.getvalue())


async def profile_start(project: Project, fake: FakeLLM) -> None:
    fake.reset()
    fake.script(MODEL, [{"text": "done"}])
    kernel = _kernel(project)
    stamps: dict[str, Any] = {}
    with Registry.for_project(project.root) as registry:
        with patched() as patches:
            _start_patches(patches, stamps)
            await _start_once(kernel, stamps)  # warm
        wait_runner(registry, project, stamps["thread_id"])
        prof = cProfile.Profile()
        prof.enable()
        out = await start_mod.start_thread(kernel, "bench/starter", {}, caps=kernel.caps)
        prof.disable()
        wait_runner(registry, project, out["thread_id"])
    await kernel.aclose()
    _print_profile(prof, "start_thread, kept kernel")


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="kiwi-bench-threads-") as tmp, FakeLLM() as fake:
        project = make_project(Path(tmp), fake, args.turns)
        await bench_start_in_process(project, fake, args.starts)
        bench_start_cli(project, fake, args.starts)
        await bench_turns(
            project, fake, args.turns, 1 if args.quick else RUNS, args.profile, Path(tmp)
        )
        if args.profile:
            await profile_start(project, fake)
    print(f"load average: {os.getloadavg()[0]:.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, help="tool turns per thread (20; --quick 5)")
    parser.add_argument("--starts", type=int, help="starts of each kind (15; --quick 3)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: fewer of each")
    parser.add_argument("--profile", action="store_true", help="also print cProfile tables")
    args = parser.parse_args()
    if args.turns is None:
        args.turns = 5 if args.quick else 20
    if args.starts is None:
        args.starts = 3 if args.quick else 15
    asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
