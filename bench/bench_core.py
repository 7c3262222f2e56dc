"""Kernel core benchmark (issue 2). A script, not a test: prints numbers and ratios.

* cached resolve + verify + validate of a 4-link chain (target ≤ 0.2 ms)
* params + config validation of one plan: compiled checks vs jsonschema
* cold parse of a 2 KB YAML tool
* ``kiwi --help`` wall time vs ``python -c pass`` (target: ≤ 100 ms absolute)
* the Python tool runner (``python -I _python_runner.py tool.py``) vs ``python -c pass``
  (target ≤ 1.2×), and ``kiwi run`` of that tool end to end
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kiwi_mcp.kernel.core.params import (
    _problems,
    apply_defaults,
    check_config,
    validate_params,
    validator_for,
)
from kiwi_mcp.kernel.core.parse import _cache, parse_item
from kiwi_mcp.kernel.exec.kernel import Kernel
from kiwi_mcp.kernel.store.paths import system_space_root
from kiwi_mcp.kernel.store.settings import Settings
from kiwi_mcp.kernel.trust.capabilities import CapabilitySet

KIWI = str(Path(sys.executable).with_name("kiwi"))


def _wall(argv: list[str], *, runs: int, env: dict[str, str], stdin: str | None = None) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, env=env, input=stdin, capture_output=True, text=True, check=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def _project(root: Path) -> None:
    tools = root / ".ai" / "tools"
    (tools / "runtimes").mkdir(parents=True)
    (tools / "runtimes" / "wrapped.yaml").write_text(
        'version: "1.0.0"\nexecutor_id: runtimes/python\nconfig: {timeout: 60}\n'
    )
    (tools / "job.yaml").write_text(
        'version: "1.0.0"\nexecutor_id: runtimes/wrapped\n'
        "parameters: {type: object, properties: {n: {type: integer, default: 1}},"
        " additionalProperties: false}\nconfig: {args: ['-I', '${tool.path}']}\n"
    )
    (tools / "noop.py").write_text(
        '__version__ = "1.0.0"\n__executor_id__ = "runtimes/python"\n'
        "def execute(params, context):\n    return {}\n"
    )


def bench_resolve(root: Path) -> None:
    settings = Settings(
        project_root=root,
        user_space=root / "user",
        system_root=system_space_root(),
        host_env={"PATH": os.environ["PATH"]},
        verify="off",
        lockfile="off",
    )
    kernel = Kernel(
        settings, caps=CapabilitySet.from_strings(["tool.execute:**", "process.exec:*"])
    )

    async def once() -> None:
        await kernel.plan("job", {"n": 2})

    asyncio.run(once())
    loop = asyncio.new_event_loop()
    n = 2000
    start = time.perf_counter()
    for _ in range(n):
        loop.run_until_complete(once())
    per = (time.perf_counter() - start) / n * 1000
    loop.close()
    chain = kernel.resolve("job")
    start = time.perf_counter()
    for _ in range(n):
        chain = kernel.resolve("job")
        kernel.verify_chain(chain)
    per_resolve = (time.perf_counter() - start) / n * 1000
    print(
        f"cached resolve+verify, 4 links ({' → '.join(chain.ids)}): {per_resolve:.3f} ms "
        f"(target ≤ 0.2 ms)"
    )
    print(
        f"cached full plan (resolve, verify, params, caps, merge, env, template, schemas): "
        f"{per:.3f} ms"
    )
    bench_validation(kernel)


def bench_validation(kernel: Kernel) -> None:
    """params + every config_schema of one plan: the compiled check vs jsonschema (as before)."""
    plan = asyncio.run(kernel.plan("job", {"n": 2}))
    asked, label = plan.chain.asked, plan.chain.links[0].file.label
    links = [
        (tool.config_schema, link.file.label)
        for tool, link in zip(plan.chain.tools, plan.chain.links, strict=True)
        if tool.config_schema
    ]

    def compiled() -> None:
        validate_params(asked.parameters, {"n": 2}, tool_id=asked.id, label=label)
        for schema, where in links:
            check_config(schema, plan.config, link_id=asked.id, label=where)

    def with_jsonschema() -> None:
        filled = apply_defaults(asked.parameters, {"n": 2})
        _problems(validator_for(asked.parameters, label), filled, "params")
        for schema, where in links:
            _problems(validator_for(schema, where), plan.config, "config")

    timings = []
    for fn in (compiled, with_jsonschema):
        fn()
        n = 2000
        start = time.perf_counter()
        for _ in range(n):
            fn()
        timings.append((time.perf_counter() - start) / n * 1000)
    print(
        f"params+config validation per plan ({len(links)} config_schema): "
        f"{timings[0]:.3f} ms compiled vs {timings[1]:.3f} ms jsonschema"
    )


def bench_parse() -> None:
    body = 'version: "1.0.0"\nexecutor_id: primitives/http_client\ndescription: x\nconfig:\n'
    i = 0
    while len(body) < 2048:
        body += f"  key_{i}: {{url: 'http://h{i}.test/', headers: {{A: b}}, list: [1, 2, 3]}}\n"
        i += 1
    data = body.encode()
    n = 500
    start = time.perf_counter()
    for k in range(n):
        _cache.clear()
        parse_item("tool", f"t{k}", ".yaml", data, "bench")
    per = (time.perf_counter() - start) / n * 1000
    print(f"cold parse of a {len(data)} B YAML tool: {per:.3f} ms")


def _planned_runner(root: Path, env: dict[str, str]) -> tuple[list[str], dict[str, str], str]:
    """The exact argv, environment and stdin the kernel's chain runs for the ``noop`` tool."""
    from kiwi_mcp.kernel.exec.kernel import Kernel

    kernel = Kernel(Settings.from_environment(root, env=env))
    plan = asyncio.run(kernel.plan("noop", {}))
    config = plan.config
    argv = [str(config["command"]), *map(str, config.get("args") or [])]
    return argv, {**plan.env, **(config.get("env") or {})}, str(config.get("input") or "")


