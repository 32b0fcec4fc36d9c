"""Per-host history for windows, trends and persistence: bounded, and saved as deltas.

The engine reads a host's recent events, metric series and rule states from memory (a
rule evaluation must cost microseconds, not a query); every change is also recorded as a
delta that the store writes in the same transaction as the batch that caused it, so the
history survives a restart and is reloaded when the host's agent connects again.

Bounded per host: at most `max_events` events (the oldest of the most frequent kind goes
first, so a flood of one kind cannot push out the single panic that explains it), at most
`max_points` points per series (when full, every other point of the older half is dropped:
recent history stays dense, older history gets sparse but still reaches back), and nothing
older than the rule set's longest window.
"""

from __future__ import annotations

import bisect
import hashlib
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

DEFAULT_MAX_EVENTS = 500
DEFAULT_MAX_POINTS = 256
# A series keeps a point only when its value differs from the last point kept, and at most
# one per SPACING_MS: most counters are flat most of the time, a volume's used bytes move
# every minute, and the value at any moment is that of the last point before it (the
# evaluation adds the current value itself, Context._points). Writing a row per series per
# cycle was the largest cost of ingest (tests/bench/bench_ingest.py).
SPACING_MS = 5 * 60_000


@dataclass(frozen=True, slots=True)
class StoredEvent:
    key: str  # stable digest: a replayed event is recognised
    time_ms: int
    kind: str
    severity: str
    message: str
    fields: Mapping[str, str]


def event_key(time_ms: int, kind: str, message: str, fields: Mapping[str, str]) -> str:
    text = "\0".join(
        [str(time_ms), kind, message, *(f"{k}={v}" for k, v in sorted(fields.items()))]
    )
    return hashlib.blake2b(text.encode(), digest_size=10).hexdigest()


@dataclass(frozen=True, slots=True)
class RuleState:
    """Where one rule stands for one component of one host."""

    rule_id: str
    component: str
    phase: str = "pending"  # pending | active | cleared
    streak: int = 0  # evaluations in a row the condition held (pending) or cleared (active)
    since_ms: int = 0  # when the current streak began
    last_eval_ms: int = 0
    opened_ms: int = 0
    last_fire_ms: int = 0
    cleared_ms: int = 0
    occurrences: int = 0
    held: str = ""  # absorbed:<rule> | incident:<group> | ""
    summary: str = ""


SeriesKey = tuple[str, str]  # ("volume.used_bytes", "/home")
MAX_SETTLED = 1024


class SeriesReader:
    """The series kept of one subject's records: their names ("volume.used_bytes") and one
    call that reads all their values from a record (a single attrgetter where every field
    is a plain attribute: this runs for every record ingested)."""

    __slots__ = ("subject", "names", "read")

    def __init__(
        self,
        subject: str,
        series: Sequence[tuple[Callable[[Any], Any], str]],
        read: Callable[[Any], tuple[Any, ...]] | None = None,
    ) -> None:
        self.subject = subject
        self.names = tuple(name for _, name in series)
        getters = tuple(g for g, _ in series)
        self.read = read or (lambda record: tuple(g(record) for g in getters))

    def __bool__(self) -> bool:
        return bool(self.names)


@dataclass
class HistoryDelta:
    """What changed in one host's history since the last flush: the store applies it."""

    agent_id: str
    events_added: list[StoredEvent] = field(default_factory=list)
    events_removed: list[str] = field(default_factory=list)  # keys
    points_added: list[tuple[str, str, int, float]] = field(default_factory=list)
    points_removed: list[tuple[str, str, int]] = field(default_factory=list)
    states: dict[tuple[str, str], RuleState | None] = field(default_factory=dict)  # None: delete
    last_snapshot_ms: int | None = None

    def __bool__(self) -> bool:
        return bool(
            self.events_added or self.events_removed or self.points_added
            or self.points_removed or self.states or self.last_snapshot_ms is not None
        )  # fmt: skip


