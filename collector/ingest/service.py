"""The Connect servicer: validate → decode → diagnose → group commit → ack.

Thin by design: every check lives in convert.py, every write in the store,
every rule in the engine. One handler per agent stream; acks go back in
batch order, each only after its transaction committed.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import grpc
import grpc.aio

import collector
from agent.common.codec import CODECS, Codec
from agent.records import HostInventory
from collector.engine.evaluate import Engine
from collector.engine.history import HostHistory
from collector.engine.model import Change
from collector.engine.subjects import host_facts
from collector.ingest import convert
from collector.ingest.committer import GroupCommitter, StoreUnavailable
from collector.ingest.evaluator import BatchIn, Limits, Rejected, StreamState
from collector.ingest.workers import Evaluators, InProcess, WorkerLost
from collector.store import BatchResult, IncomingBatch, SqlStore, StoreError, TicketDraft
from rdiag_proto.v1 import collector_pb2 as cpb
from rdiag_proto.v1 import collector_pb2_grpc as cpb_grpc

log = logging.getLogger("rdiag.collector.ingest")

PROTOCOL_VERSION = 1
REJECTED_SEQ_KEY = "rdiag-rejected-seq"  # the agent drops these records (they can never be stored)
_AGENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")
_ACK_WINDOW = 64  # batches decoded ahead of their acks, per stream
_ENVELOPE_BYTES = 1024  # room for AgentMessage/Batch framing around a payload
_MAX_UINT32 = 2**32 - 1


@dataclass
class IngestStats:
    streams_open: int = 0
    streams_total: int = 0
    batches: int = 0
    records: int = 0
    duplicates: int = 0
    rejected: int = 0
    tickets_opened: int = 0
    tickets_updated: int = 0
    findings_held: int = 0  # absorbed by a root cause or part of a fleet incident


@dataclass(frozen=True)
class AgentPolicy:
    interval_seconds: int
    probes: tuple[str, ...]


@dataclass
class _Stream:
    agent_id: str
    epoch: str
    host: HostInventory | None
    sid: int  # the stream's evaluation state, in the evaluators (workers.py)
    acked_at_hello: int  # the position the store had when the stream opened
    last_seq: int = 0
    peer: str = ""
    # The last batch handed to the committer: the next one is committed only after it
    # (the committer fails it if this one was not stored).
    last_commit: asyncio.Future[BatchResult] | None = None
    # Findings the fleet correlation held back, by (rule id, component): told to the
    # evaluation with the next batch (its rule states carry them), and a clear of one
    # found in the same batch is held too. Bounded by the host's rule states.
    fleet_held: dict[tuple[str, str], str] = field(default_factory=dict)
    tell: list[tuple[str, str, str]] = field(default_factory=list)


class _Abort(Exception):
    def __init__(
        self, code: grpc.StatusCode, details: str, rejected: tuple[int, int] | None = None
    ):
        super().__init__(details)
        self.code, self.details, self.rejected = code, details, rejected


class CollectorService(cpb_grpc.CollectorServicer):
    def __init__(
        self,
        *,
        store: SqlStore,
        committer: GroupCommitter,
        codec: Codec,
        engine: Engine,
        max_events_per_host: int = 500,
        max_points_per_series: int = 256,
        policy: AgentPolicy,
        max_batch_bytes: int,
        max_streams: int,
        max_message_bytes: int | None = None,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        evaluators: Evaluators | None = None,
    ) -> None:
        self._store = store
        self._committer = committer
        self._codec = codec
        self._engine = engine
        self._limits = {"max_events": max_events_per_host, "max_points": max_points_per_series}
        self._policy = policy
        self._max_batch_bytes = max_batch_bytes
        # What Welcome tells agents to keep a batch under: a payload the server
        # would refuse as a message (grpc's RESOURCE_EXHAUSTED carries no
        # rejected-seq, so the agent would resend it for ever) must not be built.
        advertised = max_batch_bytes
        if max_message_bytes:
            advertised = min(advertised, max_message_bytes - _ENVELOPE_BYTES)
        self._advertised_batch_bytes = max(1, min(advertised, _MAX_UINT32))
        self._max_streams = max_streams
        self._clock_ms = clock_ms
        self.evaluators: Evaluators = evaluators or InProcess(
            engine, codec, Limits(max_batch_bytes, store.policy)
        )
        self.stats = IngestStats()

    async def Connect(
        self,
        request_iterator: AsyncIterator[cpb.AgentMessage],
        context: grpc.aio.ServicerContext[cpb.AgentMessage, cpb.CollectorMessage],
    ) -> AsyncIterator[cpb.CollectorMessage]:
        if self.stats.streams_open >= self._max_streams:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "collector at its stream limit")
        self.stats.streams_open += 1
        self.stats.streams_total += 1
        try:
            async for msg in self._converse(request_iterator, context):
                yield msg
        finally:
            self.stats.streams_open -= 1

    async def _converse(
        self,
        requests: AsyncIterator[cpb.AgentMessage],
        context: grpc.aio.ServicerContext[cpb.AgentMessage, cpb.CollectorMessage],
    ) -> AsyncIterator[cpb.CollectorMessage]:
        it = aiter(requests)
        try:
            first = await anext(it)
        except StopAsyncIteration:
            return
        stream = await self._hello(first, context)
        try:
            async for msg in self._serve_stream(stream, it, context):
                yield msg
        finally:
            self.evaluators.close(stream.sid, stream.agent_id)

    async def _serve_stream(
        self,
        stream: _Stream,
        it: AsyncIterator[cpb.AgentMessage],
        context: grpc.aio.ServicerContext[cpb.AgentMessage, cpb.CollectorMessage],
    ) -> AsyncIterator[cpb.CollectorMessage]:
        yield convert.welcome(
            collector_version=collector.__version__,
            protocol_version=PROTOCOL_VERSION,
            acked_seq=stream.acked_at_hello,
            max_batch_bytes=self._advertised_batch_bytes,
            preferred_dictionary_id=max(self._codec.dictionaries.ids, default=0),
            interval_seconds=self._policy.interval_seconds,
            probes=self._policy.probes,
        )
        pending: asyncio.Queue[asyncio.Future[BatchResult] | _Abort | None] = asyncio.Queue(
            _ACK_WINDOW
        )
        reader = asyncio.create_task(self._read(it, stream, pending))
        try:
            while True:
                item = await pending.get()
                if item is None:
                    closed = {
                        "agent_id": stream.agent_id,
                        "peer": stream.peer,
                        "last_seq": stream.last_seq,
                    }
                    log.info("agent stream closed", extra=closed)
                    return
                if isinstance(item, _Abort):
                    if item.rejected:
                        context.set_trailing_metadata(
                            ((REJECTED_SEQ_KEY, f"{item.rejected[0]}-{item.rejected[1]}"),)
                        )
                    log.warning(
                        "batch refused",
                        extra={"agent_id": stream.agent_id, "status": item.code.name,
                               "reason": item.details},
                    )  # fmt: skip
                    await context.abort(item.code, item.details)
                try:
                    result = await item
                except StoreUnavailable as exc:
                    # The engine's memory ran ahead of the store; the agent resends, and
                    # the next stream reloads the history from what was committed.
                    self.evaluators.close(stream.sid, stream.agent_id)
                    await context.abort(grpc.StatusCode.UNAVAILABLE, f"store unavailable: {exc}")
                if result.tickets_opened:
                    opened = ",".join(map(str, result.tickets_opened))
                    log.info("tickets opened", extra={"agent_id": stream.agent_id, "ids": opened})
                self.stats.tickets_opened += len(result.tickets_opened)
                self.stats.tickets_updated += len(result.tickets_updated)
                yield convert.ack(result.acked_seq)
        finally:
            reader.cancel()

    async def _hello(
        self,
        msg: cpb.AgentMessage,
        context: grpc.aio.ServicerContext[cpb.AgentMessage, cpb.CollectorMessage],
    ) -> _Stream:
        if msg.WhichOneof("kind") != "hello":
            await context.abort(
                grpc.StatusCode.FAILED_PRECONDITION, "the first message on a stream must be Hello"
            )
        hello = msg.hello
        if hello.protocol_version != PROTOCOL_VERSION:
            await context.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"protocol version {hello.protocol_version} is not supported "
                f"(this collector speaks {PROTOCOL_VERSION})",
            )
        if not _AGENT_ID.match(hello.agent_id):
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                "agent_id must be 1-128 characters of letters, digits and ._:@-",
            )
        if not re.fullmatch(r"[0-9a-f]{8,64}", hello.spool_epoch):
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "spool_epoch must be 8-64 hex digits"
            )
        try:
            host = convert.inventory(hello.host) if hello.HasField("host") else None
        except convert.BadBatch as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"Hello host: {exc}")
        try:
            history = await asyncio.to_thread(self._load_history, hello.agent_id, host)
            acked = await asyncio.to_thread(
                self._store.stream_position, hello.agent_id, hello.spool_epoch
            )
        except StoreError as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"store unavailable: {exc}")
        state = StreamState(hello.agent_id, history, host, evaluated_seq=acked)
        try:
            sid = await self.evaluators.open(hello.agent_id, state)
        except WorkerLost as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"collector busy: {exc}")
        log.info(
            "agent connected",
            extra={"agent_id": hello.agent_id, "peer": context.peer(),
                   "agent_version": hello.agent_version},
        )  # fmt: skip
        return _Stream(hello.agent_id, hello.spool_epoch, host, sid, acked, peer=context.peer())

    def _load_history(self, agent_id: str, host: HostInventory | None) -> HostHistory:
        history = HostHistory(agent_id, **self._limits)
        history.load(*self._store.load_history(agent_id))
        if host is None:  # Hello had none: what the host last reported, if it is known
            known = self._store.get_host(agent_id)
            host = known.inventory if known and known.inventory.os_family else None
        history.host_facts = host_facts(host, agent_id, None, self._engine.site_of)
        return history

    async def _read(
        self,
        it: AsyncIterator[cpb.AgentMessage],
        stream: _Stream,
        pending: asyncio.Queue[asyncio.Future[BatchResult] | _Abort | None],
    ) -> None:
        try:
            async for msg in it:
                if msg.WhichOneof("kind") != "batch":
                    raise _Abort(grpc.StatusCode.FAILED_PRECONDITION, "only Batch may follow Hello")
                incoming = await self._incoming(msg.batch, stream)
                fut = await self._committer.submit(incoming, after=stream.last_commit)
                fut.add_done_callback(_retrieve)  # a stream that ended early never awaits it
                stream.last_commit = fut
                await pending.put(fut)
            await pending.put(None)
        except _Abort as abort:
            await pending.put(abort)
        except grpc.aio.AioRpcError:
            await pending.put(None)  # the agent went away; nothing to answer
        except grpc.aio.AbortError:
            return  # the handler already ended the call with a status
        except StoreError as exc:  # keeping a rejected batch failed
            await pending.put(_Abort(grpc.StatusCode.UNAVAILABLE, f"store unavailable: {exc}"))
        except Exception as exc:  # a bug must end this stream with a status, not hang it
            log.error(
                "batch handling failed",
                extra={"agent_id": stream.agent_id, "error": f"{type(exc).__name__}: {exc}"},
            )
            await pending.put(
                _Abort(grpc.StatusCode.INTERNAL, f"collector failed on this batch: {exc}")
            )

    async def _incoming(self, batch: cpb.Batch, stream: _Stream) -> IncomingBatch:
        try:
            convert.check_envelope(batch, stream.last_seq)
        except convert.BadBatch as exc:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from None
        if batch.codec not in CODECS:
            known = ", ".join(f"{v} ({n})" for v, n in sorted(CODECS.items()))
            raise _Abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"unknown codec {batch.codec}; this collector accepts {known}",
            )
        if batch.dictionary_id and batch.dictionary_id not in self._codec.dictionaries.ids:
            # Not the data's fault: the agent may resend without a dictionary after Welcome.
            raise _Abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"unknown zstd dictionary id {batch.dictionary_id}; reconnect to renegotiate",
            )
        ingest = BatchIn(
            batch.seq_first, batch.seq_last, batch.record_count, batch.codec,
            batch.dictionary_id, batch.payload, tuple(stream.tell),
        )  # fmt: skip
        try:
            done = await self.evaluators.evaluate(stream.sid, stream.agent_id, ingest)
        except Rejected as exc:
            await self._reject(batch, stream, str(exc))
            raise _Abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"batch {batch.seq_first}-{batch.seq_last} rejected: {exc}",
                rejected=(batch.seq_first, batch.seq_last),
            ) from None
        except WorkerLost as exc:
            raise _Abort(
                grpc.StatusCode.UNAVAILABLE, f"collector restarting ingest: {exc}"
            ) from None
        stream.tell.clear()
        stream.last_seq = batch.seq_last
        if done.inventory is not None:
            stream.host = done.inventory
        engine = self._engine
        for rule_id, n in done.hits.items():
            engine.hits[rule_id] = engine.hits.get(rule_id, 0) + n
        if done.errors:
            engine.errors.merge(done.errors)
        held = done.held
        findings: list[tuple[int, TicketDraft]] = []
        for f in done.found:
            key = (f.rule_id, f.component)
            if f.probe is not None:
                rule = engine.rules.by_id.get(f.rule_id)
                verdict = engine.fleet.join(rule, f.probe) if rule and rule.fleet else ""
                if verdict:
                    held += 1
                    if stream.fleet_held.get(key) != verdict:
                        stream.fleet_held[key] = verdict
                        stream.tell.append((f.rule_id, f.component, verdict))
                    continue
            if f.draft is None:
                held += 1  # held by the evaluation (a root cause, an earlier incident)
                continue
            if f.change == Change.CLEARED and stream.fleet_held.pop(key, ""):
                held += 1  # the clear of a finding the fleet held, in the same batch
                continue
            findings.append((f.seq, f.draft))
        self.stats.findings_held += held
        self.stats.batches += 1
        self.stats.records += len(done.records)
        return IncomingBatch(
            agent_id=stream.agent_id,
            epoch=stream.epoch,
            seq_first=batch.seq_first,
            seq_last=batch.seq_last,
            records=done.records,
            received_at_ms=self._clock_ms(),
            inventory=stream.host,
            stats=done.stats,
            findings=tuple(findings),
            history=(done.history,),
            incidents=tuple(engine.fleet.flush()),
        )

    async def _reject(self, batch: cpb.Batch, stream: _Stream, reason: str) -> None:
        """Keep the refused batch (compressed, as sent) so nothing is lost without a trace."""
        self.stats.rejected += 1
        await asyncio.to_thread(
            self._store.record_rejected,
            stream.agent_id,
            stream.epoch,
            batch.seq_first,
            batch.seq_last,
            reason,
            batch.payload,
            self._clock_ms(),
        )


def _retrieve(fut: asyncio.Future[BatchResult]) -> None:
    if not fut.cancelled():
        fut.exception()
