"""What the ticket lifecycle is allowed to do: the helpdesk lead's knobs, as one record.

Built from [tickets] in the collector's configuration (collector.config.TicketsSection);
the store applies it inside the ingest transaction, so every collector process sharing a
database applies the same policy to the same ticket rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

LEVELS = ("high", "medium", "low")
PRIORITIES = ("P1", "P2", "P3", "P4", "P5")
PRIORITY_NAMES = {"P1": "Critical", "P2": "High", "P3": "Moderate", "P4": "Low", "P5": "Planning"}

# ServiceNow's default data-lookup rules (ticketing.md §3.2), impact × urgency → priority.
DEFAULT_MATRIX: Mapping[tuple[str, str], str] = {
    ("high", "high"): "P1", ("high", "medium"): "P2", ("high", "low"): "P3",
    ("medium", "high"): "P2", ("medium", "medium"): "P3", ("medium", "low"): "P4",
    ("low", "high"): "P3", ("low", "medium"): "P4", ("low", "low"): "P5",
}  # fmt: skip

MINUTE = 60_000
HOUR = 60 * MINUTE
# Typical published targets (ticketing.md §3.3): (respond, resolve) per priority, in ms.
DEFAULT_SLA: Mapping[str, tuple[int, int]] = {
    "P1": (15 * MINUTE, 4 * HOUR),
    "P2": (1 * HOUR, 8 * HOUR),
    "P3": (4 * HOUR, 24 * HOUR),
    "P4": (8 * HOUR, 72 * HOUR),
    "P5": (24 * HOUR, 168 * HOUR),
}
DEFAULT_GROUPS: Mapping[str, str] = {
    "L1": "Service Desk",
    "L2": "Desktop Support",
    "L3": "Engineering",
}


@dataclass(frozen=True, slots=True)
class TicketPolicy:
    matrix: Mapping[tuple[str, str], str] = field(default_factory=lambda: dict(DEFAULT_MATRIX))
    sla: Mapping[str, tuple[int, int]] = field(default_factory=lambda: dict(DEFAULT_SLA))
    groups: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_GROUPS))
    # A repeat adds a note at most this often; the repeats in between are counted in it.
    note_interval_ms: int = 30 * MINUTE
    # A transient finding must stay clear this long before its ticket resolves itself.
    hold_down_ms: int = 30 * MINUTE
    # A recurrence this soon after resolution reopens the ticket; later, a new linked one.
    reopen_window_ms: int = 7 * 24 * HOUR
    # The n-th recurrence of one problem on one host raises a problem record.
    problem_after: int = 3
    # Storm breaker: more than storm_max_new new host tickets within storm_window_ms open
    # one storm ticket and hold every further one until a human acknowledges the storm.
    storm_max_new: int = 50
    storm_window_ms: int = MINUTE
    # A new ticket waits this long before delivery, so a burst is seen whole (Alertmanager's
    # group_wait): the tickets of a storm are held before any of them reaches a helpdesk.
    group_wait_ms: int = 30_000

    def priority(self, impact: str, urgency: str) -> str:
        return self.matrix.get((impact, urgency), "P3")

    def group(self, tier: str) -> str:
        return self.groups.get(tier, tier)

    def sla_due(self, priority: str, created_ms: int) -> tuple[int, int]:
        respond, resolve = self.sla.get(priority, DEFAULT_SLA["P3"])
        return created_ms + respond, created_ms + resolve
