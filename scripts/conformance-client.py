"""The client command the MCP conformance suite runs in client mode (mcp-conformance-client.sh).

The suite starts a scenario's test server and runs ``<this command> <server-url>`` with
``MCP_CONFORMANCE_SCENARIO`` set. Kiwi acts as an operator would: ``kiwi mcp add conf --url
<server-url>`` (initialize, tools/list, pins), then ``kiwi run mcp/conf/<tool>`` once per pinned
tool with arguments made from its input schema (each required property a plain value of its
type). The project and user space are the ones the shell script made (``KIWI_CONFORMANCE_PROJECT``,
``KIWI_USER_SPACE``); each scenario gets a fresh project folder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

KIWI = os.environ.get("KIWI") or str(Path(sys.executable).with_name("kiwi"))
_SAMPLES: dict[str, Any] = {
    "number": 2,
    "integer": 3,
    "string": "kiwi",
    "boolean": True,
    "object": {},
    "array": [],
}


def _arguments(schema: dict[str, Any]) -> dict[str, Any]:
    properties = schema.get("properties") or {}
    out: dict[str, Any] = {}
    for name in schema.get("required") or []:
        spec = properties.get(name) or {}
        kind = spec.get("type", "string")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "string")
        out[name] = spec.get("default", _SAMPLES.get(kind, "kiwi"))
    return out


def _kiwi(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [KIWI, "--project", str(project), *args], capture_output=True, text=True, timeout=120
    )
    sys.stdout.write(done.stdout)
    sys.stderr.write(done.stderr)
    return done


def main() -> int:
    url = sys.argv[-1]
    base = Path(os.environ["KIWI_CONFORMANCE_PROJECT"])
    scenario = os.environ.get("MCP_CONFORMANCE_SCENARIO", "scenario").replace("/", "_")
    project = base.parent / f"{base.name}-{scenario}"
    shutil.rmtree(project, ignore_errors=True)
    (project / ".ai" / "tools").mkdir(parents=True)
    added = _kiwi(project, "--json", "mcp", "add", "conf", "--url", url)
    if added.returncode != 0:
        return added.returncode
    tools = json.loads(_kiwi(project, "--json", "mcp", "tools", "conf").stdout)
    import yaml

    schemas: dict[str, dict[str, Any]] = {}
    for tool in tools:
        item = (project / ".ai" / "tools" / f"{tool['id']}.yaml").read_text(encoding="utf-8")
        schemas[tool["tool"]] = (yaml.safe_load(item) or {}).get("parameters") or {}
    failed = 0
    for tool in tools:
        arguments = _arguments(schemas[tool["tool"]])
        if "schema" in arguments:
            # an echo tool (json-schema-2020-12-preservation): hand back what Kiwi kept as
            # the other tool's parameters, so the harness sees what the item preserved
            others = [s for name, s in schemas.items() if name != tool["tool"]]
            arguments["schema"] = others[0] if others else {}
        ran = _kiwi(project, "run", tool["id"], "--params", json.dumps(arguments))
        failed += ran.returncode != 0
    # a refused call (arguments a naive filler cannot satisfy, an upstream error) is the
    # scenario's to judge from what reached its server; only a failed connect fails here
    print(f"conformance-client: {len(tools)} tools called, {failed} refused", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
