"""A settle clock for tests: files "settle" when the test says so, not after a sleep."""

from __future__ import annotations

import sys
import time

from kiwi_mcp.kernel.store.files import SETTLE_NS

__all__ = ["SettleClock"]


class SettleClock:
    """A settle clock (``clock_ns``) that stands still until ``settle`` steps it."""

    def __init__(self) -> None:
        self.now_ns = time.time_ns()

    def __call__(self) -> int:
        return self.now_ns

    def settle(self) -> None:
        """Step past ``SETTLE_NS``: what was written so far has settled, what comes next not.

        Linux stamps files from its coarse clock (CLOCK_REALTIME_COARSE, id 5), which is
        waited past the step (one tick, a few ms) so no later write can carry an earlier
        stamp; on macOS stamps are exact.
        """
        step = time.time_ns()
        while sys.platform == "linux" and time.clock_gettime_ns(5) <= step:
            time.sleep(0.001)
        self.now_ns = max(self.now_ns, step + SETTLE_NS)
