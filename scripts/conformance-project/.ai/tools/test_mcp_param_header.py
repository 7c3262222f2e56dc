"""Echo a region that clients also send as the Mcp-Param-Region HTTP header (conformance
scenario http-custom-header-server-validation, SEP-2243).

The `x-mcp-header` annotation in its parameters is listed unchanged; on the 2026-07-28
Streamable HTTP wire the MCP SDK checks the header against the argument, using the input
schema Kiwi hands it, before the call reaches Kiwi.
"""

__version__ = "1.0.0"
__executor_id__ = "runtimes/python"
PARAMETERS = {
    "type": "object",
    "properties": {"region": {"type": "string", "x-mcp-header": "Region"}},
    "required": ["region"],
    "additionalProperties": False,
}


def execute(params, context):
    return {"region": params["region"]}
