"""What the store keeps, as frozen records. The store speaks only these and agent.records."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agent.records import AgentStats, HostInventory
from collector.engine.history import HistoryDelta, RuleState
from collector.engine.model import IncidentUpdate


class RecordKind(enum.StrEnum):
    SNAPSHOT = "snapshot"
    EVENT = "event"
    STATS = "stats"


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """One telemetry record as it arrived: payload is the serialized rdiag.v1.Record."""

    seq: int
    kind: RecordKind
    observed_at_ms: int
    payload: bytes


class TicketState(enum.StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"
    CLOSED = "closed"
    # Folded into another ticket: a root cause on the same host (merged_into) or a fleet
    # incident (incident_id). Never reopened by a repeat: the other one carries the problem.
    MERGED = "merged"
    # Held back by a ticket storm (storm_id): kept here, not delivered, until released.
    HELD = "held"


class Resolution(enum.StrEnum):
    FIXED = "fixed"  # a person resolved it
    AUTO = "auto"  # a transient finding stayed clear for the hold-down period
    WONT_FIX = "wont_fix"  # a human decision: never reopened
    DUPLICATE = "duplicate"  # a human decision: never reopened


@dataclass(frozen=True, slots=True)
class TicketDraft:
    """A finding rendered as a ticket, before the store decides new vs repeat.

    dedup_key identifies the problem (host + rule + component) and carries
    nothing volatile, so a repeat updates the open ticket instead of opening another.
    """

    dedup_key: str
    agent_id: str
    hostname: str
    rule_id: str
    rule_version: int
    component: str
    severity: str  # critical | high | medium | low
    priority: str  # P1..P5
    tier: str  # L1 | L2 | L3
    category: str
    summary: str
    description: str  # Markdown
    evidence: Mapping[str, Any]  # JSON-serialisable
    observed_at_ms: int
    # A root cause: the open tickets of these rules on this host, seen since absorb_since_ms,
    # are merged into this one.
    absorbs: tuple[str, ...] = ()
    absorb_since_ms: int = 0
    clear: bool = False  # the finding cleared: the lifecycle decides note or resolve
    auto_resolve: bool = False  # transient class: resolve after the hold-down when clear
    impact: str = "medium"  # high | medium | low
    urgency: str = "medium"
    site: str = ""
    content: Mapping[str, Any] = field(default_factory=dict)  # the report's parts (render.py)


@dataclass(frozen=True, slots=True)
class Ticket:
    id: int
    dedup_key: str
    agent_id: str
    hostname: str
    rule_id: str
    rule_version: int
    component: str
    severity: str
    priority: str
    tier: str
    category: str
    summary: str
    description: str
    evidence: Mapping[str, Any]
    state: TicketState
    occurrences: int
    created_at_ms: int
    updated_at_ms: int
    first_seen_ms: int
    last_seen_ms: int
    merged_into: int | None = None
    incident_id: int | None = None
    kind: str = "host"  # host | fleet | storm | problem
    impact: str = ""
    urgency: str = ""
    site: str = ""
    content: Mapping[str, Any] = field(default_factory=dict)
    auto_resolve: bool = False
    sla_respond_ms: int = 0
    sla_resolve_ms: int = 0
    acknowledged_ms: int = 0
    assignee: str = ""
    resolution: str = ""
    resolved_ms: int = 0
    cleared_ms: int = 0
    last_note_ms: int = 0
    repeats_since_note: int = 0
    reopen_count: int = 0
    recurrence: int = 0
    previous_id: int | None = None
    problem_id: int | None = None
    storm_id: int | None = None


@dataclass(frozen=True, slots=True)
class TicketNote:
    id: int
    ticket_id: int
    time_ms: int
    kind: str
    body: str


@dataclass(frozen=True, slots=True)
class TicketFile:
    id: int
    ticket_id: int
    name: str
    media_type: str
    sha256: str
    size: int
    content: bytes


@dataclass(frozen=True, slots=True)
class TicketRef:
    ticket_id: int
    sink: str
    external_id: str
    url: str


@dataclass(frozen=True, slots=True)
class PendingOp:
    """One outbox operation a sink has still to deliver."""

    id: int
    ticket_id: int
    op: str  # create | note | attach | resolve | reopen
    ref_id: int
    attempts: int
    memo: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class DeliveryStatus:
    """A ticket operation's delivery to one sink, as the CLI and console show it."""

    op_id: int
    ticket_id: int
    op: str
    sink: str
    state: str  # waiting | retrying | done | failed | cancelled
    attempts: int
    next_attempt_ms: int
    last_error: str
    updated_ms: int


