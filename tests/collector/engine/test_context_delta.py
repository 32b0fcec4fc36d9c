"""Context.delta: the last minus the first value of the window's step function (_points).

delta reads the window's edges in place instead of building _points' list; whatever the
series holds around the window (nothing, points only before it, a point on its edge, the
current value already stored), it must return exactly what _points gives.
"""

from __future__ import annotations

import random

from collector.engine.evaluate import Context
from collector.engine.history import HostHistory


def _reference(ctx: Context, facts: dict[str, object], name: str, window: int) -> float:
    pts = ctx._points(facts, name, window)
    return pts[-1][1] - pts[0][1] if len(pts) >= 2 else 0.0


def test_delta_is_the_step_function_s_last_minus_first() -> None:
    for seed in range(60):
        rng = random.Random(seed)
        hist = HostHistory("h")
        t = 1_000_000
        for _ in range(rng.randrange(0, 12)):
            t += rng.choice([60_000, 300_000, 600_000])
            hist.add_point("device.errors", "pci0", t, float(rng.randrange(50)))
        for _ in range(25):
            now = t + rng.choice([-600_000, -300_000, 0, 60_000, 3_600_000])
            window = rng.choice([60_000, 300_000, 600_000, 3_600_000, 10**9])
            ctx = Context(hist, now, "device")
            facts = {"__key": rng.choice(["pci0", "other"]), "errors": rng.randrange(50)}
            assert ctx.delta(facts, "errors", window) == _reference(ctx, facts, "errors", window)
