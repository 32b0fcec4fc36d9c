"""The engine: (rules, a host's history, a snapshot or an event) → findings.

No I/O and no clock: time is the observation time the agent reported, so a simulated
fleet running 48 hours in a minute is diagnosed exactly like a real one, and a test is a
list of records. What changes (history, rule states, incidents) is recorded in the
host's HistoryDelta and the Fleet's delta for the store to write.
"""

from __future__ import annotations

import logging
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from agent.records import Event, HostInventory, Snapshot
from collector.engine import template
from collector.engine.history import HostHistory, RuleState, SeriesReader, StoredEvent, event_key
from collector.engine.lang import MAX_WINDOW_MS, kind_matcher
from collector.engine.model import (
    Change,
    Finding,
    FleetProbe,
    IncidentUpdate,
    Persist,
    Rule,
    coalesce,
)
from collector.engine.subjects import SUBJECTS, Facts, LayeredFacts, event_facts, host_facts

log = logging.getLogger("rdiag.collector.engine")

NOT_REPORTED = "not reported"
_NEVER_S = 10.0**9  # last_seen() of an event that never happened


# (rule, rule id, component or None for the subject's key, condition): RuleSet.evaluations
Evaluation = tuple[Rule, str, Callable[[Facts, str], str] | None, Callable[[Facts, Any], Any]]


class RuleSet:
    """Loaded rules, indexed for evaluation; what history they need is computed once."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.rules = tuple(rules)
        self.by_id = {r.id: r for r in self.rules}
        self.by_subject: dict[str, list[Rule]] = {}
        self.event_rules: list[tuple[Callable[[str], bool], Rule]] = []
        self.series: dict[str, set[str]] = {}  # subject → fields kept as series
        patterns: set[str] = set()
        windows = [86_400_000]
        self.absorbed_by: dict[str, list[Rule]] = {}
        for rule in self.rules:
            exprs = [e for e in (rule.when, rule.clear) if e is not None]
            if rule.subject == "event":
                self.event_rules.append((kind_matcher("|".join(rule.match)), rule))
                patterns.update(rule.match)
                windows.append(rule.quiet_ms)
            else:
                self.by_subject.setdefault(rule.subject, []).append(rule)
            fields = {f for e in exprs for f in e.series} | set(rule.evidence.series)
            if fields:
                self.series.setdefault(rule.subject, set()).update(fields)
            patterns.update(k for e in exprs for k in e.kinds)
            patterns.update(rule.evidence.events)
            windows += [w for e in exprs for w in e.windows_ms]
            windows += [rule.evidence.window_ms, rule.absorb_within_ms, rule.persist.duration_ms]
            if rule.fleet:
                windows.append(rule.fleet.within_ms)
            for other in rule.absorbs:
                self.absorbed_by.setdefault(other, []).append(rule)
        self._keep = kind_matcher("|".join(sorted(patterns))) if patterns else (lambda k: False)
        self._kept: dict[str, bool] = {}
        self._active: dict[tuple[str, str], list[Rule]] = {}
        self._evaluations: dict[tuple[str, str], tuple[Evaluation, ...]] = {}
        self._series_for: dict[tuple[str, str], SeriesReader] = {}
        self.subjects = tuple(dict.fromkeys([*self.by_subject, *self.series]))
        self.event_rule_ids = {r.id: r for _, r in self.event_rules}
        # How each rule names its component: the subject's key, one fact, or a template.
        self.component = {rule.id: _component_of(rule.component) for rule in self.rules}
        # A little beyond the longest window, so a window's oldest edge is never cut.
        self.horizon_ms = min(MAX_WINDOW_MS, max(windows)) + 3_600_000

    def active(self, subject: str, os_family: str) -> list[Rule]:
        """The rules over this subject for this OS (all of them when the OS is unknown)."""
        found = self._active.get((subject, os_family))
        if found is None:
            rules = self.by_subject.get(subject, [])
            found = [r for r in rules if not os_family or os_family in r.os]
            self._active[(subject, os_family)] = found
        return found

    def evaluations(self, subject: str, os_family: str) -> tuple[Evaluation, ...]:
        """active(), as what the snapshot loop calls for each record: (rule, its id, how it
        names its component, None for the subject's key, its condition). Made once per
        subject and OS: that loop runs for every rule of every record ingested."""
        found = self._evaluations.get((subject, os_family))
        if found is None:
            found = tuple(
                (rule, rule.id, None if not rule.component else self.component[rule.id],
                 rule.when.fn)
                for rule in self.active(subject, os_family)
            )  # fmt: skip
            self._evaluations[(subject, os_family)] = found
        return found

    def series_for(self, subject: str, os_family: str) -> SeriesReader:
        """The series that the rules active for this OS read (conditions and evidence), as
        one reader: a series no rule of the host's OS reads is not kept (a macOS host's
        seventeen interfaces had nine series each and no rule to read them)."""
        found = self._series_for.get((subject, os_family))
        if found is None:
            names: set[str] = set()
            for rule in self.active(subject, os_family):
                for e in (rule.when, rule.clear):
                    if e is not None:
                        names.update(e.series)
                names.update(rule.evidence.series)
            found = _series_reader(subject, sorted(names))
            self._series_for[(subject, os_family)] = found
        return found

    def keeps(self, kind: str) -> bool:
        kept = self._kept.get(kind)
        if kept is None:
            kept = self._kept[kind] = self._keep(kind)
        return kept


def _series_reader(subject: str, fields: Sequence[str]) -> SeriesReader:
    getters = SUBJECTS[subject].getters
    series = [(getters[f], f"{subject}.{f}") for f in fields]
    read: Callable[[Any], tuple[Any, ...]] | None = None
    if len(fields) >= 2 and all(isinstance(g, operator.attrgetter) for g, _ in series):
        # Each getter is attrgetter(field): one for them all returns the tuple at C speed.
        read = operator.attrgetter(*fields)
    return SeriesReader(subject, series, read)


def _component_of(text: str) -> Callable[[Facts, str], str]:
    """How a rule names its component: the subject's key, one fact, or a template."""
    names = template.fields_of(text) if text else []

    def key(facts: Facts, default: str) -> str:
        return default

    def one(facts: Facts, default: str) -> str:
        return str(facts[names[0]])

    def rendered(facts: Facts, default: str) -> str:
        return template.render(text, facts)

    if not text:
        return key
    return one if len(names) == 1 and text == "{" + names[0] + "}" else rendered


