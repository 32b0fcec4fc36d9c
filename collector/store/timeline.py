"""A host's telemetry over time, as the console's host page and host report read it.

A week of one-minute snapshots is ten thousand records of a few kilobytes each; a chart
720 pixels wide shows a few hundred points. So the window's keys are read first (from the
index on agent, kind and time, not the payloads), an even sample of them is picked, and
only the picked payloads are fetched and decoded.

Payloads are the serialized rdiag.v1.Record exactly as the agent sent it (save_batches
stores StoredRecord.payload). Only the Record envelope is parsed here; its body goes
through the ingest's own decoder and checks (collector.ingest.convert), so what the
console shows is what the rules saw.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, func, select, tuple_

from agent.records import Event, Snapshot
from collector.store.schema import telemetry

log = logging.getLogger("rdiag.collector.store")

T = TypeVar("T")

# Pairs per IN (...) list: two parameters each, well under SQLite's 32,766 and fast to plan.
_CHUNK = 400


@dataclass(frozen=True, slots=True)
class HostRecords(Generic[T]):
    """Records of one host read back from telemetry, oldest first.

    matched: how many the window holds (before sampling or the limit); skipped: how many
    of the picked ones could not be decoded (left out, not fatal)."""

    records: tuple[T, ...]
    matched: int
    skipped: int = 0


def sample_indices(count: int, max_points: int) -> list[int]:
    """Indices of an even sample of count items, at most max_points, always the last.

    Even in position, which for a regular reporting interval is even in time."""
    if max_points < 1:
        raise ValueError(f"max_points must be at least 1, not {max_points}")
    if count <= max_points:
        return list(range(count))
    if max_points == 1:
        return [count - 1]
    step = (count - 1) / (max_points - 1)
    return sorted({round(i * step) for i in range(max_points)})


class TimelineMixin:
    _read_lock: AbstractContextManager[Any]

    def _transaction(self, lock: AbstractContextManager[Any]) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    def host_snapshots(
        self,
        agent_id: str,
        *,
        since_ms: int,
        until_ms: int | None = None,
        max_points: int = 240,
    ) -> HostRecords[Snapshot]:
        """The host's snapshots observed in [since_ms, until_ms], evenly sampled down to at
        most max_points (the newest always kept), oldest first."""
        if max_points < 1:
            raise ValueError(f"max_points must be at least 1, not {max_points}")
        where = [
            telemetry.c.agent_id == agent_id,
            telemetry.c.kind == "snapshot",
            telemetry.c.observed_at_ms >= since_ms,
        ]
        if until_ms is not None:
            where.append(telemetry.c.observed_at_ms <= until_ms)
        order = (telemetry.c.observed_at_ms, telemetry.c.epoch, telemetry.c.seq)
        keys_query = select(telemetry.c.epoch, telemetry.c.seq).where(*where).order_by(*order)
        with self._transaction(self._read_lock) as conn:
            keys = [(epoch, seq) for epoch, seq in conn.execute(keys_query)]
            picked = [keys[i] for i in sample_indices(len(keys), max_points)]
            payloads: dict[tuple[str, int], bytes] = {}
            for start in range(0, len(picked), _CHUNK):
                chunk = picked[start : start + _CHUNK]
                query = select(telemetry.c.epoch, telemetry.c.seq, telemetry.c.payload).where(
                    telemetry.c.agent_id == agent_id,
                    tuple_(telemetry.c.epoch, telemetry.c.seq).in_(chunk),
                )
                for epoch, seq, payload in conn.execute(query):
                    payloads[(epoch, seq)] = bytes(payload)
        decode = _snapshot_decoder()
        return _decoded(agent_id, "snapshot", [payloads[k] for k in picked if k in payloads],
                        decode, len(keys))  # fmt: skip

    def host_events(
        self,
        agent_id: str,
        *,
        since_ms: int,
        until_ms: int | None = None,
        limit: int = 500,
    ) -> HostRecords[Event]:
        """The host's newest `limit` events observed since since_ms, oldest first."""
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        where = [
            telemetry.c.agent_id == agent_id,
            telemetry.c.kind == "event",
            telemetry.c.observed_at_ms >= since_ms,
        ]
        if until_ms is not None:
            where.append(telemetry.c.observed_at_ms <= until_ms)
        newest = (
            telemetry.c.observed_at_ms.desc(),
            telemetry.c.epoch.desc(),
            telemetry.c.seq.desc(),
        )
        query = select(telemetry.c.payload).where(*where).order_by(*newest).limit(limit)
        count_query = select(func.count()).select_from(telemetry).where(*where)
        with self._transaction(self._read_lock) as conn:
            rows = [bytes(p) for p in conn.execute(query).scalars()]
            # Counting a week of events by the index costs little; the page says "500 of N".
            matched = conn.execute(count_query).scalar_one() if len(rows) == limit else len(rows)
        rows.reverse()
        return _decoded(agent_id, "event", rows, _event_decoder(), matched)


def _decoded(
    agent_id: str,
    kind: str,
    payloads: Sequence[bytes],
    decode: Callable[[bytes], T | None],
    matched: int,
) -> HostRecords[T]:
    out: list[T] = []
    skipped = 0
    for payload in payloads:
        try:
            record = decode(payload)
        except ValueError as exc:  # convert.BadBatch is a ValueError
            log.debug("telemetry %s of %s not decodable: %s", kind, agent_id, exc)
            record = None
        if record is None:
            skipped += 1
        else:
            out.append(record)
    if skipped:
        log.warning("%d stored %s record(s) of %s could not be decoded", skipped, kind, agent_id)
    return HostRecords(tuple(out), matched, skipped)


def _snapshot_decoder() -> Callable[[bytes], Snapshot | None]:
    # Imported here: convert imports collector.store, which imports this module.
    from collector.ingest import convert

    # One memo for the whole read: consecutive snapshots repeat most of their parts
    # (devices, drivers, routes), which then decode once.
    memo = convert.SnapshotMemo()

    def decode(payload: bytes) -> Snapshot | None:
        body = convert.stored_body(payload, memo)
        return body if isinstance(body, Snapshot) else None

    return decode


def _event_decoder() -> Callable[[bytes], Event | None]:
    from collector.ingest import convert

    def decode(payload: bytes) -> Event | None:
        body = convert.stored_body(payload)
        return body if isinstance(body, Event) else None

    return decode
