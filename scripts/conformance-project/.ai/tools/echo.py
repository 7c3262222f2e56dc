"""Echo a message back (the Inspector CLI check calls it through execute)."""

__version__ = "1.0.0"
__executor_id__ = "runtimes/python"
PARAMETERS = {
    "type": "object",
    "properties": {"message": {"type": "string", "default": "hello from kiwi"}},
    "additionalProperties": False,
}


def execute(params, context):
    return {"echo": params["message"]}