class Context:
    """`X` in compiled conditions: the functions that read history, for one evaluation."""

    def __init__(self, history: HostHistory, now_ms: int, subject: str) -> None:
        self.h = history
        self.now = now_ms
        self.subject = subject
        self._kinds: dict[str, list[str]] = {}

    # arithmetic that cannot raise: x / 0 is 0, which reads as "no rate" in a rule
    @staticmethod
    def div(a: float, b: float) -> float:
        return a / b if b else 0.0

    @staticmethod
    def mod(a: float, b: float) -> float:
        return a % b if b else 0.0

    @staticmethod
    def lower(s: str) -> str:
        return s.lower()

    @staticmethod
    def contains(s: str, part: str) -> bool:
        return part in s

    @staticmethod
    def startswith(s: str, prefix: str) -> bool:
        return s.startswith(prefix)

    @staticmethod
    def endswith(s: str, suffix: str) -> bool:
        return s.endswith(suffix)

    # -- events -----------------------------------------------------------------------

    def _matching(self, pattern: str, start: int, filters: Mapping[str, Any]) -> list[StoredEvent]:
        kinds = self._kinds.get(pattern)
        if kinds is None:
            match = kind_matcher(pattern)
            kinds = self._kinds[pattern] = [k for k in self.h.kinds() if match(k)]
        found = list(self.h.events(kinds, start, self.now))
        for name, value in filters.items():  # usually one filter: one pass each
            text = _text(value)
            found = [e for e in found if e.fields.get(name, "") == text]
        return found

    def count(self, pattern: str, window: int, filters: Mapping[str, Any]) -> int:
        return len(self._matching(pattern, self.now - window, filters))

    def distinct(self, pattern: str, window: int, name: str, filters: Mapping[str, Any]) -> int:
        return len(
            {e.fields.get(name, "") for e in self._matching(pattern, self.now - window, filters)}
        )

    def last_seen(self, pattern: str, filters: Mapping[str, Any]) -> float:
        found = self._matching(pattern, 0, filters)
        if not found:
            return _NEVER_S
        return (self.now - max(e.time_ms for e in found)) / 1000.0

    # -- event fields and SMART attributes ----------------------------------------------

    @staticmethod
    def field(facts: Facts, name: str) -> str:
        return str(facts["__fields"].get(name, ""))

    @staticmethod
    def attr(facts: Facts, attr_id: float) -> int:
        return int(facts["__attrs"].get(int(attr_id), (0, 0, 0))[0])

    @staticmethod
    def attr_norm(facts: Facts, attr_id: float) -> int:
        return int(facts["__attrs"].get(int(attr_id), (0, 0, 0))[1])

    @staticmethod
    def attr_thresh(facts: Facts, attr_id: float) -> int:
        return int(facts["__attrs"].get(int(attr_id), (0, 0, 0))[2])

    # -- series -------------------------------------------------------------------------

    def _points(self, facts: Facts, name: str, window: int) -> list[tuple[int, float]]:
        """The series over the window as a step function: the value it had when the window
        opened (carried to the window's start), the points inside, and the current value
        now (a point is kept only when the value changes, history.py)."""
        series, key, start = f"{self.subject}.{name}", facts["__key"], self.now - window
        pts = self.h.points(series, key, start, self.now)
        if not pts or pts[0][0] > start:
            earlier = self.h.before(series, key, start)
            if earlier is not None:
                pts.insert(0, (start, earlier[1]))
        if not pts or pts[-1][0] < self.now:
            pts.append((self.now, float(facts[name])))
        return pts

    def delta(self, facts: Facts, name: str, window: int) -> float:
        """_points(...)[-1] - _points(...)[0] (0 with fewer than two), without building
        the list: the most common history call, run for every PCI device and interface."""
        start, now = self.now - window, self.now
        pts, lo, hi = self.h.window(f"{self.subject}.{name}", facts["__key"], start, now)
        count = hi - lo
        if count and pts[lo][0] <= start:
            first = pts[lo][1]
        elif lo:  # the value the series had when the window opened, carried to its start
            first, count = pts[lo - 1][1], count + 1
        else:
            first = pts[lo][1] if count else 0.0
        if count and hi > lo and pts[hi - 1][0] >= now:
            last = pts[hi - 1][1]
        else:  # the current value, now
            last, count = float(facts[name]), count + 1
        return last - first if count >= 2 else 0.0

    def rate(self, facts: Facts, name: str, window: int) -> float:
        pts = self._points(facts, name, window)
        if len(pts) < 2 or pts[-1][0] == pts[0][0]:
            return 0.0
        return (pts[-1][1] - pts[0][1]) * 3_600_000 / (pts[-1][0] - pts[0][0])

    def trend(self, facts: Facts, name: str, window: int) -> float:
        slope, _ = _fit(self._points(facts, name, window))
        return slope * 3_600_000

    def forecast(self, facts: Facts, name: str, ahead: int, window: int) -> float:
        pts = self._points(facts, name, window)
        if len(pts) < 3:
            return float(facts[name])
        slope, intercept = _fit(pts)
        return slope * (self.now + ahead - pts[0][0]) + intercept

    def avg(self, facts: Facts, name: str, window: int) -> float:
        pts = self._points(facts, name, window)
        return sum(v for _, v in pts) / len(pts) if pts else float(facts[name])

    def highest(self, facts: Facts, name: str, window: int) -> float:
        return max((v for _, v in self._points(facts, name, window)), default=float(facts[name]))

    def lowest(self, facts: Facts, name: str, window: int) -> float:
        return min((v for _, v in self._points(facts, name, window)), default=float(facts[name]))

    def samples(self, facts: Facts, name: str, window: int) -> int:
        return len(self._points(facts, name, window))


