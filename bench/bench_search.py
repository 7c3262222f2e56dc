"""Search at scale benchmark (issue 19, SPEC §15). A script, not a test: prints numbers.

    python bench/bench_search.py bfcl              # quality: R@1, R@10, MRR@10 per mode
    python bench/bench_search.py speed 100000      # build, query classes, kiwi search, RSS
    python bench/bench_search.py speed 1000000 --dir /big/tmp
    python bench/bench_search.py speed 1000000 --root /big/tmp/c1m   # kept; corpus reused

``bfcl`` writes BFCL's 3,148 distinct functions (the ``bfcl-eval`` wheel ships them: ``pip
install --no-deps bfcl-eval``) as tool files into a temp project and asks its 2,501 queries
with a ground truth. ``speed N`` generates N realistic tool files (one YAML file per tool,
in 200 category folders, about 1 KiB of disk each), builds the project's index through the
real refresh (walk, parse, verify under ``KIWI_VERIFY=hash``, embed, both engines), then
measures each query class in a fresh serving process (p50/p99 over 200 queries, its RSS)
and ``kiwi search`` end to end; the corpus is deleted afterwards unless ``--keep``. Every
phase prints the load average: the box is shared. The RSS is split per mapping (anonymous,
libraries, model table, each index engine: ``search_rss``), and the semantic half's recall
is checked against exact search (``search_recall``). ``--root R`` keeps its corpus in R and
reuses it next time; ``KIWI_BENCH_BUILD=0`` reuses R's index too; ``KIWI_BENCH_RECALL=0``
and ``KIWI_BENCH_CLI=0`` skip those steps.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from search_corpus import generate, queries_for, tool_yaml
from search_recall import dense_recall
from search_rss import rss_split

KIWI = str(Path(sys.executable).with_name("kiwi"))
CLASSES = ("rare", "common", "very_common", "intent_1", "intent_4", "filtered")


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f}"


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def env_for(project: Path, user: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(user.parent),
        "KIWI_USER_SPACE": str(user),
        "KIWI_VERIFY": "hash",
        "KIWI_AUTH_BACKEND": "file",
    }


def kernel_for(project: Path, user: Path) -> Any:
    from kiwi_mcp.kernel.exec.kernel import Kernel
    from kiwi_mcp.kernel.store.settings import Settings

    return Kernel(Settings.from_environment(project, env=env_for(project, user)))


# --- BFCL quality -------------------------------------------------------------------------

_BFCL_SETS = [
    "simple_python",
    "simple_java",
    "simple_javascript",
    "multiple",
    "parallel",
    "parallel_multiple",
    "live_simple",
    "live_multiple",
    "live_parallel",
    "live_parallel_multiple",
    "irrelevance",
    "live_irrelevance",
    "live_relevance",
]


def _slug(name: str) -> str:
    slug = re.sub(r"[^a-z0-9_.-]+", "_", name.lower()).strip("._-") or "fn"
    return slug if slug[0].isalnum() else f"f{slug}"


def bfcl() -> None:
    import importlib.util

    from kiwi_mcp.kernel.ops.index import rebuild
    from kiwi_mcp.kernel.ops.search import search

    spec = importlib.util.find_spec("bfcl_eval")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("pip install --no-deps bfcl-eval first")
    data = Path(next(iter(spec.submodule_search_locations))) / "data"
    docs: dict[str, dict[str, Any]] = {}
    queries: list[tuple[str, set[str]]] = []
    for name in _BFCL_SETS:
        answers: dict[str, set[str]] = {}
        answer_file = data / "possible_answer" / f"BFCL_v4_{name}.json"
        if answer_file.exists():
            for line in answer_file.read_text().splitlines():
                entry = json.loads(line)
                answers[entry["id"]] = {n for call in entry["ground_truth"] for n in call}
        for line in (data / f"BFCL_v4_{name}.json").read_text().splitlines():
            entry = json.loads(line)
            for fn in entry["function"]:
                key = json.dumps(fn, sort_keys=True)
                docs.setdefault(key, fn)
            if entry["id"] in answers:
                turns = [m for turn in entry["question"] for m in turn if m["role"] == "user"]
                queries.append((turns[-1]["content"], answers[entry["id"]]))
    root = Path(tempfile.mkdtemp(prefix="kiwi-bfcl-"))
    project, user = root / "project", root / "user"
    names: dict[str, str] = {}
    used: set[str] = set()
    for fn in docs.values():
        slug = base = _slug(fn["name"])
        n = 1
        while slug in used:
            n += 1
            slug = f"{base}-{n}"
        used.add(slug)
        names[slug] = fn["name"]
        props = (fn.get("parameters") or {}).get("properties") or {}
        params = {
            _slug(p): str((v or {}).get("description", "")) if isinstance(v, dict) else ""
            for p, v in props.items()
        }
        path = project / ".ai/tools/bfcl" / f"{slug}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(tool_yaml(str(fn.get("description", "")), params))
    user.mkdir()
    print(f"BFCL: {len(docs)} tools, {len(queries)} queries ({load()})")
    kernel = kernel_for(project, user)
    started = time.perf_counter()
    done = rebuild(kernel, ("project",))["project"]
    print(f"  build {time.perf_counter() - started:.1f} s ({done.added} indexed)")
    print("  mode      R@1    R@10   MRR@10  p50 ms  p99 ms")
    results: dict[str, dict[str, float]] = {}
    for mode in os.environ.get("MODES", "keyword semantic hybrid").split():
        r1 = r10 = mrr = 0.0
        times: list[float] = []
        for text, relevant in queries:
            t0 = time.perf_counter()
            hits = search(kernel, text, spaces=("project",), limit=10, mode=mode)
            times.append((time.perf_counter() - t0) * 1000)
            ranks = [i for i, h in enumerate(hits) if names.get(h.id.split("/", 1)[-1]) in relevant]
            if ranks:
                r1 += ranks[0] == 0
                r10 += 1
                mrr += 1 / (ranks[0] + 1)
        n = len(queries)
        results[mode] = {"r1": r1 / n, "r10": r10 / n, "mrr": mrr / n}
        print(
            f"  {mode:<9} {r1 / n:.3f}  {r10 / n:.3f}  {mrr / n:.3f}   "
            f"{pct(times, 0.5):6.2f}  {pct(times, 0.99):6.2f}"
        )
    print(f"  ({load()})")
    shutil.rmtree(root)


def serve(project: Path, user: Path, queries_file: Path) -> None:
    """The long-lived server's part: open, warm, answer every class; print JSON."""
    from kiwi_mcp.kernel.ops.search import search

    queries: dict[str, list[str]] = json.loads(queries_file.read_text())
    kernel = kernel_for(project, user)
    search(kernel, "warm up the engines", spaces=("project",))
    out: dict[str, Any] = {}
    for cls in CLASSES:
        for mode in ("hybrid", "keyword", "semantic") if cls == "intent_4" else ("hybrid",):
            times: list[float] = []
            for q in queries[cls]:
                kw: dict[str, Any] = {"kinds": ("tool",), "spaces": ("project",)}
                t0 = time.perf_counter()
                search(kernel, q, mode=mode, **(kw if cls == "filtered" else {}))
                times.append((time.perf_counter() - t0) * 1000)
            out[f"{cls}/{mode}"] = (pct(times, 0.5), pct(times, 0.99))
    status = Path("/proc/self/status").read_text()
    out["rss_mb"] = int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]
    out["hwm_mb"] = int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]
    # anonymous memory is what the process holds; file pages (the mapped indexes) are cache
    for field in ("RssAnon", "RssFile"):
        found = re.search(field + r":\s+(\d+)", status)
        out[field] = int(found.group(1)) / 1024 if found else 0.0
    out["split"] = rss_split(str(project / ".ai/index"))
    print(json.dumps(out))


