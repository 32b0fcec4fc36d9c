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
