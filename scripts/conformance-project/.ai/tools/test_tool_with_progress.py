"""Print three progress lines ~50 ms apart (conformance scenario tools-call-with-progress).

A plain script with streamed stdout: each line becomes a progress notification when the
caller sent a progress token.
"""

import time

__version__ = "1.0.0"
__executor_id__ = "runtimes/python_script"
CONFIG = {"stream": True}

for step in (0, 50, 100):
    if step:
        time.sleep(0.05)
    print(f"progress {step}/100", flush=True)
