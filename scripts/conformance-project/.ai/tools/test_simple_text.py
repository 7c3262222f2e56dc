"""Return a short text (conformance scenario tools-call-simple-text)."""

__version__ = "1.0.0"
__executor_id__ = "runtimes/python"


def execute(params, context):
    return {"text": "This is a simple text response for testing."}