# Which probe reports each subject: when that probe failed this cycle, a missing record means
# "not read", not "gone", and nothing clears because of it.
_PROBE_OF = {
    "volume": "disk", "disk_io": "disk", "raid": "disk", "smart": "smart",
    "interface": "network", "gateway": "network", "dns_check": "network",
    "dns_config": "network", "time_sync": "network", "device": "drivers", "driver": "drivers",
    "boot": "boot", "crash": "boot", "host": "inventory",
}  # fmt: skip


def _failed_subjects(snap: Snapshot) -> frozenset[str]:
    """The subjects whose probe reported an error this cycle (once per snapshot, not per
    subject)."""
    if not snap.errors:
        return frozenset()
    probes = {e.probe for e in snap.errors}
    return frozenset(s for s in SUBJECTS if _PROBE_OF.get(s, "") in probes)


def _fit(points: Sequence[tuple[int, float]]) -> tuple[float, float]:
    """Least squares over (t - t0, v): (slope per ms, value at t0)."""
    n = len(points)
    if n < 2:
        return 0.0, points[0][1] if points else 0.0
    t0 = points[0][0]
    xs = [t - t0 for t, _ in points]
    ys = [v for _, v in points]
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return 0.0, my
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    return slope, my - slope * mx


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _persisted(p: Persist, streak: int, since_ms: int, now_ms: int) -> bool:
    if p.duration_ms:
        return now_ms - since_ms >= p.duration_ms
    return streak >= p.cycles