@dataclass(frozen=True, slots=True)
class Silence:
    id: int
    scope: str  # host | site | rule
    value: str
    reason: str
    created_by: str
    created_ms: int
    expires_ms: int
    hits: int


@dataclass(frozen=True, slots=True)
class IncomingBatch:
    """One agent Batch, validated and decoded, ready to commit.

    findings pairs a record's seq with the ticket draft rules produced from it;
    the store applies a draft only when that seq was newly inserted, so a
    replayed batch never touches tickets twice.
    """

    agent_id: str
    epoch: str
    seq_first: int
    seq_last: int
    records: tuple[StoredRecord, ...]
    received_at_ms: int
    inventory: HostInventory | None = None  # latest inventory in the batch, if any
    stats: AgentStats | None = None  # latest agent stats in the batch, if any
    findings: tuple[tuple[int, TicketDraft], ...] = ()
    # The rule engine's changes: applied whether or not the records were new (they are
    # idempotent), so a replay after a failed commit restores what the engine remembers.
    history: tuple[HistoryDelta, ...] = ()
    incidents: tuple[IncidentUpdate, ...] = ()


@dataclass(frozen=True, slots=True)
class BatchResult:
    inserted_seqs: frozenset[int]
    acked_seq: int  # highest seq committed for (agent_id, epoch), after this batch
    tickets_opened: tuple[int, ...] = ()
    tickets_updated: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Host:
    agent_id: str
    inventory: HostInventory
    first_seen_ms: int
    last_seen_ms: int


@dataclass(frozen=True, slots=True)
class AgentHealth:
    agent_id: str
    time_ms: int
    spool_records: int
    spool_bytes: int
    dropped: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RejectedBatch:
    id: int
    agent_id: str
    epoch: str
    seq_first: int
    seq_last: int
    reason: str
    received_at_ms: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class Incident:
    id: int
    rule_id: str
    group: str
    state: str
    summary: str
    opened_ms: int
    updated_ms: int
    last_seen_ms: int
    hosts: tuple[tuple[str, str, int], ...]  # (agent_id, hostname, last fired)


@dataclass(frozen=True, slots=True)
class StoredFinding:
    """A rule's state on one host component, as stored: the findings list."""

    agent_id: str
    state: RuleState


class Role(enum.StrEnum):
    """Console roles, each allowed what the one before it may do and more (web/auth.py)."""

    VIEWER = "viewer"
    L1 = "L1"
    L2 = "L2"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class User:
    id: int
    name: str
    role: Role
    created_ms: int
    last_login_ms: int = 0


@dataclass(frozen=True, slots=True)
class ApiToken:
    id: int
    name: str
    role: Role
    created_by: str
    created_ms: int
    last_used_ms: int = 0


@dataclass(frozen=True, slots=True)
class HostRow:
    """One line of the console's host list: the host and its open tickets."""

    agent_id: str
    hostname: str
    os_name: str
    vendor: str
    last_seen_ms: int
    open_tickets: int
    worst_priority: str  # "" when none is open


@dataclass(frozen=True, slots=True)
class FleetSummary:
    hosts: int
    stale_hosts: int  # not seen since the staleness cutoff
    open_by_priority_tier: Mapping[tuple[str, str], int]
    held_tickets: int
    open_incidents: int
    last_received_ms: int  # the newest batch stored
    rejected_batches: int
