"""Scale benchmark (issue 14). A script, not a test: prints numbers and ratios.

* Locating one tool in a project of N YAML tools (100 per folder, N = 100, 1k, 10k, 100k):
  ``kiwi run``, ``kiwi resolve`` of one tool by its full id (``g0000/t000042``) and by a
  bare name (its unique last segment, ``t000042``), and ``kiwi sign tool <id>`` of that
  tool after an edit (``sign`` takes ids and globs, not bare names). Each round signs
  first; its atomic rewrite changes the tool's folder, so the next command, a bare-name
  ``resolve`` (``resolve name 1st``), shows what a bare name costs right after a change,
  and the ones after it the steady state. One project per N, all kept at once, and every
  round runs every command at every N, so machine drift hits all sizes alike; median of
  the rounds after a warm-up round, as a ratio to N = 100.
  Target at 100k: ≤ 1.2×. Every project is signed with ``kiwi sign tool '**'`` (timed);
  where that would take too long only the measured tool is signed (printed so).
* Warm ``execute``: one long-lived in-process ``Kernel`` per N runs the tool again and
  again (full id and bare name), alternated with a bare ``asyncio`` spawn of the same
  command (``true``), so the paired difference is the kernel's own cost; then the same
  call over stdio to ``kiwi serve`` against a bare SDK server that spawns ``true``.
  Target: flat in N, ≤ +0.5 ms over the bare SDK server.
* Start-up: ``kiwi run hello`` and ``kiwi --help`` against ``python -c pass`` (same
  interpreter), alternated. Targets ≤ 4× and ≤ 2×.
* ``kiwi audit verify`` of a valid hash-chained log of 1M lines (100k with --quick),
  written directly in the log's format: peak RSS of that one child (``wait4`` in a small
  wrapper) and wall time, next to a 1k-line log and the interpreter's floor. Target ≤ 64 MB.

Run: ``.venv/bin/python bench/bench_scale.py [--quick] [--rounds R] [--calls C] [--profile]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import io
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

KIWI = str(Path(sys.executable).with_name("kiwi"))
PER_FOLDER = 100
TARGET = "g0000/t000042"
BARE = "t000042"
LOCATE_TARGET = 1.2
HELP_TARGET = 2.0
HELLO_TARGET = 4.0
EXECUTE_TARGET_MS = 0.5
RSS_TARGET_MB = 64.0
SIGN_ALL_BUDGET_S = {True: 60.0, False: 600.0}  # by --quick: bulk signing predicted above it
LOCATE_BUDGET_S = {True: 120.0, False: 420.0}  # the timed rounds of the locate part
COMMANDS: dict[str, list[str]] = {  # in the order of a round
    "sign id": ["sign", "tool", TARGET],
    "resolve name 1st": ["resolve", BARE],
    "run id": ["run", TARGET],
    "run name": ["run", BARE],
    "resolve id": ["resolve", TARGET],
    "resolve name": ["resolve", BARE],
}
TOOL = (
    'version: "1.0.0"\nexecutor_id: primitives/subprocess\ndescription: {what}\n'
    'config: {{command: "true"}}\n'
)

BARE_SERVER = '''\
"""A bare SDK server whose one tool spawns ``true`` as Kiwi's chain does."""
import asyncio, json, sys

import anyio
import mcp_types as types
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

CWD = sys.argv[1]
TOOL = types.Tool(name="execute", input_schema={"type": "object"})


async def list_tools(ctx, params):
    return types.ListToolsResult(tools=[TOOL])


async def call_tool(ctx, params):
    child = await asyncio.create_subprocess_exec(
        "true", cwd=CWD, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, start_new_session=True,
    )
    out, _ = await child.communicate()
    envelope = {"ok": True, "data": {"stdout": out.decode()}, "error": None, "meta": {}}
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=json.dumps(envelope))],
        structured_content=envelope,
    )


server = Server("bare", on_list_tools=list_tools, on_call_tool=call_tool)


async def main():
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