@dataclass
class RuleErrors:
    """Evaluation errors by rule (a condition can still fail at run time, e.g. on a value
    the agent sent out of range); counted, and logged once per rule."""

    counts: dict[str, int] = field(default_factory=dict)
    logged: set[str] = field(default_factory=set)  # bounded by the rule ids

    def add(self, rule: Rule, exc: Exception) -> None:
        self.counts[rule.id] = self.counts.get(rule.id, 0) + 1
        if rule.id not in self.logged:
            self.logged.add(rule.id)
            log.error("rule evaluation failed",
                      extra={"rule": rule.id, "error": f"{type(exc).__name__}: {exc}"})  # fmt: skip

    def take(self) -> dict[str, int]:
        """The counts since the last take (an evaluation worker reports them)."""
        counts, self.counts = self.counts, {}
        return counts

    def merge(self, counts: dict[str, int]) -> None:
        for rule_id, n in counts.items():
            self.counts[rule_id] = self.counts.get(rule_id, 0) + n


@dataclass
class _Group:
    members: dict[str, tuple[str, int]] = field(default_factory=dict)  # agent → (hostname, ms)
    opened_ms: int = 0  # 0: no incident (yet)


class Fleet:
    """Same rule, same shared attribute, N hosts within a window → one incident.

    In memory, across all hosts this collector serves; the incidents it opens are stored
    (and reloaded at start). Several collectors behind one PostgreSQL each correlate their
    own agents: a fleet incident needs its hosts on one collector (see README)."""

    def __init__(self) -> None:
        self.groups: dict[tuple[str, str], _Group] = {}
        self.updates: list[IncidentUpdate] = []

    def load(
        self, rule_id: str, group: str, opened_ms: int, hosts: Iterable[tuple[str, str, int]]
    ) -> None:
        g = self.groups.setdefault((rule_id, group), _Group())
        g.opened_ms = opened_ms
        g.members.update({a: (h, t) for a, h, t in hosts})

    def observe(self, finding: Finding) -> Finding:
        probe = fleet_probe(finding)
        if probe is None:
            return finding  # no shared attribute known: an ordinary per-host finding
        held = self.join(finding.rule, probe)
        return replace(finding, group=probe.group, held=held or finding.held)

    def join(self, rule: Rule, probe: FleetProbe) -> str:
        """Count the probe's host in its group: "incident:<group>" once the group is an
        incident (the finding gets no ticket of its own), "" while it is not."""
        assert rule.fleet is not None
        group = probe.group
        g = self.groups.setdefault((rule.id, group), _Group())
        now = probe.observed_at_ms
        g.members[probe.agent_id] = (probe.hostname, now)
        cutoff = now - rule.fleet.within_ms
        if not g.opened_ms:
            for agent in [a for a, (_, t) in g.members.items() if t < cutoff]:
                del g.members[agent]
            if len(g.members) < rule.fleet.min_hosts:
                return ""
        new = not g.opened_ms
        if new:
            g.opened_ms = now
        facts = {**probe.facts, "hosts": len(g.members), "group": group}
        self.updates.append(
            IncidentUpdate(
                rule_id=rule.id,
                group=group,
                summary=template.render(rule.fleet.summary, facts),
                opened_ms=g.opened_ms,
                last_seen_ms=now,
                hosts=tuple(sorted((a, h, t) for a, (h, t) in g.members.items())),
                new=new,
            )
        )
        return f"incident:{group}"

    def flush(self) -> list[IncidentUpdate]:
        """The incidents that changed since the last flush, one update each.

        Every update carries the incident's whole member list, so the last one per
        incident says all the earlier ones did: a site's outage seen by 100 hosts in one
        batch is one write, not 100 (each rewriting all 100 members)."""
        updates, self.updates = self.updates, []
        return coalesce(updates)


def fleet_probe(finding: Finding) -> FleetProbe | None:
    """What fleet correlation needs of a fleet rule's finding; None without a shared
    attribute (an ordinary per-host finding)."""
    rule = finding.rule
    assert rule.fleet is not None
    facts = finding.facts
    group = template.render(rule.fleet.group_by, facts)
    if not group.strip():
        return None
    names = _SUMMARY_FIELDS.get(rule.fleet.summary)
    if names is None:
        names = _SUMMARY_FIELDS[rule.fleet.summary] = tuple(
            n for n in template.fields_of(rule.fleet.summary) if n not in ("hosts", "group")
        )
    named = {n: facts[n] for n in names if n in facts}
    hostname = str(facts.get("hostname", ""))
    return FleetProbe(rule.id, group, finding.agent_id, hostname, finding.observed_at_ms, named)


