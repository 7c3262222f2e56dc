"""Test-wide settings: the Hypothesis profile.

CI runs on a loaded 2-core machine, where generating data can be slow for reasons that say
nothing about the code. So no test has a deadline and the ``too_slow`` health check is off:
a property either holds on its examples or fails, never on timing luck. The profile is
chosen by ``HYPOTHESIS_PROFILE`` (default ``ci``); ``strict`` restores Hypothesis' defaults.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# commands run in-process unless a test says otherwise (tests/faces/cli/test_warm.py): a warm
# process left behind by one test would serve the next's commands
os.environ["KIWI_WARM"] = "0"

settings.register_profile(
    "ci", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.register_profile("strict")
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