class HostHistory:
    def __init__(
        self,
        agent_id: str,
        *,
        max_events: int = DEFAULT_MAX_EVENTS,
        max_points: int = DEFAULT_MAX_POINTS,
    ) -> None:
        self.agent_id = agent_id
        self.max_events = max_events
        self.max_points = max_points
        self.horizon_ms = 7 * 86_400_000
        self._events: dict[str, list[StoredEvent]] = {}  # kind → by time
        self._event_keys: set[str] = set()
        self._series: dict[SeriesKey, list[tuple[int, float]]] = {}
        self.states: dict[tuple[str, str], RuleState] = {}
        self._written: dict[tuple[str, str], int] = {}  # last_fire_ms of the state last written
        self.last_snapshot_ms = 0  # the newest snapshot evaluated (for the console)
        self.host_facts: dict[str, Any] = {}
        # The last full evidence of each firing finding: (when, evidence); bounded by states.
        self.evidence: dict[
            tuple[str, str], tuple[int, dict[str, Any]]
        ] = {}  # the latest snapshot's, for event rules
        self._delta = HistoryDelta(agent_id)
        # (subject, component) → (the reader, the values, the newest of their last points)
        # of a record whose every series value equals its last point (add_record_points).
        self._settled: dict[tuple[str, str], tuple[SeriesReader, tuple[Any, ...], int]] = {}

    def __reduce__(self) -> tuple[Any, ...]:
        # A stream's history is pickled to its evaluation worker (ingest/workers.py). Spelled
        # out because compiled by mypyc (collector/native.py) this class cannot be rebuilt
        # the default way, without calling __init__.
        state = {name: getattr(self, name) for name in _HISTORY_STATE}
        return (_rebuilt_history, (self.agent_id, state))

    # -- loading and flushing -------------------------------------------------------

    def load(
        self,
        events: Iterable[StoredEvent],
        points: Iterable[tuple[str, str, int, float]],
        states: Iterable[RuleState],
        last_snapshot_ms: int,
    ) -> None:
        """Fill from the store (no delta is recorded for what was already there)."""
        for e in sorted(events, key=lambda e: e.time_ms):
            self._events.setdefault(e.kind, []).append(e)
            self._event_keys.add(e.key)
        for series, component, t, v in sorted(points, key=lambda p: p[2]):
            self._series.setdefault((series, component), []).append((t, v))
        self._settled.clear()
        self.states = {(s.rule_id, s.component): s for s in states}
        self._written = {key: s.last_fire_ms for key, s in self.states.items()}
        self.last_snapshot_ms = last_snapshot_ms

    def flush(self) -> HistoryDelta:
        delta, self._delta = self._delta, HistoryDelta(self.agent_id)
        return delta

    # -- events ---------------------------------------------------------------------

    def add_event(self, event: StoredEvent) -> bool:
        """Keep an event; False if it was already here (a replay)."""
        if event.key in self._event_keys:
            return False
        same = self._events.setdefault(event.kind, [])
        bisect.insort(same, event, key=lambda e: e.time_ms)
        self._event_keys.add(event.key)
        self._delta.events_added.append(event)
        self._trim_events(event.time_ms)
        return True

    def _trim_events(self, now_ms: int) -> None:
        cutoff = now_ms - self.horizon_ms
        for same in self._events.values():
            while same and same[0].time_ms < cutoff:
                self._drop(same.pop(0))
        total = sum(len(v) for v in self._events.values())
        while total > self.max_events:
            largest = max(self._events.values(), key=len)
            self._drop(largest.pop(0))
            total -= 1
        for kind in [k for k, v in self._events.items() if not v]:
            del self._events[kind]

    def _drop(self, event: StoredEvent) -> None:
        self._event_keys.discard(event.key)
        self._delta.events_removed.append(event.key)

    def events(self, kinds: Iterable[str], start_ms: int, end_ms: int) -> Iterator[StoredEvent]:
        """Events of these kinds with start_ms <= time <= end_ms."""
        for kind in kinds:
            same = self._events.get(kind)
            if not same:
                continue
            lo = bisect.bisect_left(same, start_ms, key=lambda e: e.time_ms)
            hi = bisect.bisect_right(same, end_ms, key=lambda e: e.time_ms)
            yield from same[lo:hi]

    def kinds(self) -> Iterable[str]:
        return self._events.keys()

    def event_count(self) -> int:
        return sum(len(v) for v in self._events.values())

    # -- series ---------------------------------------------------------------------

    def _add_point(self, series: str, component: str, t_ms: int, value: float) -> None:
        points = self._series.setdefault((series, component), [])
        if points and points[-1][0] >= t_ms:
            if points[-1][0] == t_ms:
                return  # a replay
            bisect.insort(points, (t_ms, value))
        elif points and (points[-1][1] == value or t_ms - points[-1][0] < SPACING_MS):
            return  # unchanged, or too soon: the last point still says it
        else:
            points.append((t_ms, value))
        self._delta.points_added.append((series, component, t_ms, value))
        cutoff = t_ms - self.horizon_ms
        # The last point before the horizon stays: it is the series' value when it opens.
        while len(points) >= 2 and points[1][0] <= cutoff:
            old = points.pop(0)
            self._delta.points_removed.append((series, component, old[0]))
        if len(points) > self.max_points:
            # Thin the older half to every other point; the oldest stays, so the series
            # keeps reaching back as far as it did.
            half = len(points) // 2
            older = points[:half]
            for t, _ in older[1::2]:
                self._delta.points_removed.append((series, component, t))
            points[:] = older[0::2] + points[half:]

    def add_point(self, series: str, component: str, t_ms: int, value: float) -> None:
        self._settled.clear()  # a point from outside add_record_points: nothing is known
        self._add_point(series, component, t_ms, value)

    def add_record_points(
        self, series: SeriesReader, record: object, component: str, t_ms: int
    ) -> None:
        """add_point for each series of one record's numeric fields (a value that is not a
        finite number is not a point). Most of them did not change since the last point: a
        snapshot has dozens (every counter of every interface), and a record whose values
        all equal its series' last points, each older than t_ms, adds nothing; that is
        known from one comparison of the values with those of the last call (_settled)."""
        values = series.read(record)
        key = (series.subject, component)
        settled = self._settled.get(key)
        if (
            settled is not None
            and settled[0] is series
            and t_ms > settled[2]
            and settled[1] == values
        ):
            return
        known = self._series
        newest = 0  # the newest last point of the record's series, if they are all settled
        for name, value in zip(series.names, values, strict=True):
            if type(value) is int or (type(value) is float and math.isfinite(value)):
                v = float(value)
                points = known.get((name, component))
                if not points or points[-1][0] >= t_ms or points[-1][1] != v:
                    self._add_point(name, component, t_ms, v)
                    points = known.get((name, component))
                # A change kept back (too soon after the last point) is not settled: the
                # next call must see it again.
                if newest >= 0 and points and points[-1][1] == v:
                    newest = max(newest, points[-1][0])
                else:
                    newest = -1
            else:
                newest = (
                    -1
                )  # True == 1 in a tuple: a record with a value not a point is never settled
        if newest < 0:
            self._settled.pop(key, None)
            return
        if len(self._settled) >= MAX_SETTLED:
            self._settled.clear()  # parts that come and go (VPN interfaces, USB disks)
        self._settled[key] = (series, values, newest)

    def before(self, series: str, component: str, t_ms: int) -> tuple[int, float] | None:
        """The last point older than t_ms: the value the series had when a window opened."""
        points = self._series.get((series, component), [])
        i = bisect.bisect_left(points, (t_ms, float("-inf")))
        return points[i - 1] if i else None

    def points(
        self, series: str, component: str, start_ms: int, end_ms: int
    ) -> list[tuple[int, float]]:
        points = self._series.get((series, component), [])
        lo = bisect.bisect_left(points, (start_ms, float("-inf")))
        hi = bisect.bisect_right(points, (end_ms, float("inf")))
        return points[lo:hi]

    def window(
        self, series: str, component: str, start_ms: int, end_ms: int
    ) -> tuple[list[tuple[int, float]], int, int]:
        """(the series' points, lo, hi): points[lo:hi] is points(...) and points[lo - 1]
        before(...) when lo > 0; nothing copied. The list is the history's: read only."""
        points = self._series.get((series, component), _NO_POINTS)
        lo = bisect.bisect_left(points, (start_ms, float("-inf")))
        hi = bisect.bisect_right(points, (end_ms, float("inf")))
        return points, lo, hi

    def point_count(self) -> int:
        return sum(len(v) for v in self._series.values())

    # -- rule states ----------------------------------------------------------------

    def state(self, rule_id: str, component: str) -> RuleState:
        return self.states.get((rule_id, component)) or RuleState(rule_id, component)

    def set_state(self, state: RuleState) -> None:
        key = (state.rule_id, state.component)
        if state.phase == "pending" and state.streak == 0:
            if key in self.states:
                del self.states[key]
                self._delta.states[key] = None
            return
        before = self.states.get(key)
        self.states[key] = state
        # A finding that is still firing changes its counters every cycle; writing them every
        # cycle would cost a row per snapshot. They are written when anything else changes,
        # and at least every REPEAT_WRITE_MS (a restart loses at most that much of the count,
        # never a phase change).
        if (
            before is not None
            and _only_repeated(before, state)
            and state.last_fire_ms - self._written.get(key, 0) < REPEAT_WRITE_MS
        ):
            return
        self._written[key] = state.last_fire_ms
        self._delta.states[key] = state

    def mark_snapshot(self, t_ms: int) -> None:
        self.last_snapshot_ms = max(self.last_snapshot_ms, t_ms)
        self._delta.last_snapshot_ms = t_ms


REPEAT_WRITE_MS = 10 * 60_000
_NO_POINTS: list[tuple[int, float]] = []


def _only_repeated(before: RuleState, after: RuleState) -> bool:
    """True when only the counters of a still-firing finding moved."""
    return after.phase == before.phase == "active" and all(
        getattr(before, f) == getattr(after, f)
        for f in ("streak", "since_ms", "opened_ms", "cleared_ms", "held", "rule_id", "component")
    )


_HISTORY_STATE = (
    "max_events", "max_points", "horizon_ms", "_events", "_event_keys", "_series", "states",
    "_written", "last_snapshot_ms", "host_facts", "evidence", "_delta", "_settled",
)  # fmt: skip


def _rebuilt_history(agent_id: str, state: dict[str, Any]) -> HostHistory:
    history = HostHistory(agent_id)
    for name, value in state.items():
        setattr(history, name, value)
    return history
