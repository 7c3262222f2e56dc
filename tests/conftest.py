"""Test-wide settings: the Hypothesis profile.

CI runs on a loaded 2-core machine, where generating data can be slow for reasons that say
nothing about the code. So no test has a deadline and the ``too_slow`` health check is off:
a property either holds on its examples or fails, never on timing luck. The profile is
chosen by ``HYPOTHESIS_PROFILE`` (default ``ci``); ``strict`` restores Hypothesis' defaults.
"""

from __future__ import annotations

import glob
import os
import signal
import time

from hypothesis import HealthCheck, settings

# commands run in-process unless a test says otherwise (tests/faces/cli/test_warm.py): a warm
# process left behind by one test would serve the next's commands
os.environ["KIWI_WARM"] = "0"

settings.register_profile(
    "ci", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.register_profile("strict")
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


_SESSION_START = time.time()


def pytest_sessionfinish(session: object, exitstatus: object) -> None:
    """Stop a warm process a test started in a default folder (a test whose environment
    lost ``KIWI_WARM=0``), and say so: none may outlive the suite."""
    folders = [f"/tmp/kiwi-{os.getuid()}"]
    if os.path.isabs(os.environ.get("XDG_RUNTIME_DIR", "")):
        folders.append(os.path.join(os.environ["XDG_RUNTIME_DIR"], "kiwi"))
    for folder in folders:
        for pid_file in glob.glob(os.path.join(folder, "*.pid")):
            try:
                if os.stat(pid_file).st_mtime < _SESSION_START:
                    continue  # the user's own
                with open(pid_file, encoding="ascii") as kept:
                    pid = int(kept.read().strip())
                os.kill(pid, signal.SIGTERM)
            except (OSError, ValueError):
                continue
            print(f"\nconftest: stopped warm process {pid} a test started in {folder}")
