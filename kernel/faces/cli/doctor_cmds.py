"""``kiwi doctor``: platform, user space, keyring, trust store, policy, items, index, and a live
MCP handshake of ``kiwi serve`` (SPEC §11)."""

from __future__ import annotations

import argparse

from kiwi_mcp.kernel.faces.cli.base import EXIT_FAILED, EXIT_OK, CliContext

__all__ = ["add_parsers"]


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "doctor",
        help="check this machine and project, and start 'kiwi serve' as a host would",
        description="Check the platform, Python, user space, keyring backend, trust store,"
        " policy (signed?), unsigned or unverifiable items and the index, then start"
        " 'kiwi serve' on stdio as an MCP host would (initialize + tools/list) and show its"
        " stderr: the one command that says why a host cannot start Kiwi.",
        epilog="examples: kiwi doctor | kiwi --project ~/app --json doctor",
    )
    p.set_defaults(func=_doctor)


def _doctor(args: argparse.Namespace, ctx: CliContext) -> int:
    import os

    from kiwi_mcp.kernel.faces.cli.item_cmds import open_kernel
    from kiwi_mcp.kernel.ops.doctor import diagnose
    from kiwi_mcp.kernel.ops.host_config import kiwi_command

    kernel = open_kernel(ctx)
    checks = diagnose(kernel, kiwi=kiwi_command(), env=dict(os.environ))
    ok = all(check.ok for check in checks)
    if ctx.json:
        ctx.emit_json(
            {
                "ok": ok,
                "project": str(kernel.settings.project_root),
                "checks": [c.to_dict() for c in checks],
            }
        )
        return EXIT_OK if ok else EXIT_FAILED
    ctx.out(f"project: {kernel.settings.project_root}")
    for check in checks:
        ctx.out(f"{'ok  ' if check.ok else 'FAIL'} {check.name}: {check.detail}")
        if check.hint and not check.ok:
            ctx.out(f"     hint: {check.hint}")
    ctx.out("all checks passed" if ok else "some checks failed (see the hints)")
    return EXIT_OK if ok else EXIT_FAILED
