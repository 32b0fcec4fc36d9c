"""The store's "now": the wall clock, or one that follows the observations it stores.

Ticket timestamps, hold-downs, note intervals, storm windows, SLA deadlines and the
outbox's retries all read the store's clock. A simulated fleet (agent/sim) sends a day of
60-second cycles in seconds; measured against the wall clock, every ticket of that day
would open "within the same minute" (a storm) and no hold-down would ever elapse. The
observed clock makes those rules run in the fleet's time instead.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

WallClock = Callable[[], int]


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class ObservedClock:
    """Jumps forward to the newest observation time stored, runs with the wall clock between.

    now() = the newest observation + the wall time since it was stored, and never less than
    the wall clock: after a simulated run ends, time goes on at the normal pace from the
    fleet's last moment (a group_wait or a retry scheduled then still comes due). For
    simulations only: one agent with its clock a year ahead would move every ticket's time.
    """

    def __init__(self, wall: WallClock = wall_clock_ms, *, start_ms: int = 0) -> None:
        self._wall = wall
        self._lock = threading.Lock()
        self._anchor = (start_ms, wall())  # (observation, wall time it was stored)

    def __call__(self) -> int:
        observed, at = self._anchor
        wall = self._wall()
        return max(wall, observed + max(0, wall - at))

    def observe(self, observed_ms: int) -> None:
        with self._lock:
            if observed_ms > self():
                self._anchor = (observed_ms, self._wall())