def bench_processes(root: Path) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(root),
        "KIWI_USER_SPACE": str(root / "user"),
        "KIWI_VERIFY": "hash",
    }
    runs = 31
    argv, runner_env, stdin = _planned_runner(root, env)
    bare_argv = [argv[0], "-c", "pass"]  # the same interpreter the chain picked
    samples: dict[str, list[float]] = {"bare": [], "runner": []}
    _wall(bare_argv, runs=2, env=env)
    _wall(argv, runs=2, env=runner_env, stdin=stdin)
    for _ in range(runs):  # alternate, so machine load hits both alike
        samples["bare"].append(_wall(bare_argv, runs=1, env=env))
        samples["runner"].append(_wall(argv, runs=1, env=runner_env, stdin=stdin))
    bare = statistics.median(samples["bare"])
    run_tool = statistics.median(samples["runner"])
    helped = _wall([KIWI, "--help"], runs=15, env=env)
    kiwi_run = _wall([KIWI, "--project", str(root), "run", "noop"], runs=15, env=env)
    print(f"python -c pass:            {bare:7.1f} ms  ({argv[0]})")
    print(
        f"kiwi --help:               {helped:7.1f} ms  ({helped / bare:.2f}× bare; target ≤ 100 ms)"
    )
    print(
        f"python tool runner:        {run_tool:7.1f} ms  "
        f"({run_tool / bare:.2f}× bare; target ≤ 1.2×)  argv: {' '.join(argv[1:3])} …"
    )
    print(f"kiwi run (python tool):    {kiwi_run:7.1f} ms  ({kiwi_run / bare:.2f}× bare)")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _project(root)
        bench_resolve(root)
        bench_parse()
        bench_processes(root)


if __name__ == "__main__":
    main()
