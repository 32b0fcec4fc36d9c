"""HostHistory.add_record_points: a record's series fields, exactly as add_point per field.

It skips the call for a value that did not change, and the whole record when every value
equals its series' last point (one comparison with the values of the last call); what it
keeps and what it records for the store must be what add_point alone keeps and records,
whatever the values do (flat, moving, too soon, out of order, replayed, not finite, beyond
a float's exact integers).
"""

from __future__ import annotations

import math
import operator
import random
from dataclasses import dataclass

import pytest

from collector.engine.history import SPACING_MS, HostHistory, SeriesReader


@dataclass(frozen=True)
class Rec:
    a: object
    b: object


def _a(r: Rec) -> object:
    return r.a


def _b(r: Rec) -> object:
    return r.b


SERIES = ((_a, "x.a"), (_b, "x.b"))
# Both ways a reader reads: a getter per field, and one attrgetter for all (evaluate.py).
READERS = (SeriesReader("x", SERIES), SeriesReader("x", SERIES, operator.attrgetter("a", "b")))


def _value(rng: random.Random, last: object) -> object:
    roll = rng.random()
    if roll < 0.5:
        return last  # most counters are flat
    if roll < 0.6:
        return rng.choice([math.nan, math.inf, "text", True, None])  # not points
    if roll < 0.7:
        return 2**53 + rng.randrange(4)  # ints a float cannot tell apart
    if roll < 0.85:
        return float(rng.randrange(3))
    return rng.randrange(3)


def _times(rng: random.Random, n: int) -> list[int]:
    t, out = 1_700_000_000_000, list[int]()
    for _ in range(n):
        roll = rng.random()
        if roll < 0.1:
            out.append(out[-1] if out else t)  # a replay
        elif roll < 0.2:
            out.append(t - rng.randrange(1, 4) * 60_000)  # out of order
        else:
            t += rng.choice([60_000, SPACING_MS, 2 * SPACING_MS])
            out.append(t)
    return out


@pytest.mark.parametrize("reader", READERS, ids=["getters", "attrgetter"])
def test_add_record_points_keeps_and_records_what_add_point_does(reader: SeriesReader) -> None:
    for seed in range(40):
        rng = random.Random(seed)
        fast = HostHistory("h", max_points=16)
        slow = HostHistory("h", max_points=16)
        fast.horizon_ms = slow.horizon_ms = 3 * 3_600_000
        a: object = 1
        b: object = 1.0
        for t in _times(rng, 300):
            a, b = _value(rng, a), _value(rng, b)
            rec = Rec(a, b)
            fast.add_record_points(reader, rec, "c", t)
            for getter, name in SERIES:
                v = getter(rec)
                if type(v) is int or (type(v) is float and math.isfinite(v)):
                    slow.add_point(name, "c", t, float(v))
        for name in ("x.a", "x.b"):
            assert fast.points(name, "c", 0, 2**62) == slow.points(name, "c", 0, 2**62), seed
        df, ds = fast.flush(), slow.flush()
        assert (df.points_added, df.points_removed) == (ds.points_added, ds.points_removed), seed
