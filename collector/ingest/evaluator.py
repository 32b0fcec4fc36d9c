"""One agent stream's evaluation: a batch's payload → stored records, findings and drafts.

The part of ingest that costs CPU (decompressing, decoding, the rule pack, drafting) and
needs no store: it runs in an evaluation worker process (workers.py) or, with
`ingest.workers = 0`, in the collector's own. Everything a stream's evaluation remembers
lives in its StreamState, which stays where the stream's batches are evaluated; what
crosses back is small and picklable (BatchIn → Evaluated). Fleet correlation is the one
step left to the main process, which sees every host (Finding.fleet_probe).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from agent.common.codec import Codec
from agent.records import AgentStats, Event, HostInventory, Snapshot
from collector.engine.evaluate import Engine
from collector.engine.history import HistoryDelta, HostHistory
from collector.engine.model import Change, FleetProbe
from collector.engine.subjects import host_facts
from collector.ingest import convert
from collector.store import StoredRecord, TicketDraft
from collector.tickets.policy import TicketPolicy
from collector.tickets.render import draft
from rdiag_proto.v1 import collector_pb2 as cpb

MAX_WAITING = 1000  # events held for a new host's first snapshot; beyond, judged OS-blind


@dataclass(frozen=True, slots=True)
class BatchIn:
    """A Batch whose envelope the main process checked, and the fleet's word on earlier
    findings of this stream (held: (rule id, component, held) to set on its rule states)."""

    seq_first: int
    seq_last: int
    record_count: int
    codec: int
    dictionary_id: int
    payload: bytes
    held: tuple[tuple[str, str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Found:
    """One finding of the batch that matters to the store or the fleet."""

    seq: int
    rule_id: str
    component: str
    change: Change
    draft: TicketDraft | None  # None: held back here (a root cause on this host)
    probe: FleetProbe | None = None  # a fleet rule's finding: the main process correlates it


@dataclass(frozen=True, slots=True)
class Evaluated:
    records: tuple[StoredRecord, ...]
    inventory: HostInventory | None  # the last one the batch carried, if any
    stats: AgentStats | None
    found: tuple[Found, ...]
    held: int  # findings held back here
    history: HistoryDelta
    hits: dict[str, int]  # findings opened, by rule
    errors: dict[str, int]  # rule evaluation errors, by rule


class Rejected(Exception):
    """The batch can never be stored as sent (the reason says why)."""


@dataclass
class StreamState:
    agent_id: str
    # What the rules remember of this host, loaded from the store when the stream opened.
    history: HostHistory
    host: HostInventory | None
    # Records up to here were committed before (the position at Hello): a resend of them is
    # stored once by the store and must not be evaluated twice by the rules either.
    evaluated_seq: int = 0
    # Events of a host whose OS is not known yet, bounded by MAX_WAITING.
    waiting: list[Event] = field(default_factory=list)
    # The last ticket draft per finding: a repeat reuses its text (bounded by the host's
    # rule states: one per rule and component).
    drafts: dict[tuple[str, str], TicketDraft] = field(default_factory=dict)
    # The parts of this host's last snapshot, by their bytes (convert.SnapshotMemo).
    memo: convert.SnapshotMemo = field(default_factory=convert.SnapshotMemo)


@dataclass(frozen=True)
class Limits:
    max_batch_bytes: int
    policy: TicketPolicy


def evaluate(
    engine: Engine, codec: Codec, limits: Limits, state: StreamState, batch: BatchIn
) -> Evaluated:
    """Rejected when the payload does not decode; the state is then as it was."""
    hist = state.history
    for rule_id, component, why in batch.held:
        rs = hist.states.get((rule_id, component))
        if rs is not None and rs.held != why:
            hist.set_state(replace(rs, held=why))
    envelope = cpb.Batch(
        seq_first=batch.seq_first, seq_last=batch.seq_last, record_count=batch.record_count
    )
    try:
        payload = codec.decompress(
            batch.payload, batch.codec, batch.dictionary_id, limits.max_batch_bytes
        )
        records = convert.decode_records(envelope, payload, state.memo)
    except Exception as exc:  # CodecError, BadBatch: the data's fault, said as such
        raise Rejected(str(exc)) from None
    found: list[Found] = []
    held = 0
    stats: AgentStats | None = None
    inventory: HostInventory | None = None
    for rec in records:
        if rec.stored.seq <= state.evaluated_seq:
            continue  # a resend of a record the store already has
        state.evaluated_seq = rec.stored.seq
        match rec.body:
            case Snapshot() as snap:
                if snap.inventory is not None:
                    state.host = inventory = snap.inventory
                findings = []
                if state.waiting and state.host is not None:
                    # The events that came before the host said what it is, in order.
                    hist.host_facts = host_facts(state.host, state.agent_id, None,
                                                 engine.site_of)  # fmt: skip
                    for event in state.waiting:
                        findings += engine.on_event(hist, event)
                    state.waiting.clear()
                findings += engine.on_snapshot(hist, state.host, snap)
            case Event() as event:
                if not hist.host_facts.get("os_family") and len(state.waiting) < MAX_WAITING:
                    # A new host's first events arrive before its first snapshot: rules are
                    # per OS, so they wait for it (a Windows rule must not judge a Linux log).
                    state.waiting.append(event)
                    continue
                findings = engine.on_event(hist, event)
            case AgentStats() as st:
                stats = st
                continue
            case _:
                continue
        for f in findings:
            made: TicketDraft | None = None
            if f.held:
                held += f.fleet_probe is None
            else:
                # A clear goes to the store too: the lifecycle notes it or, for a
                # transient class, resolves the ticket after the hold-down.
                key = (f.rule.id, f.component)
                previous = state.drafts.get(key) if f.change != Change.OPENED else None
                made = draft(f, previous, limits.policy)
                if f.change == Change.CLEARED:
                    state.drafts.pop(key, None)
                else:
                    state.drafts[key] = made
            if made is not None or f.fleet_probe is not None:
                found.append(
                    Found(rec.stored.seq, f.rule.id, f.component, f.change, made, f.fleet_probe)
                )
    hits, engine.hits = engine.hits, {}
    errors = engine.errors.take()
    return Evaluated(
        records=tuple(r.stored for r in records),
        inventory=inventory,
        stats=stats,
        found=tuple(found),
        held=held,
        history=hist.flush(),
        hits=hits,
        errors=errors,
    )
