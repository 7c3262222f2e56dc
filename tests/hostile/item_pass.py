"""The item pass: each malformed file of ``gen_items.py`` next to one good tool, tried
through the CLI and through a long-lived stdio server.

Per case and mode: ``kiwi --json search hostile`` still answers; ``kiwi --json run
good/tool`` still works; ``kiwi --json run <bad>`` is an ``ok: false`` envelope whose code is
not ``INTERNAL_ERROR`` and whose message names the file or field (or, for a hostile but
valid file, any clean outcome); the same three through MCP ``search``/``execute``. Every
case runs with ``KIWI_VERIFY=off``; every fourth also signed (``kiwi sign tool '**'``) under
the default ``signed`` policy. A local HTTP server stands for every remote ``$ref`` and must
receive no request. At the end the audit chain must still verify (nothing lost).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final

from tests.hostile.gen_items import ItemCase, cases
from tests.hostile.hostile_report import Report, clip
from tests.hostile.hostile_sandbox import TRACEBACK_MARKS, CliResult, Sandbox, StdioServe
from tests.support.http_server import LoopbackServer

__all__ = ["GOOD", "item_pass", "judge"]

GUARD: Final = 20.0
SIGNED_EVERY: Final = 4
#: A clear error is short enough to read: longer means a value was dumped into it.
MESSAGE_LIMIT: Final = 10_000
GOOD: Final = "good/tool"


def judge(
    case: ItemCase, face: str, envelope: Any, mode: str
) -> tuple[bool, str | None, list[tuple[str, str]]]:
    """(clean, error code, problems) of the bad item's run: an envelope, ``ok: false`` for a
    bad file (``ok: true`` allowed for a hostile but valid one), a code that is not
    ``INTERNAL_ERROR``, a message that names the file, the id or the field, and is short."""
    where = f"{case.name} ({face}, run {clip(case.run, 60)})"
    if not isinstance(envelope, Mapping) or "ok" not in envelope:
        return False, None, [("no-envelope", f"{where}: {clip(envelope)}")]
    error = envelope.get("error")
    if envelope["ok"] is True:
        if case.must_fail and (mode == "signed" or not case.strict_only):
            return True, None, [("bad-item-ran", f"{where}: {clip(envelope.get('data'))}")]
        return True, None, []
    if case.run == GOOD:
        return True, None, [("good-tool-broken", f"{where}: {clip(error)}")]
    code = error.get("code") if isinstance(error, Mapping) else None
    message = str(error.get("message", "")) if isinstance(error, Mapping) else ""
    problems = []
    if code in ("INTERNAL_ERROR", None):
        problems.append(("internal-error", f"{where}: {clip(error)}"))
    elif code == "ITEM_NOT_FOUND" and case.written:
        problems.append(("file-not-seen", f"{where}: {clip(message)}"))
    elif case.names and not any(
        name.lower() in message.lower() for name in (*case.names, case.run)
    ):
        problems.append(
            (
                "error-names-neither-file-nor-field",
                f"{where}: {code}: {clip(message, 200)} (wanted one of {case.names})",
            )
        )
    if len(message) > MESSAGE_LIMIT:
        problems.append(
            (
                "error-message-unbounded",
                f"{where}: {code}, {len(message)} characters: {clip(message, 120)}",
            )
        )
    return True, str(code), problems


class _ItemRun:
    def __init__(self, box: Sandbox, report: Report, sink: LoopbackServer) -> None:
        self.box, self.report, self.sink = box, report, sink
        self.servers: dict[str, StdioServe] = {}
        self.made: list[Path] = []
        self.fetched = 0  # requests the loopback server had when last looked at

    # --- files ------------------------------------------------------------------------

    def _path(self, key: str) -> Path:
        space, _, rel = key.partition(":")
        root = self.box.tools if space == "project" else self.box.user / "tools"
        return root / rel

    def place(self, case: ItemCase) -> None:
        python = sys.executable.encode()
        for key, data in case.files.items():
            path = self._path(key)
            path.parent.mkdir(parents=True, exist_ok=True)
            data = data.replace(b"{loopback}", self.sink.url.encode()).replace(b"{python}", python)
            path.write_bytes(data)
            self.made.append(path)
        for key, target in case.links.items():
            path = self._path(key)
            path.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(target, path)
            self.made.append(path)
        for key in case.fifos:
            path = self._path(key)
            path.parent.mkdir(parents=True, exist_ok=True)
            os.mkfifo(path)
            self.made.append(path)
        for key in case.folders:
            self._path(key).mkdir(parents=True)
            self.made.append(self._path(key))

    def clear(self) -> None:
        for path in reversed(self.made):
            if path.is_symlink() or not path.is_dir():
                path.unlink(missing_ok=True)
            else:
                shutil.rmtree(path, ignore_errors=True)
        for root in (
            self.box.tools / "bad",
            self.box.user / "tools" / "bad",
            self.box.tools / "primitives",
        ):
            shutil.rmtree(root, ignore_errors=True)
        self.made.clear()

    # --- servers ----------------------------------------------------------------------

    def server(self, mode: str) -> StdioServe:
        found = self.servers.get(mode)
        if found is None or not found.alive():
            if found is not None:
                self.report.violation(f"items-{mode}", "server", "server-died", found.stderr_tail())
            env = {"KIWI_VERIFY": "off"} if mode == "off" else {}
            found = StdioServe(self.box, env=env)
            if not found.initialize():
                raise RuntimeError(f"kiwi serve ({mode}) did not initialize: {found.stderr_tail()}")
            self.servers[mode] = found
        return found

    def _drop(self, mode: str) -> None:
        found = self.servers.pop(mode, None)
        if found is not None:
            found.process.kill()
            found.close()

    def close(self) -> None:
        for mode in list(self.servers):
            server = self.servers[mode]
            if not server.alive():
                self.report.violation(f"items-{mode}", "end", "server-died", server.stderr_tail())
            server.close()
        self.servers.clear()

    # --- checks -----------------------------------------------------------------------

    def _cli(self, env: Mapping[str, str], *args: str) -> CliResult:
        return self.box.cli("--json", *args, timeout=GUARD, env=env)

    def _cli_json(self, section: str, case: ItemCase, done: CliResult) -> Any:
        label = f"{case.name}: kiwi --json {' '.join(a[:80] for a in done.args[1:])}"
        if done.timed_out:
            self.report.violation(section, case.cls, "hang", label)
            return None
        self._no_traceback(section, case, done, label)
        if done.json is None:  # SPEC §11: with --json, even an error is JSON on stdout
            crashed = "internal error" in done.stderr
            self.report.violation(
                section,
                case.cls,
                "internal-error" if crashed else "cli-output-not-json",
                f"{label}: exit {done.returncode}: {clip(done.stderr.strip(), 240)}",
            )
        return done.json

    def _no_traceback(self, section: str, case: ItemCase, done: CliResult, label: str) -> None:
        if any(mark in done.stdout + done.stderr for mark in TRACEBACK_MARKS):
            self.report.violation(section, case.cls, "traceback", f"{label}: {clip(done.stderr)}")

    def _mcp(
        self, section: str, case: ItemCase, mode: str, tool: str, args: Mapping[str, Any]
    ) -> Any:
        envelope = self.server(mode).call(tool, args, timeout=GUARD)
        if envelope is None:
            self.report.violation(
                section, case.cls, "hang", f"{case.name}: MCP {tool} {clip(args, 120)}"
            )
            self._drop(mode)
            return None
        if any(mark in json.dumps(envelope, default=str) for mark in TRACEBACK_MARKS):
            self.report.violation(section, case.cls, "traceback", f"{case.name}: MCP {tool}")
        return envelope

    def _good(self, section: str, case: ItemCase, face: str, envelope: Any) -> None:
        if envelope is None:
            return
        if not (
            isinstance(envelope, Mapping)
            and envelope.get("ok") is True
            and envelope.get("data") == {"good": True}
        ):
            self.report.violation(
                section,
                case.cls,
                "good-tool-broken",
                f"{case.name} ({face}): {clip(envelope, 240)}",
            )

    def _searched(self, section: str, case: ItemCase, face: str, found: Any) -> None:
        fine = (
            isinstance(found, list)
            if face == "cli"
            else (isinstance(found, Mapping) and found.get("ok") is True)
        )
        if found is not None and not fine:
            self.report.violation(
                section, case.cls, "search-broken", f"{case.name} ({face}): {clip(found, 240)}"
            )

    def _bad(self, section: str, case: ItemCase, face: str, envelope: Any, mode: str) -> bool:
        """Judge the bad run and report what it broke; True when it gave a clean envelope."""
        if envelope is None:  # the hang guard fired: already reported
            return False
        clean, code, problems = judge(case, f"{face}, {mode}", envelope, mode)
        if code is not None:
            self.report.codes[code] += 1
        for invariant, example in problems:
            self.report.violation(section, case.cls, invariant, example)
        return clean

    def run(self, case: ItemCase, mode: str) -> None:
        section = f"items-{mode}"
        env = {"KIWI_VERIFY": "off"} if mode == "off" else {}
        self.report.sent(section, case.cls, case.count)
        if mode == "signed" and not case.strict_only:  # a strict-only case keeps its own line
            # The operator signs; a file that cannot be signed must say why, in JSON (SPEC §11).
            self._cli_json(section, case, self._cli({}, "sign", "tool", "**"))
        # The three CLI calls are independent reads: run side by side, the MCP calls meanwhile.
        with ThreadPoolExecutor(3) as pool:
            search = pool.submit(self._cli, env, "search", "hostile", "--limit", "100")
            good = pool.submit(self._cli, env, "run", GOOD)
            bad_cli = pool.submit(self._cli, env, "run", case.run)
            found = self._mcp(section, case, mode, "search", {"query": "hostile", "limit": 100})
            self._searched(section, case, "mcp", found)
            execute = {"item_type": "tool", "item_id": GOOD}
            self._good(section, case, "mcp", self._mcp(section, case, mode, "execute", execute))
            bad = self._mcp(section, case, mode, "execute", {**execute, "item_id": case.run})
            clean = self._bad(section, case, "mcp", bad, mode)
            self._searched(section, case, "cli", self._cli_json(section, case, search.result()))
            self._good(section, case, "cli", self._cli_json(section, case, good.result()))
        bad_json = self._cli_json(section, case, bad_cli.result())
        if self._bad(section, case, "cli", bad_json, mode) and clean:
            self.report.answered(section, case.cls, case.count)
        requests = self.sink.requests
        if len(requests) > self.fetched:
            asked = [f"{r.method} {r.path}" for r in requests[self.fetched :]]
            self.report.violation(section, case.cls, "remote-ref-fetched", f"{case.name}: {asked}")
            self.fetched = len(requests)


def item_pass(top: Path, files: int | None, seed: int, report: Report) -> None:
    box = Sandbox.create(top)
    good = (box.tools / f"{GOOD}.py").read_bytes()
    chosen = cases(seed, files)
    with LoopbackServer() as sink:
        run = _ItemRun(box, report, sink)
        try:
            for n, case in enumerate(chosen):
                run.place(case)
                try:
                    run.run(case, "off")
                    if n % SIGNED_EVERY == 0 or case.strict_only:
                        run.run(case, "signed")
                finally:
                    run.clear()
            final = box.cli("--json", "audit", "verify", timeout=60)
            report.sent("items", "audit-verify")
            if final.returncode != 0:
                report.violation(
                    "items",
                    "audit-verify",
                    "audit-chain-broken",
                    clip(final.stdout + final.stderr, 400),
                )
            else:
                report.answered("items", "audit-verify")
            report.sent("items", "good-file-kept")
            if (box.tools / f"{GOOD}.py").read_bytes() != good:
                report.violation("items", "good-file-kept", "good-file-changed", GOOD)
            else:
                report.answered("items", "good-file-kept")
        finally:
            with contextlib.suppress(Exception):
                run.clear()
            run.close()