_SUMMARY_FIELDS: dict[str, tuple[str, ...]] = {}  # bounded by the rules' summary texts


class DeferredFleet(Fleet):
    """The fleet of an evaluation worker, which sees only some hosts: it correlates
    nothing, and marks each fleet finding with its probe for the main process's Fleet."""

    def observe(self, finding: Finding) -> Finding:
        probe = fleet_probe(finding)
        if probe is None:
            return finding
        return replace(finding, group=probe.group, fleet_probe=probe)


class Engine:
    def __init__(
        self,
        rules: RuleSet,
        site_of: Callable[[str], str] = lambda subnet: "",
        fleet: Fleet | None = None,
    ) -> None:
        self.rules = rules
        self.site_of = site_of
        self.fleet = fleet if fleet is not None else Fleet()
        self.errors = RuleErrors()
        self.hits: dict[str, int] = {}  # findings opened, by rule

    # -- snapshots ----------------------------------------------------------------------

    def on_snapshot(
        self, hist: HostHistory, host: HostInventory | None, snap: Snapshot
    ) -> list[Finding]:
        # Replays never get here: the ingest path evaluates only records past the stream's
        # committed position (a seq, not a time: a clock stepped back must not mute a host).
        now = snap.taken_at_ms
        hist.horizon_ms = self.rules.horizon_ms
        hfacts = host_facts(host, hist.agent_id, snap, self.site_of)
        hist.host_facts = hfacts
        os_family = str(hfacts.get("os_family") or "")
        found: list[Finding] = []
        states = hist.states
        failed = _failed_subjects(snap)
        for subject_name in self.rules.subjects:
            subject = SUBJECTS[subject_name]
            active = self.rules.active(subject_name, os_family)
            series = self.rules.series_for(subject_name, os_family)
            if not active and not series.names:
                continue
            evaluations = self.rules.evaluations(subject_name, os_family)
            getters = subject.getters
            ctx = Context(hist, now, subject_name)
            # One step per rule and component per snapshot, whatever the number of records
            # naming it (a DNS server asked several names, two reports of one crash): the
            # condition holds when it holds for every one of them (a server that answers one
            # name is up; a zone problem is not a server outage).
            # One verdict per rule and component: False once any of its records is False.
            # A verdict is kept only where it can matter: it holds, or the part has a rule
            # state (pending or active). Where no two records share a key, a rule named by
            # the key sees each component once, so a False without a state is dropped at
            # once: the common case (a condition false for a quiet part) makes no entry.
            verdicts: dict[tuple[str, str], tuple[Rule, Facts, bool]] = {}
            parts: list[tuple[LayeredFacts, str]] = []
            for record in subject.records(snap):
                facts = LayeredFacts({}, hfacts, record, getters)  # subject.lazy, inlined
                key = subject.key(facts)
                facts["__key"] = key
                if series.names:
                    hist.add_record_points(series, record, key, now)
                parts.append((facts, key))
            unique = len(parts) < 2 or len({key for _, key in parts}) == len(parts)
            for facts, key in parts:
                for rule, rule_id, name_of, condition in evaluations:
                    try:
                        holds = condition(facts, ctx)
                    except Exception as exc:  # a rule's failure must not stop the others
                        self.errors.add(rule, exc)
                        continue
                    if name_of is None and unique:
                        if holds:
                            verdicts[(rule_id, key)] = (rule, facts, True)
                        elif states and (rule_id, key) in states:
                            verdicts[(rule_id, key)] = (rule, facts, False)
                        continue
                    verdict = (rule_id, key if name_of is None else name_of(facts, key))
                    before = verdicts.get(verdict)
                    if before is None:
                        verdicts[verdict] = (rule, facts, bool(holds))
                    elif before[2] and not holds:
                        verdicts[verdict] = (rule, facts, False)
            for (rule_id, component), (rule, seen_facts, holds) in verdicts.items():
                if not holds and (rule_id, component) not in states:
                    continue  # nothing holds, nothing was pending
                finding = self._step(rule, hist, ctx, seen_facts, component, holds, now)
                if finding is not None:
                    found.append(finding)
            if active and states and subject_name not in failed:  # no states: nothing gone
                found += self._gone(active, hist, set(verdicts), now)
        found += self._quiet_event_rules(hist, now, os_family)
        hist.mark_snapshot(now)
        return self._correlate(hist, found)

    def _step(
        self,
        rule: Rule,
        hist: HostHistory,
        ctx: Context,
        facts: Facts,
        component: str,
        holds: bool,
        now: int,
    ) -> Finding | None:
        state = hist.state(rule.id, component)
        if state.phase != "active":
            if not holds:
                if state.phase == "pending" and state.streak:
                    hist.set_state(replace(state, streak=0))
                return None
            continuing = state.phase == "pending" and state.streak > 0
            streak = state.streak + 1 if continuing else 1
            since = state.since_ms if continuing else now
            if not _persisted(rule.persist, streak, since, now):
                hist.set_state(replace(state, phase="pending", streak=streak, since_ms=since,
                                       last_eval_ms=now))  # fmt: skip
                return None
            opened = replace(
                state, phase="active", streak=0, since_ms=since, last_eval_ms=now, opened_ms=now,
                last_fire_ms=now, cleared_ms=0, occurrences=1, held="",
            )  # fmt: skip
            return self._finding(rule, hist, opened, facts, Change.OPENED, now, ctx)
        cleared = self._clears(rule, facts, ctx, holds)
        if cleared:
            streak = state.streak + 1
            since = state.since_ms if state.streak else now
            if _persisted(rule.clear_persist, streak, since, now):
                done = replace(state, phase="cleared", streak=0, cleared_ms=now, last_eval_ms=now)
                return self._finding(rule, hist, done, facts, Change.CLEARED, now, ctx)
            hist.set_state(replace(state, streak=streak, since_ms=since, last_eval_ms=now))
            return None
        if not holds:
            if state.streak:  # between the two thresholds: still active, clear streak broken
                hist.set_state(replace(state, streak=0, last_eval_ms=now))
            return None
        again = replace(state, streak=0, last_eval_ms=now, last_fire_ms=now,
                        occurrences=state.occurrences + 1)  # fmt: skip
        return self._finding(rule, hist, again, facts, Change.REPEATED, now, ctx)

    def _gone(
        self, rules: Sequence[Rule], hist: HostHistory, seen: set[tuple[str, str]], now: int
    ) -> list[Finding]:
        """A part that is no longer reported (a fixed Windows device leaves the problem list,
        a USB disk is unplugged) no longer meets any condition: pending streaks reset, and
        active findings clear after clear_persist evaluations, as if the condition cleared."""
        found = []
        ids = {r.id: r for r in rules}
        for (rule_id, component), state in list(hist.states.items()):
            rule = ids.get(rule_id)
            if rule is None or (rule_id, component) in seen or state.phase == "cleared":
                continue
            if state.phase == "pending":
                hist.set_state(replace(state, streak=0))
                continue
            streak = state.streak + 1
            since = state.since_ms if state.streak else now
            if _persisted(rule.clear_persist, streak, since, now):
                done = replace(state, phase="cleared", streak=0, cleared_ms=now, last_eval_ms=now)
                hist.set_state(done)
                facts = {**hist.host_facts, "__key": component}
                found.append(Finding(rule, hist.agent_id, component, Change.CLEARED, facts, now,
                                     held=state.held))  # fmt: skip
            else:
                hist.set_state(replace(state, streak=streak, since_ms=since, last_eval_ms=now))
        return found

    def _clears(self, rule: Rule, facts: Facts, ctx: Context, holds: bool) -> bool:
        if rule.clear is None:
            return not holds
        try:
            return bool(rule.clear.fn(facts, ctx))
        except Exception as exc:
            self.errors.add(rule, exc)
            return False

    def _quiet_event_rules(self, hist: HostHistory, now: int, os_family: str) -> list[Finding]:
        found = []
        for (rule_id, _), state in list(hist.states.items()):
            rule = self.rules.event_rule_ids.get(rule_id)
            if rule is None or state.phase != "active" or now - state.last_fire_ms < rule.quiet_ms:
                continue
            done = replace(state, phase="cleared", cleared_ms=now, last_eval_ms=now)
            facts = {**hist.host_facts, "__key": state.component}
            found.append(Finding(rule, hist.agent_id, state.component, Change.CLEARED,
                                 facts, now, held=state.held))  # fmt: skip
            hist.set_state(done)
        return found

    # -- events -------------------------------------------------------------------------

    def on_event(self, hist: HostHistory, event: Event) -> list[Finding]:
        hist.horizon_ms = self.rules.horizon_ms
        if not self.rules.keeps(event.kind):
            return []
        stored = StoredEvent(
            key=event_key(event.time_ms, event.kind, event.message, event.fields),
            time_ms=event.time_ms,
            kind=event.kind,
            severity=event.severity.name.lower(),
            message=event.message,
            fields=event.fields,
        )
        if not hist.add_event(stored):
            return []  # a replay
        os_family = str(hist.host_facts.get("os_family") or "")
        facts: Facts = {**(hist.host_facts or host_facts(None, hist.agent_id, None)),
                        **event_facts(event), "__key": ""}  # fmt: skip
        found: list[Finding] = []
        ctx = Context(hist, event.time_ms, "event")
        for matches, rule in self.rules.event_rules:
            if not matches(event.kind) or (os_family and os_family not in rule.os):
                continue
            try:
                holds = bool(rule.when.fn(facts, ctx))
            except Exception as exc:
                self.errors.add(rule, exc)
                continue
            if not holds:
                continue
            rfacts = {
                **facts,
                **{n: event.fields.get(n) or NOT_REPORTED for n in rule.event_fields},
            }
            component = template.render(rule.component, rfacts) if rule.component else ""
            state = hist.state(rule.id, component)
            if state.phase == "active":
                new = replace(state, last_eval_ms=max(state.last_eval_ms, event.time_ms),
                              last_fire_ms=max(state.last_fire_ms, event.time_ms),
                              occurrences=state.occurrences + 1)  # fmt: skip
                change = Change.REPEATED
            else:
                new = replace(
                    state,
                    phase="active",
                    streak=0,
                    since_ms=event.time_ms,
                    last_eval_ms=event.time_ms,
                    opened_ms=event.time_ms,
                    last_fire_ms=event.time_ms,
                    cleared_ms=0,
                    occurrences=1,
                    held="",
                )
                change = Change.OPENED
            found.append(self._finding(rule, hist, new, rfacts, change, event.time_ms, ctx))
        return self._correlate(hist, found)

    # -- findings and correlation -------------------------------------------------------

    def _finding(
        self,
        rule: Rule,
        hist: HostHistory,
        state: RuleState,
        facts: Facts,
        change: Change,
        now: int,
        ctx: Context,
    ) -> Finding:
        summary = (
            template.render(rule.ticket.summary, facts)
            if change != Change.CLEARED
            else state.summary
        )
        state = replace(state, summary=summary or state.summary)
        hist.set_state(state)
        evidence: dict[str, Any] = {}
        if change != Change.CLEARED:
            key = (rule.id, state.component)
            cached = hist.evidence.get(key)
            if change == Change.REPEATED and cached and now - cached[0] < EVIDENCE_EVERY_MS:
                # A repeat within minutes of the last full evidence: its timeline and log
                # lines are those, only the values are today's (they are cheap).
                evidence = {**cached[1], "values": _values(rule, facts)}
                if rule.subject == "event" and "events" in evidence:
                    this = {"time_ms": facts["time_ms"], "kind": facts["kind"],
                            "severity": facts["severity"], "message": facts["message"],
                            "fields": dict(facts["__fields"])}  # fmt: skip
                    evidence["events"] = [*evidence["events"], this][-rule.evidence.max_events :]
                    hist.evidence[key] = (cached[0], evidence)
            else:
                evidence = _evidence(rule, hist, facts, now, ctx)
                hist.evidence[key] = (now, evidence)
        else:
            hist.evidence.pop((rule.id, state.component), None)
        if change == Change.OPENED:
            self.hits[rule.id] = self.hits.get(rule.id, 0) + 1
        return Finding(rule, hist.agent_id, state.component, change, facts, now,
                       held=state.held, evidence=evidence)  # fmt: skip

    def _correlate(self, hist: HostHistory, found: list[Finding]) -> list[Finding]:
        if not found:
            return found
        out: list[Finding] = []
        for f in found:
            if f.change == Change.OPENED and not f.held:
                f = self._absorb(hist, f)
            if (
                f.rule.fleet is not None
                and f.change != Change.CLEARED
                and not f.held.startswith("absorbed:")
            ):
                f = self.fleet.observe(f)
            if f.held:
                state = hist.state(f.rule.id, f.component)
                if state.held != f.held:
                    hist.set_state(replace(state, held=f.held))
            out.append(f)
        # A root cause found in this same evaluation holds back what it explains.
        roots = {f.rule.id: f for f in out if f.rule.absorbs and f.change == Change.OPENED}
        if roots:
            out = [self._held_by_root(hist, f, roots) for f in out]
        return out

    def _absorb(self, hist: HostHistory, f: Finding) -> Finding:
        """A new finding explained by an active root cause on this host is held back; a new
        root cause folds the recent findings it explains into itself."""
        for root in self.rules.absorbed_by.get(f.rule.id, ()):
            for (rule_id, _), state in hist.states.items():
                if (
                    rule_id == root.id
                    and state.phase == "active"
                    and f.observed_at_ms - state.last_fire_ms <= root.absorb_within_ms
                ):
                    return replace(f, held=f"absorbed:{root.id}")
        if not f.rule.absorbs:
            return f
        since = f.observed_at_ms - f.rule.absorb_within_ms
        for state in list(hist.states.values()):
            if (
                state.rule_id in f.rule.absorbs
                and state.phase == "active"
                and state.last_fire_ms >= since
                and not state.held
            ):
                hist.set_state(replace(state, held=f"absorbed:{f.rule.id}"))
        return replace(f, absorbed_since_ms=since)

    def _held_by_root(self, hist: HostHistory, f: Finding, roots: Mapping[str, Finding]) -> Finding:
        if f.held:
            return f
        for root in self.rules.absorbed_by.get(f.rule.id, ()):
            if root.id in roots:
                held = f"absorbed:{root.id}"
                hist.set_state(replace(hist.state(f.rule.id, f.component), held=held))
                return replace(f, held=held)
        return f


