"""Always fail (conformance scenario tools-call-error): the failure becomes an isError result."""

__version__ = "1.0.0"
__executor_id__ = "runtimes/python"


def execute(params, context):
    raise RuntimeError("This tool intentionally returns an error for testing")
