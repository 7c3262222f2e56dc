"""``kiwi warm status|start|stop``: the per-user warm process short commands run in
(``warm``, ``warm_server``)."""

from __future__ import annotations

import argparse
import os
import time

from kiwi_mcp.kernel.faces.cli import warm
from kiwi_mcp.kernel.faces.cli.base import EXIT_FAILED, EXIT_OK, CliContext

__all__ = ["add_parsers"]


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "warm",
        help="the warm process short commands run in (status, start, stop)",
        description="Short kiwi commands are handed to a per-user warm process that has the"
        " kernel imported: it forks a child per command, which takes over the caller's"
        " streams, folder, umask, environment and arguments. One is started in the"
        " background when none answers, is replaced when Kiwi or its packages change, and"
        " exits after KIWI_WARM_IDLE seconds (default 900) with no command. KIWI_WARM=0 runs"
        " every command in-process; 'kiwi serve' always runs in-process.",
        epilog="examples: kiwi warm status | kiwi warm stop | KIWI_WARM=0 kiwi run hello",
    )
    actions = p.add_subparsers(dest="warm_action", metavar="<action>", required=True)
    actions.add_parser("status", help="say whether this Kiwi's warm process runs").set_defaults(
        func=_status
    )
    start = actions.add_parser("start", help="start it now (it also starts by itself)")
    start.set_defaults(func=_start)
    actions.add_parser("stop", help="stop it (running commands finish)").set_defaults(func=_stop)


def _located(ctx: CliContext) -> tuple[str, str, str, int | None] | None:
    """This Kiwi's warm folder, socket name, key and running pid; None (said) without a
    private folder."""
    base = warm.folder()
    if base is None:
        ctx.diag(
            "kiwi: no private folder for the warm process (KIWI_WARM_DIR, $XDG_RUNTIME_DIR/kiwi"
            " or /tmp/kiwi-<uid> must be a folder of this user with no access for others)\n"
            "  hint: chmod 700 that folder, or point KIWI_WARM_DIR at one"
        )
        return None
    key = warm.key_text()
    name = warm.socket_name(key)
    pid: int | None = None
    try:
        with open(os.path.join(base, name + ".pid"), encoding="ascii") as kept:
            number = int(kept.read().strip())
        os.kill(number, 0)  # alive (a pid file outlives only a killed process)
        pid = number
    except (OSError, ValueError):
        pass
    return base, name, key, pid


def _status(args: argparse.Namespace, ctx: CliContext) -> int:
    found = _located(ctx)
    if found is None:
        return EXIT_FAILED
    base, name, _, pid = found
    disabled = os.environ.get("KIWI_WARM", "1") == "0"
    socket_path = os.path.join(base, name + ".sock")
    if ctx.json:
        ctx.emit_json(
            {"ok": True, "running": pid is not None, "pid": pid, "socket": socket_path,
             "disabled": disabled, "log": os.path.join(base, name + ".log")}
        )  # fmt: skip
        return EXIT_OK
    state = f"running (pid {pid})" if pid is not None else "not running"
    ctx.out(f"warm process: {state}\n  socket: {socket_path}")
    if disabled:
        ctx.out("  KIWI_WARM=0: commands run in-process")
    return EXIT_OK


def _start(args: argparse.Namespace, ctx: CliContext) -> int:
    found = _located(ctx)
    if found is None:
        return EXIT_FAILED
    base, name, key, pid = found
    if pid is None:
        spawned = warm.start(base, name, key)
        if spawned is None:
            ctx.diag("kiwi: the warm process could not be started\n  hint: see kiwi warm status")
            return EXIT_FAILED
        socket_path = os.path.join(base, name + ".sock")
        deadline = time.monotonic() + 120
        ended = False
        while not os.path.exists(socket_path) and time.monotonic() < deadline:
            ended = ended or os.waitpid(spawned, os.WNOHANG)[0] != 0
            if ended and not _locked(os.path.join(base, name + ".lock")):
                break  # it ended and none other is starting: its log says why
            time.sleep(0.05)  # it imports the kernel first (about a second)
        again = _located(ctx)
        pid = again[3] if again else None
    if pid is None:
        ctx.diag(f"kiwi: the warm process did not start\n  hint: read {base}/{name}.log")
        return EXIT_FAILED
    if ctx.json:
        ctx.emit_json({"ok": True, "pid": pid})
    else:
        ctx.out(f"warm process running (pid {pid})")
    return EXIT_OK


def _locked(path: str) -> bool:
    """Whether a warm process holds the lock at ``path`` (one serves, or is starting)."""
    import fcntl

    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def _stop(args: argparse.Namespace, ctx: CliContext) -> int:
    found = _located(ctx)
    if found is None:
        return EXIT_FAILED
    pid = found[3]
    if pid is not None:
        os.kill(pid, 15)  # SIGTERM: it takes no more commands; running ones finish
    if ctx.json:
        ctx.emit_json({"ok": True, "stopped": pid})
    else:
        ctx.out(f"warm process {pid} stopping" if pid is not None else "no warm process runs")
    return EXIT_OK
