"""Rules and findings as frozen records."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from collector.engine.lang import Compiled


class Severity(enum.StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Level(enum.StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


# ITIL's impact × urgency matrix (ticketing.md, "Priority"): the tickets issue makes it
# configurable; until then this is the default every rule's priority comes from.
PRIORITY_MATRIX: Mapping[tuple[Level, Level], str] = {
    (Level.HIGH, Level.HIGH): "P1",
    (Level.HIGH, Level.MEDIUM): "P2",
    (Level.MEDIUM, Level.HIGH): "P2",
    (Level.HIGH, Level.LOW): "P3",
    (Level.MEDIUM, Level.MEDIUM): "P3",
    (Level.LOW, Level.HIGH): "P3",
    (Level.MEDIUM, Level.LOW): "P4",
    (Level.LOW, Level.MEDIUM): "P4",
    (Level.LOW, Level.LOW): "P5",
}
TIERS = ("L1", "L2", "L3")


@dataclass(frozen=True, slots=True)
class Persist:
    """How long a condition must hold: `cycles` evaluations in a row, or `duration_ms`."""

    cycles: int = 1
    duration_ms: int = 0


@dataclass(frozen=True, slots=True)
class Evidence:
    fields: tuple[str, ...] = ()
    series: tuple[str, ...] = ()
    events: tuple[str, ...] = ()  # kind patterns
    window_ms: int = 86_400_000
    max_events: int = 20


@dataclass(frozen=True, slots=True)
class TicketText:
    summary: str
    symptoms: str
    cause: str
    remediation: Mapping[str, tuple[str, ...]]  # tier → steps
    kb: str = ""


@dataclass(frozen=True, slots=True)
class Fleet:
    group_by: str  # template over the finding's facts
    min_hosts: int
    within_ms: int
    summary: str


class OnClear(enum.StrEnum):
    # What the ticket does when the finding clears (ticketing.md §3.6): transient classes
    # (reachability, a volume cleaned up) resolve after the collector's hold-down; the
    # rest (hardware, boot, crashes) get a note and wait for a person.
    RESOLVE = "resolve"
    NOTE = "note"


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    version: int
    title: str
    domain: str
    os: tuple[str, ...]
    severity: Severity
    impact: Level
    urgency: Level
    reason: str
    tier: str
    category: str
    subject: str  # for_each
    when: Compiled
    component: str  # template; "" = the subject's key
    ticket: TicketText
    source: str  # file:line, for messages
    persist: Persist = Persist()
    clear: Compiled | None = None  # None: `when` no longer holds
    clear_persist: Persist = Persist()
    match: tuple[str, ...] = ()  # event rules: kind patterns
    event_fields: tuple[str, ...] = ()
    quiet_ms: int = 86_400_000  # event rules clear after this long without a match
    evidence: Evidence = Evidence()
    absorbs: tuple[str, ...] = ()
    absorb_within_ms: int = 30 * 60_000
    fleet: Fleet | None = None
    on_clear: OnClear = OnClear.NOTE
    # The rule file's text: what an evaluation worker process parses to get this same rule
    # (a compiled condition does not pickle).
    text: str = field(default="", repr=False, compare=False)

    @property
    def priority(self) -> str:
        return PRIORITY_MATRIX[(self.impact, self.urgency)]


class Change(enum.StrEnum):
    OPENED = "opened"  # the rule started firing for this component
    REPEATED = "repeated"  # still firing
    CLEARED = "cleared"  # the clear condition held long enough


@dataclass(frozen=True, slots=True)
class Finding:
    rule: Rule
    agent_id: str
    component: str
    change: Change
    facts: Mapping[str, Any]  # the subject's and host's facts, for templates and evidence
    observed_at_ms: int
    # Why this finding gets no ticket of its own: "absorbed:<rule id>" (a root cause on the
    # same host explains it) or "incident:<group>" (part of a fleet incident); "" = its own.
    held: str = ""
    # Set on a root cause: the rules it absorbed, and from when.
    absorbed_since_ms: int = 0
    group: str = ""  # fleet rules: the shared attribute's value
    evidence: Mapping[str, Any] = field(default_factory=dict)
    # Set by a DeferredFleet (an evaluation worker): the fleet correlation is left to the
    # collector's main process, which sees every host; this is what it needs.
    fleet_probe: FleetProbe | None = None


@dataclass(frozen=True, slots=True)
class FleetProbe:
    """A fleet rule's finding as fleet correlation reads it: small and picklable."""

    rule_id: str
    group: str  # the shared attribute's value (rule.fleet.group_by rendered)
    agent_id: str
    hostname: str
    observed_at_ms: int
    facts: Mapping[str, Any]  # the facts the incident's summary names


@dataclass(frozen=True, slots=True)
class IncidentUpdate:
    rule_id: str
    group: str
    summary: str
    opened_ms: int
    last_seen_ms: int
    hosts: tuple[tuple[str, str, int], ...]  # (agent_id, hostname, last fired)
    new: bool


def coalesce(updates: Iterable[IncidentUpdate]) -> list[IncidentUpdate]:
    """The last update per incident, in the order of those last updates; `new` if any
    of its updates was (the incident opened within them)."""
    last: dict[tuple[str, str], IncidentUpdate] = {}
    opened: set[tuple[str, str]] = set()
    for u in updates:
        key = (u.rule_id, u.group)
        last.pop(key, None)  # re-inserted: dict order is then the order of last updates
        last[key] = u
        if u.new:
            opened.add(key)
    return [replace(u, new=True) if k in opened and not u.new else u for k, u in last.items()]