anyio.run(main)
'''


RSS_WRAPPER = """\
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
pid = os.posix_spawn(sys.argv[2], sys.argv[2:], os.environ, file_actions=[
    (os.POSIX_SPAWN_DUP2, fd, 1), (os.POSIX_SPAWN_DUP2, fd, 2)])
_, status, usage = os.wait4(pid, 0)
print(usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""


class BenchError(RuntimeError):
    """A command the bench needs failed (not a missed target)."""


def _load(when: str) -> None:
    one, five, fifteen = os.getloadavg()
    print(f"[load {when}: {one:.2f} {five:.2f} {fifteen:.2f}  at {time.strftime('%H:%M:%S')}]")


def _verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def _kiwi(args: Sequence[str], cwd: Path, env: dict[str, str]) -> float:
    """Seconds one ``kiwi`` command takes; raises BenchError when it fails."""
    start = time.perf_counter()
    done = subprocess.run([KIWI, *args], cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise BenchError(f"kiwi {' '.join(args)} exited {done.returncode}: {done.stderr[-600:]}")
    return elapsed


def _wall(argv: Sequence[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True)
    if done.returncode != 0:
        raise BenchError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr[-600:]!r}")
    return time.perf_counter() - start


def _median_ms(samples: Sequence[float]) -> float:
    return statistics.median(samples) * 1000


# --- the projects ----------------------------------------------------------------------------


def tool_path(project: Path, index: int) -> Path:
    return project / ".ai" / "tools" / f"g{index // PER_FOLDER:04d}" / f"t{index:06d}.yaml"


def write_tools(project: Path, n: int) -> float:
    """N tools, 100 per folder; returns seconds taken."""
    start = time.perf_counter()
    for folder in range((n + PER_FOLDER - 1) // PER_FOLDER):
        first = folder * PER_FOLDER
        tool_path(project, first).parent.mkdir(parents=True, exist_ok=True)
        for index in range(first, min(first + PER_FOLDER, n)):
            tool_path(project, index).write_text(TOOL.format(what=f"Scale bench tool {index}"))
    return time.perf_counter() - start


def make_projects(root: Path, sizes: Sequence[int], quick: bool) -> dict[str, str]:
    """One project per size under ``root/n<N>``, signed by one key; returns the env."""
    user = root / "user"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(root),
        "KIWI_USER_SPACE": str(user),
        "KIWI_AUTH_BACKEND": "file",
        # parts 1, 2 and 4 measure the kernel in-process, as before the warm process; part 3
        # measures start-up both ways
        "KIWI_WARM": "0",
        "KIWI_WARM_DIR": str(root / "warm"),
    }
    (root / "small" / ".ai" / "tools").mkdir(parents=True)
    _kiwi(["keys", "init"], root / "small", env)
    rate: float | None = None  # seconds per tool of the last bulk sign
    for n in sizes:
        project = root / f"n{n}"
        took = write_tools(project, n)
        predicted = rate * n if rate is not None else 0.0
        if predicted > SIGN_ALL_BUDGET_S[quick]:
            signed = _kiwi(["sign", "tool", TARGET], project, env)
            print(
                f"N={n:>7}: wrote {n} tools in {took:5.1f} s; bulk sign skipped (predicted "
                f"{predicted:.0f} s): only {TARGET} signed ({signed:.2f} s)"
            )
            continue
        signed = _kiwi(["sign", "tool", "**"], project, env)
        rate = signed / n
        print(
            f"N={n:>7}: wrote {n} tools in {took:5.1f} s; kiwi sign tool '**': {signed:6.1f} s "
            f"({rate * 1000:.2f} ms/tool)"
        )
    return env


# --- 1. locate one tool ----------------------------------------------------------------------


def edit_target(project: Path, edition: int) -> None:
    """Change the measured tool's body (unsigned) so the next ``sign`` really signs."""
    tool_path(project, 42).write_text(TOOL.format(what=f"Scale bench tool 42, edition {edition}"))


def bench_locate(
    root: Path, sizes: Sequence[int], env: dict[str, str], rounds: int, quick: bool
) -> None:
    samples: dict[tuple[int, str], list[float]] = {(n, c): [] for n in sizes for c in COMMANDS}
    edition = 0

    def one_round(keep: bool) -> None:
        nonlocal edition
        for n in sizes:
            project = root / f"n{n}"
            for name, args in COMMANDS.items():
                if name.startswith("sign"):
                    edition += 1
                    edit_target(project, edition)
                took = _kiwi(args, project, env)
                if keep:
                    samples[(n, name)].append(took)

    start = time.perf_counter()
    one_round(keep=False)  # warm-up: page cache, .pyc, any index a command keeps
    warm = time.perf_counter() - start
    rounds = max(3, min(rounds, int(LOCATE_BUDGET_S[quick] // max(warm, 1e-3))))
    print(f"warm-up round {warm:.1f} s; {rounds} timed rounds, every size in every round")
    for _ in range(rounds):
        one_round(keep=True)
    base = sizes[0]
    print(f"{'':22}" + "".join(f"{f'N={n}':>20}" for n in sizes))
    for name in COMMANDS:
        cells = []
        for n in sizes:
            ms = _median_ms(samples[(n, name)])
            ratio = ms / _median_ms(samples[(base, name)])
            cells.append(f"{ms:9.0f} ms {ratio:5.2f}×")
        big = sizes[-1]
        ratio = _median_ms(samples[(big, name)]) / _median_ms(samples[(base, name)])
        verdict = (
            f"target ≤ {LOCATE_TARGET}× at 100k: {_verdict(ratio <= LOCATE_TARGET)}"
            if big >= 100_000
            else "(target applies at 100k)"
        )
        print(f"kiwi {name:<17}" + "".join(f"{c:>20}" for c in cells) + f"   {verdict}")
    print("  (ms = median wall time of the subprocess; × = ratio to the same command at N=100)")


def profile_locate(root: Path, n: int, env: dict[str, str]) -> None:
    """cProfile of one ``kiwi resolve <bare>`` right after a sign (as ``resolve name 1st``)
    and of one ``kiwi run <id>``, at the largest N."""
    edit_target(root / f"n{n}", 0)
    _kiwi(COMMANDS["sign id"], root / f"n{n}", env)
    time.sleep(0.2)  # as in a round: the folder's new mtime has settled before the lookup
    for args in (["resolve", BARE], ["run", TARGET]):
        out = root / "profile.out"
        argv = [sys.executable, "-m", "cProfile", "-o", str(out), KIWI, *args]
        took = _wall(argv, root / f"n{n}", env)
        stream = io.StringIO()
        stats = pstats.Stats(str(out), stream=stream)
        stats.sort_stats("cumulative").print_stats(14)
        stats.sort_stats("tottime").print_stats(8)
        print(f"--- cProfile of kiwi {' '.join(args)} at N={n} ({took:.2f} s under the profiler)")
        for line in stream.getvalue().splitlines():
            skip = ("   Ordered by", "   List reduced", "  ncalls", "   ncalls")
            if line.strip() and not line.startswith(skip) and "profile.out" not in line:
                print("  " + line.rstrip()[:150])


# --- 2. warm execute -------------------------------------------------------------------------


async def _spawn_true(cwd: Path) -> None:
    child = await asyncio.create_subprocess_exec(
        "true",
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    await child.communicate()


async def _warm_execute(root: Path, sizes: Sequence[int], env: dict[str, str], calls: int) -> None:
    from kiwi_mcp.kernel.exec.kernel import Kernel
    from kiwi_mcp.kernel.store.settings import Settings

    kernels = {n: Kernel(Settings.from_environment(root / f"n{n}", env=env)) for n in sizes}
    ids = {"id": TARGET, "name": BARE}
    times: dict[str, list[float]] = {"spawn": []}
    first: dict[tuple[int, str], float] = {}
    for n, kernel in kernels.items():
        for label, item in ids.items():
            times[f"{n} {label}"] = []
            for k in range(5):
                start = time.perf_counter()
                envelope = await kernel.execute(item, {})
                if k == 0:
                    first[(n, label)] = time.perf_counter() - start
                if not envelope["ok"]:
                    raise BenchError(f"execute {item} at N={n}: {envelope['error']}")
    for _ in range(calls):
        start = time.perf_counter()
        await _spawn_true(root)
        times["spawn"].append(time.perf_counter() - start)
        for n, kernel in kernels.items():
            for label, item in ids.items():
                start = time.perf_counter()
                await kernel.execute(item, {})
                times[f"{n} {label}"].append(time.perf_counter() - start)
    for kernel in kernels.values():
        await kernel.aclose()
    spawn = _median_ms(times["spawn"])
    print(
        f"in-process Kernel.execute, {calls} calls each, alternated; "
        f"bare spawn of true: {spawn:.2f} ms"
    )
    base: dict[str, tuple[float, float]] = {}
    for n in sizes:
        for label in ids:
            key = f"{n} {label}"
            per = _median_ms(times[key])
            over = (
                statistics.median(e - s for e, s in zip(times[key], times["spawn"], strict=True))
                * 1000
            )
            base.setdefault(label, (per, over))
            b_per, b_over = base[label]
            print(
                f"  N={n:>7} by {label:<4}: {per:6.2f} ms/call ({per / b_per:4.2f}× N=100), "
                f"kernel adds {over:+6.2f} ms over the spawn ({over / b_over:4.2f}× N=100); "
                f"first call {first[(n, label)] * 1000:7.1f} ms"
            )


async def _mcp_execute(root: Path, sizes: Sequence[int], env: dict[str, str], calls: int) -> None:
    from mcp import Client, StdioServerParameters

    script = root / "bare_server.py"
    script.write_text(BARE_SERVER)
    servers = {
        "bare": StdioServerParameters(
            command=sys.executable, args=[str(script), str(root)], env=env
        )
    }
    for n in sizes:
        args = ["--project", str(root / f"n{n}"), "serve"]
        servers[f"N={n}"] = StdioServerParameters(command=KIWI, args=args, env=env)
    arguments = {"item_type": "tool", "item_id": TARGET, "parameters": {}}
    times: dict[str, list[float]] = {name: [] for name in servers}
    async with contextlib.AsyncExitStack() as stack:
        clients = {
            name: await stack.enter_async_context(Client(params))
            for name, params in servers.items()
        }
        for name, client in clients.items():  # warm: caches, first spawn, imports
            for _ in range(5):
                result = await client.call_tool("execute", arguments)
                if result.is_error:
                    raise BenchError(f"execute over MCP ({name}): {result}")
        for _ in range(calls):
            for name, client in clients.items():
                start = time.perf_counter()
                await client.call_tool("execute", arguments)
                times[name].append(time.perf_counter() - start)
    bare = _median_ms(times["bare"])
    print(
        f"MCP execute over stdio, {calls} calls each, alternated; bare SDK server p50 {bare:.2f} ms"
    )
    first_added: float | None = None
    for name in servers:
        if name == "bare":
            continue
        added = (
            statistics.median(k - b for k, b in zip(times[name], times["bare"], strict=True)) * 1000
        )
        first_added = added if first_added is None else first_added
        print(
            f"  kiwi serve {name:>9}: p50 {_median_ms(times[name]):6.2f} ms, adds {added:+.2f} ms "
            f"(paired; target ≤ +{EXECUTE_TARGET_MS} ms: {_verdict(added <= EXECUTE_TARGET_MS)}; "
            f"{added - first_added:+.2f} ms vs N={sizes[0]})"
        )


# --- 3. start-up -----------------------------------------------------------------------------


def bench_startup(root: Path, env: dict[str, str], runs: int) -> None:
    small = root / "small"
    warm_env = {**env, "KIWI_WARM": "1"}
    started = subprocess.run(
        [KIWI, "warm", "start"], cwd=small, env=warm_env, capture_output=True, text=True
    )
    if started.returncode != 0:
        raise BenchError(f"kiwi warm start: {started.stderr}")
    argvs = {
        "python -c pass": ([sys.executable, "-c", "pass"], env),
        "kiwi --help": ([KIWI, "--help"], env),
        "kiwi run hello": ([KIWI, "run", "hello"], warm_env),
        "  in-process": ([KIWI, "run", "hello"], env),
        "kiwi --version": ([KIWI, "--version"], warm_env),
    }
    samples: dict[str, list[float]] = {name: [] for name in argvs}
    try:
        for argv, run_env in argvs.values():
            _wall(argv, small, run_env)
        for _ in range(runs):
            for name, (argv, run_env) in argvs.items():
                samples[name].append(_wall(argv, small, run_env))
    finally:
        subprocess.run([KIWI, "warm", "stop"], cwd=small, env=warm_env, capture_output=True)
    bare = _median_ms(samples["python -c pass"])
    targets = {"kiwi --help": HELP_TARGET, "kiwi run hello": HELLO_TARGET}
    print(f"start-up, {runs} runs each, alternated ({sys.executable}); 'kiwi run hello' and")
    print(
        "'kiwi --version' through the warm process (started first), '  in-process' with KIWI_WARM=0"
    )
    for name in argvs:
        ms = _median_ms(samples[name])
        line = f"  {name:<15} {ms:7.1f} ms  {ms / bare:5.2f}× python -c pass"
        if name in targets:
            line += f"  (target ≤ {targets[name]}×: {_verdict(ms / bare <= targets[name])})"
        print(line)


# --- 4. audit verify -------------------------------------------------------------------------


def write_audit(project: Path, lines: int, per_file: int = 100_000) -> int:
    """A valid chain in the log's own format (compact JSON, sorted keys, ``seq`` from 1,
    ``prev`` the SHA-256 hex of the previous line's bytes, ``GENESIS`` first), one day file
    per ``per_file`` lines; returns the bytes written."""
    from kiwi_mcp.kernel.trust.audit.log import GENESIS

    folder = project / ".ai" / "logs" / "audit"
    folder.mkdir(parents=True)
    template = (
        '{{"caps_used":["tool.execute:g0000/t000042","process.exec:true"],'
        '"chain":["g0000/t000042","primitives/subprocess"],"decision":"allow",'
        '"duration_ms":{ms}.125,"item":"g0000/t000042","outcome":"ok",'
        '"params_sha256":"44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",'
        '"prev":"{prev}","reason":null,"seq":{seq},"session":"5e55{day:08x}","thread":null,'
        '"ts":"2026-01-{day:02d}T{h:02d}:{m:02d}:{s:02d}.000Z"}}'
    )
    prev, size, seq = GENESIS, 0, 0
    for day in range(1, (lines + per_file - 1) // per_file + 1):
        with (folder / f"2026-01-{day:02d}.jsonl").open("wb") as out:
            for k in range(min(per_file, lines - seq)):
                seq += 1
                second = k * 86_000 // per_file
                raw = template.format(
                    ms=seq % 90 + 5,
                    prev=prev,
                    seq=seq,
                    day=day,
                    h=second // 3600,
                    m=second // 60 % 60,
                    s=second % 60,
                ).encode()
                prev = hashlib.sha256(raw).hexdigest()
                out.write(raw + b"\n")
                size += len(raw) + 1
    return size


def peak_rss(argv: Sequence[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, str]:
    """(seconds, peak RSS in MB, last output line) of one child, measured by a small
    ``python -S`` wrapper that spawns it and reads its ``wait4`` rusage. Not ``wait4`` from
    here: Linux carries the spawning process's RSS high-water mark across ``exec``, so a
    child of this (large) process would report at least this process's peak."""
    with tempfile.NamedTemporaryFile() as out:
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-S", "-c", RSS_WRAPPER, out.name, *argv],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
        )
        elapsed = time.perf_counter() - start
        text = Path(out.name).read_text(errors="replace").strip()
    try:
        rss_kb, code = map(int, done.stdout.split())
    except ValueError:
        raise BenchError(f"the RSS wrapper failed: {done.stderr[-600:]}") from None
    if code != 0:
        raise BenchError(f"{' '.join(argv)} exited {code}: {text[-600:]}")
    return elapsed, rss_kb / 1024, text.splitlines()[-1] if text else ""


def bench_audit(root: Path, env: dict[str, str], lines: int) -> None:
    for argv in ([sys.executable, "-c", "pass"], [KIWI, "--help"]):
        _, rss, _ = peak_rss(argv, root / "small", env)
        print(f"  floor: {Path(argv[0]).name} {' '.join(argv[1:])}: peak RSS {rss:5.1f} MB")
    for count in (1_000, lines):
        project = root / f"audit{count}"
        start = time.perf_counter()
        size = write_audit(project, count)
        wrote = time.perf_counter() - start
        peak_rss([KIWI, "audit", "verify"], project, env)  # warm: page cache, .pyc
        took, rss, said = peak_rss([KIWI, "audit", "verify"], project, env)
        line = (
            f"  {count:>9} lines ({size / 1e6:6.1f} MB, written in {wrote:5.1f} s): "
            f"verify {took:6.2f} s ({took / count * 1e6:5.1f} µs/line), peak RSS {rss:6.1f} MB"
        )
        if count == lines:
            line += f"  (target ≤ {RSS_TARGET_MB:.0f} MB: {_verdict(rss <= RSS_TARGET_MB)})"
        print(line)
        print(f"      kiwi says: {said}")
        shutil.rmtree(project)


# --- main ------------------------------------------------------------------------------------


def _part(title: str, body: Callable[[], Any]) -> None:
    print(f"\n== {title}")
    _load("before")
    try:
        body()
    except BenchError as err:
        print(f"  FAILED (not a target miss; the bench could not measure): {err}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N up to 10k, 100k audit lines")
    parser.add_argument(
        "--rounds", type=int, help="timed rounds of the locate part (default 9, 5 quick)"
    )
    parser.add_argument(
        "--calls", type=int, help="warm execute calls per side (default 300, 100 quick)"
    )
    parser.add_argument(
        "--profile", action="store_true", help="cProfile one resolve and run at the largest N"
    )
    parser.add_argument(
        "--startup", type=int, metavar="RUNS", help="only part 3, with RUNS runs of each command"
    )
    args = parser.parse_args()
    quick: bool = args.quick
    sizes = (100, 1_000, 10_000) if quick else (100, 1_000, 10_000, 100_000)
    if args.startup:
        sizes = (100,)
    rounds = args.rounds or (5 if quick else 9)
    calls = args.calls or (100 if quick else 300)
    began = time.perf_counter()
    _load("start")
    print(f"kiwi: {KIWI}; sizes {', '.join(map(str, sizes))}; {PER_FOLDER} tools per folder")
    with tempfile.TemporaryDirectory(prefix="kiwi-bench-scale-", ignore_cleanup_errors=True) as tmp:
        root = Path(tmp)
        print(f"\n== projects (under {root})")
        env = make_projects(root, sizes, quick)
        if args.startup:
            _part("3. start-up", lambda: bench_startup(root, env, args.startup))
            return
        _part(
            f"1. locate one tool ({TARGET} / bare {BARE})",
            lambda: bench_locate(root, sizes, env, rounds, quick),
        )
        if args.profile:
            _part("1b. where the time goes", lambda: profile_locate(root, sizes[-1], env))
        warm = [n for n in sizes if n in (100, 10_000, 100_000)]
        _part(
            "2a. warm execute, in process",
            lambda: asyncio.run(_warm_execute(root, warm, env, calls)),
        )
        mcp_calls = max(30, calls // 3)
        _part(
            "2b. warm execute over MCP",
            lambda: asyncio.run(_mcp_execute(root, warm, env, mcp_calls)),
        )
        _part("3. start-up", lambda: bench_startup(root, env, 5 if quick else 10))
        lines = 100_000 if quick else 1_000_000
        _part("4. kiwi audit verify", lambda: bench_audit(root, env, lines))
        print(f"\n(cleaning up {root})")
    _load("end")
    print(f"total {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
