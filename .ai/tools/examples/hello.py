"""Greet someone (an example Python tool run through runtimes/python)."""

__version__ = "1.0.0"
__tool_type__ = "python"
__executor_id__ = "runtimes/python"
PARAMETERS = {
    "type": "object",
    "properties": {"name": {"type": "string", "default": "world"}},
    "additionalProperties": False,
}


def execute(params, context):
    print("saying hello")  # goes to stderr, never into the result
    return {"greeting": f"Hello, {params['name']}!", "tool": context["tool_id"]}