def speed(count: int, base: Path | None, keep: bool, root: Path | None = None) -> None:
    """``root`` (``--root``): a fixed folder kept afterwards; its corpus (``queries.json``
    written) is reused, and its index too when ``KIWI_BENCH_BUILD=0``."""
    from kiwi_mcp.kernel.ops.index import rebuild

    if root is None:
        root = Path(tempfile.mkdtemp(prefix=f"kiwi-search-{count}-", dir=base))
    else:
        keep = True
    project, user = root / "project", root / "user"
    user.mkdir(parents=True, exist_ok=True)
    qfile = root / "queries.json"
    print(f"speed at {count} items in {root} ({load()})")
    try:
        if not qfile.exists():
            t0 = time.perf_counter()
            terms = generate(project, count)
            qfile.write_text(json.dumps(queries_for(terms)))
            print(f"  generated in {time.perf_counter() - t0:.0f} s ({load()})")
        if os.environ.get("KIWI_BENCH_BUILD", "1") != "0":
            kernel = kernel_for(project, user)
            t0 = time.perf_counter()
            done = rebuild(kernel, ("project",))["project"]
            build = time.perf_counter() - t0
            print(
                f"  build {build:.0f} s = {build * 100000 / count:.0f} s per 100k "
                f"({done.added} indexed, {done.batches} batches; {load()})"
            )
        index_files = [f for f in (project / ".ai/index").rglob("*") if f.is_file()]
        size = sum(f.stat().st_size for f in index_files)
        print(f"  index on disk {size / 2**20:.0f} MiB:", end="")
        for part in ("state.sqlite", "vectors", "keyword"):
            mib = sum(f.stat().st_size for f in index_files if part in str(f)) / 2**20
            print(f" {part} {mib:.0f}", end="")
        print()
        served = subprocess.run(
            [sys.executable, __file__, "_serve", str(project), str(user), str(qfile)],
            capture_output=True,
            text=True,
            check=True,
        )
        numbers = json.loads(served.stdout.strip().splitlines()[-1])
        print(f"  long-lived server, p50 / p99 ms over 200 queries ({load()}):")
        for key, value in numbers.items():
            if isinstance(value, list):
                print(f"    {key:<22} {value[0]:7.2f} / {value[1]:7.2f}")
        print(
            f"    RSS {numbers['rss_mb']:.0f} MB (peak {numbers['hwm_mb']:.0f} MB; anonymous "
            f"{numbers['RssAnon']:.0f} MB, mapped files {numbers['RssFile']:.0f} MB)"
        )
        for name, mb in numbers["split"].items():
            print(f"      {name:<36} {mb:7.1f} MB")
        if os.environ.get("KIWI_BENCH_RECALL", "1") != "0":
            recall = subprocess.run(
                [sys.executable, __file__, "_recall", str(project), str(qfile)],
                capture_output=True,
                text=True,
                check=True,
            )
            print(f"  dense recall@10 vs exact int8 cosine: {recall.stdout.strip()} ({load()})")
        if os.environ.get("KIWI_BENCH_CLI", "1") == "0":
            return
        # through the warm process (the default; started first, stopped after) and in-process
        warm_env = {**env_for(project, user), "KIWI_WARM_DIR": str(user.parent / "warm")}
        cold_env = {**warm_env, "KIWI_WARM": "0"}
        subprocess.run([KIWI, "warm", "start"], cwd=project, env=warm_env, check=True)
        try:
            for argv in (
                ["search", "send", "email", "gmail", "customer"],
                ["search", "--mode", "keyword", "send", "email", "gmail", "customer"],
                ["resolve", "runtimes/python"],
            ):
                for how, env in (("warm", warm_env), ("in-process", cold_env)):
                    walls: list[float] = []
                    for _ in range(15):
                        t0 = time.perf_counter()
                        subprocess.run(
                            [KIWI, *argv], cwd=project, env=env, capture_output=True, check=True
                        )
                        walls.append((time.perf_counter() - t0) * 1000)
                    print(
                        f"  kiwi {' '.join(argv[:3]):<28} {how:>10}: p50 "
                        f"{statistics.median(walls):.0f} ms, max {max(walls):.0f} ms ({load()})"
                    )
        finally:
            subprocess.run([KIWI, "warm", "stop"], cwd=project, env=warm_env, capture_output=True)
    finally:
        if keep:
            print(f"  kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str]) -> None:
    if argv[:1] == ["_serve"]:
        serve(Path(argv[1]), Path(argv[2]), Path(argv[3]))
    elif argv[:1] == ["_recall"]:
        asked = json.loads(Path(argv[2]).read_text())
        sample = asked["intent_4"][:100] + asked["intent_1"][:50] + asked["rare"][:50]
        mean, items = dense_recall(Path(argv[1]) / ".ai/index", sample)
        print(f"{mean:.3f} over {len(sample)} queries, {items} items")
    elif argv[:1] == ["bfcl"]:
        bfcl()
    elif argv[:1] == ["speed"] and len(argv) >= 2:
        base = Path(argv[argv.index("--dir") + 1]) if "--dir" in argv else None
        fixed = Path(argv[argv.index("--root") + 1]) if "--root" in argv else None
        speed(int(argv[1]), base, "--keep" in argv, fixed)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