EVIDENCE_EVERY_MS = 10 * 60_000  # a firing finding's timeline and log lines are rebuilt this often


def _values(rule: Rule, facts: Mapping[str, Any]) -> dict[str, Any]:
    """The fields the rule names for its evidence, then every other fact its conditions read.

    facts is a Mapping, not Facts (a dict), on purpose: compiled (collector/native.py), `in`
    and get() on a dict skip LayeredFacts' own, and its lazy facts would look absent."""
    known = _VALUE_NAMES.get(id(rule))
    if known is None or known[0] is not rule:
        ev = rule.evidence
        read = rule.when.names | (rule.clear.names if rule.clear else set())
        known = _VALUE_NAMES[id(rule)] = (rule, (*ev.fields, *sorted(read - set(ev.fields))))
    return {n: _shown(facts[n]) for n in known[1] if n in facts}


# _values' names by rule (its identity: rules are unhashable), worked out once: every
# repeat of a finding shows its values.
_VALUE_NAMES: dict[int, tuple[Rule, tuple[str, ...]]] = {}


def _evidence(
    rule: Rule, hist: HostHistory, facts: Mapping[str, Any], now: int, ctx: Context
) -> dict[str, Any]:
    ev = rule.evidence
    values = _values(rule, facts)
    out: dict[str, Any] = {"values": values, "condition": rule.when.source}
    if ev.series and rule.subject not in ("event", "host"):
        out["series"] = {}
        for name in ev.series:
            pts = hist.points(f"{rule.subject}.{name}", facts["__key"], now - ev.window_ms, now)
            if (not pts or pts[-1][0] < now) and isinstance(facts.get(name), int | float):
                pts.append((now, facts[name]))  # the series keeps changes; the ticket shows now too
            out["series"][name] = _timeline(pts)
    patterns = [*ev.events, *(rule.match if rule.subject == "event" else ())]
    if patterns:
        match = kind_matcher("|".join(patterns))
        kinds = [k for k in hist.kinds() if match(k)]
        events = sorted(hist.events(kinds, now - ev.window_ms, now), key=lambda e: e.time_ms)
        out["events"] = [
            {"time_ms": e.time_ms, "kind": e.kind, "severity": e.severity, "message": e.message,
             "fields": dict(e.fields)}
            for e in events[-ev.max_events:]
        ]  # fmt: skip
    return out


TIMELINE_POINTS = 60  # a ticket shows a small timeline, not the whole series


def _timeline(points: list[tuple[int, float]]) -> list[list[float]]:
    """At most TIMELINE_POINTS of the series, evenly picked, the newest always included."""
    if len(points) > TIMELINE_POINTS:
        step = len(points) / TIMELINE_POINTS
        points = [points[int(i * step)] for i in range(TIMELINE_POINTS - 1)] + [points[-1]]
    return [[t, v] for t, v in points]


def _shown(value: object) -> object:
    # Percentages are computed at full precision for the rules; people read two decimals.
    if isinstance(value, float):
        return round(value, 2)
    if isinstance(value, tuple):
        return list(value)
    return value
