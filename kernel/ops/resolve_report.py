"""``kiwi resolve``: the chain, its spaces, shadowed files and the final config (redacted)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from kiwi_mcp.kernel.core.redact import Redactor
from kiwi_mcp.kernel.errors import KiwiError

if TYPE_CHECKING:
    from kiwi_mcp.kernel.exec.kernel import Kernel

__all__ = ["render_report", "resolve_report"]


async def resolve_report(kernel: Kernel, tool_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON-ready report; ``ok`` is false when the chain cannot be resolved or verified."""
    report: dict[str, Any] = {"ok": True, "tool": tool_id, "chain": [], "links": []}
    try:
        chain = kernel.resolve(tool_id)
    except KiwiError as err:
        return {**report, "ok": False, "error": err.to_dict()}
    report["chain"] = list(chain.ids)
    for link, tool in zip(chain.links, chain.tools, strict=True):
        try:
            warning = kernel.verifier.check(link)
            verification = f"warning: {warning}" if warning else "ok"
        except KiwiError as err:
            verification = f"{err.code}: {err.message}"
            report["ok"] = False
        report["links"].append(
            {
                "id": tool.id,
                "version": tool.version,
                "space": link.file.space,
                "path": str(link.file.path),
                "executor_id": tool.executor_id,
                "verification": verification,
                "shadowed": [f.to_dict() for f in link.located.shadowed],
                "ignored": [f.to_dict() for f in link.located.ignored],
            }
        )
    try:
        report["merged_config"] = kernel.static(chain).merged
    except KiwiError as err:
        report["merged_config"] = None
        report["config"], report["config_error"] = None, err.to_dict()
        return report
    try:
        plan = await kernel.plan(tool_id, params, fetch_auth=False)
    except KiwiError as err:
        report["config"] = None
        report["config_error"] = err.to_dict()
        return report
    redactor = Redactor(plan.secret_values)
    report["config"] = redactor.redact_value(plan.config)
    report["lockfile"] = plan.lockfile.status
    report["warnings"] = list(plan.warnings)
    return report


def render_report(report: Mapping[str, Any]) -> str:
    """Human text for a report."""
    if "error" in report:
        err = report["error"]
        return f"[{err['code']}] {err['message']}\n  hint: {err['hint']}"
    lines = [" → ".join(report["chain"]), ""]
    for link in report["links"]:
        lines.append(f"{link['id']}@{link['version']}  ({link['space']}: {link['path']})")
        lines.append(f"    verification: {link['verification']}")
        for shadow in link["shadowed"]:
            lines.append(f"    shadows {shadow['space']}: {shadow['path']}")
        for ignored in link["ignored"]:
            lines.append(
                f"    ignored {ignored['space']}: {ignored['path']} (primitives are kernel code)"
            )
    lines.append("")
    if report.get("config") is not None:
        lines.append(f"lockfile: {report.get('lockfile')}")
        for warning in report.get("warnings", []):
            lines.append(f"warning: {warning}")
        lines.append("config (final, secrets redacted):")
        lines.append(json.dumps(report["config"], indent=2, ensure_ascii=False))
    else:
        err = report["config_error"]
        lines.append(f"config not rendered: [{err['code']}] {err['message']}")
        lines.append("merged config (before templating):")
        lines.append(json.dumps(report["merged_config"], indent=2, ensure_ascii=False))
    return "\n".join(lines)
