"""The collector's Connect stream against bad input, over real loopback gRPC.

Each test starts a real collector in-process (collector.app.build on a SQLite
file, grpc.aio on 127.0.0.1:0, insecure) and drives it with a raw grpc.aio
client sending handcrafted AgentMessages. Good batches are built exactly as
the agent builds them (encode_body → batch_payload → Codec.compress →
batch_message), so a bad case differs from a realistic one only in what it
breaks on purpose. After every bad case the server must still serve a
well-behaved agent, and nothing may be stored twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import secrets
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import grpc
import grpc.aio
import pytest
import zstandard

from agent.common.codec import CODEC_NONE, CODEC_ZSTD, Codec, Dictionaries, train_dictionary
from agent.common.config import ByteSize, Seconds
from agent.config import KNOWN_PROBES
from agent.records import (
    AgentStats,
    Body,
    Event,
    HostInventory,
    Priority,
    Severity,
    Snapshot,
    Volume,
)
from agent.uplink.convert import (
    batch_message,
    batch_payload,
    body_kind,
    encode_body,
    hello_message,
    record_bytes,
)
from agent.uplink.spool import SpoolRow
from collector.app import Collector, build
from collector.config import (
    CollectorConfig,
    ConsoleSection,
    IngestSection,
    RulesSection,
    ServerSection,
    StoreSection,
)
from collector.ingest.service import REJECTED_SEQ_KEY
from collector.store import BatchResult, IncomingBatch, SqlStore, StoreError
from rdiag_proto.v1 import collector_pb2 as cpb
from rdiag_proto.v1 import collector_pb2_grpc as cpb_grpc
from rdiag_proto.v1 import telemetry_pb2 as pb
from tests.helpers.records import INVENTORY

if TYPE_CHECKING:
    from rdiag_proto.v1.collector_pb2_grpc import CollectorAsyncStub

AGENT = "ws-042.example.org"
EPOCH = "0123456789abcdef"
GIB = 1024**3
MAX_MESSAGE_BYTES = 128 * 1024  # small limits keep the oversized and bomb cases cheap
MAX_BATCH_BYTES = 512 * 1024
DEADLINE_S = 30.0  # generous: the machine is shared and noisy
OK = grpc.StatusCode.OK
INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT
FAILED_PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION
UNAVAILABLE = grpc.StatusCode.UNAVAILABLE


# -- batches as the agent builds them ----------------------------------------------------


def snapshot(seq: int, used_pct: int = 97, inventory: HostInventory = INVENTORY) -> Snapshot:
    """A snapshot whose /data volume is used_pct full (at 97 % the volume rule fires)."""
    used = used_pct * GIB
    vol = Volume("/data", "/dev/sdb1", "ext4", 100 * GIB, used, 100 * GIB - used, 1000, 500)
    return Snapshot(1_700_000_000_000 + seq * 1000, inventory=inventory, volumes=(vol,))


def mixed(seq: int) -> Body:
    """Quiet telemetry: snapshots of a half-empty disk, some events and agent stats."""
    if seq % 5 == 0:
        return AgentStats(1_700_000_000_000 + seq, spool_records=seq, spool_bytes=seq * 100)
    if seq % 7 == 0:
        return Event(1_700_000_000_000 + seq, "kernel", "disk.io_error", Severity.ERROR, "I/O")
    return snapshot(seq, used_pct=40)


def rows(seqs: Sequence[int], body: Callable[[int], Body] = mixed) -> list[SpoolRow]:
    """Spool rows as the agent's spool hands them to its uplink."""
    out = []
    for seq in seqs:
        b = body(seq)
        prio = Priority.LOW if isinstance(b, AgentStats) else Priority.NORMAL
        out.append(SpoolRow(seq, prio, body_kind(b), encode_body(b, prio)))
    return out


def batch(
    spool_rows: Sequence[SpoolRow], codec: Codec | None = None, dict_id: int = 0
) -> cpb.AgentMessage:
    payload = (codec or Codec()).compress(batch_payload(spool_rows), dict_id)
    return batch_message(spool_rows, payload, CODEC_ZSTD, dict_id)


def seqs(first: int, last: int, body: Callable[[int], Body] = mixed) -> cpb.AgentMessage:
    return batch(rows(range(first, last + 1), body))


def envelope(
    first: int,
    last: int,
    payload: bytes,
    *,
    codec: int = CODEC_ZSTD,
    count: int | None = None,
    dict_id: int = 0,
) -> cpb.AgentMessage:
    """A Batch around arbitrary payload bytes."""
    return cpb.AgentMessage(
        batch=cpb.Batch(
            seq_first=first,
            seq_last=last,
            codec=cpb.Codec.ValueType(codec),
            dictionary_id=dict_id,
            payload=payload,
            record_count=last - first + 1 if count is None else count,
        )
    )


def zstd(data: bytes) -> bytes:
    return Codec().compress(data)


def hello(
    agent_id: str = AGENT,
    epoch: str = EPOCH,
    *,
    protocol_version: int = 1,
    inventory: HostInventory | None = INVENTORY,
) -> cpb.AgentMessage:
    return hello_message(
        agent_id=agent_id,
        epoch=epoch,
        inventory=inventory,
        agent_version="0.1.0",
        capabilities=("inventory", "disk", "smart"),
        dictionaries=(),
        protocol_version=protocol_version,
    )


# -- the collector under test --------------------------------------------------------------


class Ticks:
    """One order for events seen in the store's worker thread and in the test's loop."""

    def __init__(self) -> None:
        self._count = itertools.count()
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            return next(self._count)


@dataclass(frozen=True)
class Commit:
    tick: int  # taken once save_batches returned, i.e. after COMMIT
    batches: tuple[tuple[str, str, int, int], ...]  # (agent_id, epoch, seq_first, seq_last)


class FlakyStore:
    """The real SqlStore, with switches to make it fail, and a log of finished commits.

    Installed as collector.store before start(), so the service and the group
    committer both use it; everything not overridden is the real store.
    """

    def __init__(self, inner: SqlStore, ticks: Ticks) -> None:
        self.inner = inner
        self.ticks = ticks
        self.fail_saves = 0  # the next N save_batches calls raise StoreError
        self.fail_positions = False
        self.fail_rejected = False
        self.commits: list[Commit] = []
        self.hold_first_save: threading.Event | None = None  # set() releases the first save
        self.first_save_entered = threading.Event()
        self.purged = threading.Event()
        self._calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def save_batches(self, batches: Sequence[IncomingBatch]) -> list[BatchResult]:
        self._calls += 1
        if self._calls == 1:
            self.first_save_entered.set()
            if self.hold_first_save is not None:
                self.hold_first_save.wait(DEADLINE_S)
        if self.fail_saves:
            self.fail_saves -= 1
            raise StoreError("store sqlite:///collector.db: disk I/O error")
        results = self.inner.save_batches(batches)
        keys = tuple((b.agent_id, b.epoch, b.seq_first, b.seq_last) for b in batches)
        self.commits.append(Commit(self.ticks(), keys))
        return results

    def stream_position(self, agent_id: str, epoch: str) -> int:
        if self.fail_positions:
            raise StoreError("store sqlite:///collector.db: database is locked")
        return self.inner.stream_position(agent_id, epoch)

    def record_rejected(self, *args: Any) -> int:
        if self.fail_rejected:
            raise StoreError("store sqlite:///collector.db: database or disk is full")
        return self.inner.record_rejected(*args)

    def purge_telemetry(self, older_than_ms: int) -> int:
        try:
            return self.inner.purge_telemetry(older_than_ms)
        finally:
            self.purged.set()


@dataclass
class Ended:
    code: grpc.StatusCode
    details: str
    trailers: dict[str, str | bytes]
    messages: list[cpb.CollectorMessage]  # what arrived before the status


class Conversation:
    """One Connect stream, driven by hand."""

    def __init__(self, stub: CollectorAsyncStub) -> None:
        self.call = stub.Connect()

    async def send(self, msg: cpb.AgentMessage) -> None:
        await self.call.write(msg)

    async def read(self) -> cpb.CollectorMessage:
        async with asyncio.timeout(DEADLINE_S):
            msg = await self.call.read()
        assert isinstance(msg, cpb.CollectorMessage), "the stream ended"
        return msg

    async def hello(self, msg: cpb.AgentMessage | None = None) -> cpb.Welcome:
        await self.send(msg or hello())
        reply = await self.read()
        assert reply.WhichOneof("kind") == "welcome", reply
        return reply.welcome

    async def ack(self) -> int:
        reply = await self.read()
        assert reply.WhichOneof("kind") == "ack", reply
        return reply.ack.up_to_seq

    async def ended(self) -> Ended:
        """Read to the end of the stream: the status, its trailers and what came first."""
        messages: list[cpb.CollectorMessage] = []
        async with asyncio.timeout(DEADLINE_S):
            try:
                while isinstance(msg := await self.call.read(), cpb.CollectorMessage):
                    messages.append(msg)
            except grpc.aio.AioRpcError:
                pass
            code = await self.call.code()
            details = await self.call.details() or ""
            trailers = dict(await self.call.trailing_metadata() or ())
        return Ended(code, details, trailers, messages)

    async def close(self) -> Ended:
        """Half-close, as an agent that is done does."""
        await self.call.done_writing()
        return await self.ended()

    async def refused(self, msg: cpb.AgentMessage) -> Ended:
        """Send msg, expect the stream to end with an error status."""
        # The server may end the call before the write completes.
        with contextlib.suppress(grpc.aio.AioRpcError, asyncio.InvalidStateError):
            await self.send(msg)
        ended = await self.ended()
        assert ended.code != OK, ended
        return ended


@dataclass
class Running:
    collector: Collector
    stub: CollectorAsyncStub
    flaky: FlakyStore
    ticks: Ticks
    codec: Codec  # knows the collector's dictionaries
    healthy_checks: int = field(default=0)

    @property
    def store(self) -> SqlStore:
        return self.flaky.inner

    def connect(self) -> Conversation:
        return Conversation(self.stub)

    async def assert_serves(self) -> None:
        """A well-behaved agent still gets Hello → Welcome → Batch → Ack and a clean end."""
        self.healthy_checks += 1
        agent_id, epoch = f"healthy-{self.healthy_checks}", secrets.token_hex(8)
        conv = self.connect()
        welcome = await conv.hello(hello(agent_id, epoch))
        assert welcome.acked_seq == 0
        await conv.send(seqs(1, 3))
        assert await conv.ack() == 3
        ended = await conv.close()
        assert ended.code == OK, ended
        assert self.store.telemetry_seqs(agent_id, epoch) == [1, 2, 3]

    def telemetry_count(self) -> int:
        """Telemetry rows, not counting those assert_serves wrote."""
        return self.store.telemetry_count() - 3 * self.healthy_checks

    def stored(self, agent_id: str = AGENT, epoch: str = EPOCH) -> list[int]:
        return self.store.telemetry_seqs(agent_id, epoch)

    def position(self, agent_id: str = AGENT, epoch: str = EPOCH) -> int:
        return self.store.stream_position(agent_id, epoch)

    def occurrences(self) -> list[int]:
        return [t.occurrences for t in self.store.list_tickets(agent_id=AGENT)]


Serve = Callable[..., AbstractAsyncContextManager[Running]]


def run(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(main())


@pytest.fixture(scope="module")
def dictionary_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The collector's server.dictionaries folder, with one dictionary trained on snapshots."""
    samples = [encode_body(snapshot(i, used_pct=i % 100), Priority.NORMAL) for i in range(500)]
    folder = tmp_path_factory.mktemp("dictionaries")
    (folder / "snapshots.zdict").write_bytes(train_dictionary(samples, 8 * 1024).as_bytes())
    return folder


@pytest.fixture
def serve(tmp_path: Path, dictionary_dir: Path) -> Serve:
    """serve(**server_section_overrides): an async context manager for a running collector."""

    @asynccontextmanager
    async def running(
        rules: RulesSection | None = None, workers: int = 0, **overrides: Any
    ) -> AsyncIterator[Running]:
        server = ServerSection(
            listen="127.0.0.1:0",
            insecure=True,
            max_message_bytes=ByteSize(MAX_MESSAGE_BYTES),
            max_batch_bytes=ByteSize(MAX_BATCH_BYTES),
            dictionaries=dictionary_dir,
            grace=Seconds(5),
        )
        config = CollectorConfig(
            server=dataclasses.replace(server, **overrides),
            store=StoreSection(
                url=f"sqlite:///{tmp_path / 'collector.db'}", sqlite_synchronous="NORMAL"
            ),
            rules=rules or RulesSection(),
            console=ConsoleSection(enabled=False),
            # In process by default: pytest's process runs gRPC threads, so a worker here is
            # a fresh interpreter (seconds); the subprocess tests run the default workers.
            ingest=IngestSection(workers=workers),
        )
        collector = build(config)
        ticks = Ticks()
        flaky = FlakyStore(collector.store, ticks)
        collector.store = cast(SqlStore, flaky)
        codec = Codec(Dictionaries.from_dir(dictionary_dir))
        try:
            port = await collector.start()
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                yield Running(collector, cpb_grpc.CollectorStub(channel), flaky, ticks, codec)
        finally:
            if flaky.hold_first_save is not None:
                flaky.hold_first_save.set()
            # No waiting for the retention task's purge: stop() must wait for it itself.
            await collector.stop()

    return running


# -- a well-behaved agent ------------------------------------------------------------------


@pytest.mark.parametrize("workers", [0, 2], ids=["in-process", "2-workers"])
def test_good_stream_is_acked_in_order_and_only_after_each_commit(
    serve: Serve, workers: int
) -> None:
    async def main() -> None:
        async with serve(workers=workers) as r:
            conv = r.connect()
            welcome = await conv.hello()
            assert welcome.acked_seq == 0
            assert welcome.protocol_version == 1
            assert welcome.preferred_dictionary_id == r.codec.dictionaries.ids[0]
            assert list(welcome.config.enabled_probes) == list(KNOWN_PROBES)
            # 20 batches pipelined before reading any ack, so group commits form.
            for i in range(20):
                await conv.send(seqs(5 * i + 1, 5 * i + 5))
            acks = []
            for _ in range(20):
                up_to = await conv.ack()
                acks.append((up_to, r.ticks(), r.position()))
            assert [up_to for up_to, _, _ in acks] == [5 * i + 5 for i in range(20)]
            for up_to, seen, position in acks:
                # Never ahead of what the store reports at that moment ...
                assert up_to <= position
                # ... nor of what had been committed before the ack was seen.
                committed = [
                    last
                    for commit in r.flaky.commits
                    if commit.tick < seen
                    for agent_id, _, _, last in commit.batches
                    if agent_id == AGENT
                ]
                assert committed and up_to <= max(committed)
            assert (await conv.close()).code == OK
            assert r.stored() == list(range(1, 101))
            assert r.telemetry_count() == 100
            assert r.store.agent_health(AGENT) is not None  # stats records went through

    run(main)


def test_batch_compressed_with_a_known_dictionary_is_accepted(serve: Serve) -> None:
    async def main() -> None:
        async with serve() as r:
            conv = r.connect()
            welcome = await conv.hello()
            dict_id = welcome.preferred_dictionary_id
            await conv.send(batch(rows(range(1, 11)), r.codec, dict_id))
            assert await conv.ack() == 10
            assert (await conv.close()).code == OK
            assert r.stored() == list(range(1, 11))

    run(main)


# -- the Hello -------------------------------------------------------------------------------


def _inventory(**changes: Any) -> HostInventory:
    return dataclasses.replace(INVENTORY, **changes)


@pytest.mark.parametrize(
    ("first", "code", "says"),
    [
        pytest.param(
            seqs(1, 2),
            FAILED_PRECONDITION,
            "the first message on a stream must be Hello",
            id="batch-before-hello",
        ),
        pytest.param(cpb.AgentMessage(), FAILED_PRECONDITION, "must be Hello", id="empty-message"),
        pytest.param(
            hello(protocol_version=2),
            FAILED_PRECONDITION,
            "protocol version 2 is not supported",
            id="future-protocol",
        ),
        pytest.param(
            hello(protocol_version=0),
            FAILED_PRECONDITION,
            "protocol version 0",
            id="no-protocol-version",
        ),
        pytest.param(hello(agent_id=""), INVALID_ARGUMENT, "agent_id", id="empty-agent-id"),
        pytest.param(hello(agent_id="ws 042"), INVALID_ARGUMENT, "agent_id", id="space-agent-id"),
        pytest.param(hello(agent_id="../etc"), INVALID_ARGUMENT, "agent_id", id="path-agent-id"),
        pytest.param(hello(agent_id="a" * 129), INVALID_ARGUMENT, "agent_id", id="long-agent-id"),
        pytest.param(hello(epoch=""), INVALID_ARGUMENT, "spool_epoch", id="empty-epoch"),
        pytest.param(hello(epoch="0123"), INVALID_ARGUMENT, "spool_epoch", id="short-epoch"),
        pytest.param(hello(epoch="0123456z"), INVALID_ARGUMENT, "spool_epoch", id="not-hex"),
        pytest.param(hello(epoch="a" * 65), INVALID_ARGUMENT, "spool_epoch", id="long-epoch"),
        pytest.param(
            hello(inventory=_inventory(memory_bytes=2**64 - 1)),
            INVALID_ARGUMENT,
            "memory_bytes",
            id="inventory-overflow",
        ),
        pytest.param(
            hello(inventory=_inventory(hostname="ws\x00042")),
            INVALID_ARGUMENT,
            "NUL",
            id="inventory-nul",
        ),
    ],
)
def test_bad_first_message_is_refused_before_welcome(
    serve: Serve, first: cpb.AgentMessage, code: grpc.StatusCode, says: str
) -> None:
    async def main() -> None:
        async with serve() as r:
            ended = await r.connect().refused(first)
            assert ended.code == code, ended
            assert says in ended.details
            assert ended.messages == []  # no Welcome
            assert REJECTED_SEQ_KEY not in ended.trailers
            assert r.store.list_hosts() == []
            await r.assert_serves()
            assert r.telemetry_count() == 0
            assert r.store.list_rejected() == []

    run(main)


@pytest.mark.parametrize("batches_before", [0, 2])
def test_second_hello_on_a_stream_is_refused(serve: Serve, batches_before: int) -> None:
    async def main() -> None:
        async with serve() as r:
            conv = r.connect()
            await conv.hello()
            for i in range(batches_before):
                await conv.send(seqs(3 * i + 1, 3 * i + 3))
                assert await conv.ack() == 3 * i + 3
            ended = await conv.refused(hello())
            assert ended.code == FAILED_PRECONDITION
            assert "only Batch may follow Hello" in ended.details
            await r.assert_serves()
            assert r.stored() == list(range(1, 3 * batches_before + 1))
            assert r.telemetry_count() == 3 * batches_before

    run(main)


# -- the message size ----------------------------------------------------------------------


def test_message_over_max_message_bytes_is_refused_by_grpc(serve: Serve) -> None:
    async def main() -> None:
        async with serve() as r:
            conv = r.connect()
            await conv.hello()
            await conv.send(seqs(1, 2))
            assert await conv.ack() == 2
            ended = await conv.refused(envelope(3, 3, secrets.token_bytes(MAX_MESSAGE_BYTES)))
            assert ended.code == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "larger than max" in ended.details
            assert REJECTED_SEQ_KEY not in ended.trailers
            await r.assert_serves()
            assert r.stored() == [1, 2]
            assert r.telemetry_count() == 2
            assert r.store.list_rejected() == []

    run(main)


def test_welcome_never_invites_batches_the_server_would_refuse_as_too_large(
    serve: Serve,
) -> None:
    async def main() -> None:
        async with serve() as r:
            welcome = await r.connect().hello()
            # The agent fills batches up to this (less 1 KiB); incompressible records then
            # make a message that grpc refuses with no rejected-seq, so it resends for ever.
            assert welcome.max_batch_bytes <= MAX_MESSAGE_BYTES - 1024

    run(main)


# -- payloads that can never be stored: kept in rejected_batches, agent told to drop -------

_GOOD = batch_payload(rows(range(11, 14)))


def _record(seq: int, **fields: Any) -> bytes:
    return pb.Record(seq=seq, **fields).SerializeToString()


def _payload(*records: bytes) -> bytes:
    return pb.TelemetryBatch(records=[pb.Record.FromString(r) for r in records]).SerializeToString()


def _unsized_frame(size: int) -> bytes:
    """A zstd frame that does not declare its content size."""
    cobj = zstandard.ZstdCompressor().compressobj()
    frame = cobj.compress(b"\x00" * size) + cobj.flush()
    assert zstandard.get_frame_parameters(frame).content_size == zstandard.CONTENTSIZE_UNKNOWN
    return frame


def _snap(seq: int, **inventory: Any) -> bytes:
    return record_bytes(
        seq, encode_body(snapshot(seq, inventory=_inventory(**inventory)), Priority.NORMAL)
    )


REJECTED_CASES = [
    pytest.param(envelope(11, 13, b"\x00garbage" * 8), "not a zstd frame", id="garbage"),
    pytest.param(
        envelope(11, 13, secrets.token_bytes(64), codec=CODEC_NONE),
        "not a TelemetryBatch",
        id="garbage-uncompressed",
    ),
    pytest.param(
        envelope(11, 13, zstd(b"\xff" * 64)), "not a TelemetryBatch", id="zstd-not-a-batch"
    ),
    pytest.param(envelope(11, 13, zstd(_GOOD)[:-6]), "truncated zstd frame", id="truncated-frame"),
    pytest.param(
        envelope(11, 13, zstd(b"\x00" * (MAX_BATCH_BYTES + 1))),
        f"declares {MAX_BATCH_BYTES + 1} bytes",
        id="bomb-declared-size",
    ),
    pytest.param(
        envelope(11, 13, _unsized_frame(8 * MAX_BATCH_BYTES)),
        "does not declare its content size",
        id="bomb-undeclared-size",
    ),
    pytest.param(
        envelope(11, 13, zstd(batch_payload(rows([11, 13])))),
        "payload holds 2 records, the batch declares record_count 3",
        id="record-count-mismatch",
    ),
    pytest.param(
        envelope(11, 13, zstd(batch_payload(rows([11, 12, 19])))),
        "record sequence 19 is out of order or outside 11-13",
        id="record-outside-range",
    ),
    pytest.param(
        envelope(11, 13, zstd(batch_payload(rows([11, 13, 12])))),
        "record sequence 12 is out of order",
        id="records-out-of-order",
    ),
    pytest.param(
        envelope(11, 13, zstd(batch_payload(rows([11, 11, 13])))),
        "record sequence 11 is out of order",
        id="record-repeated",
    ),
    pytest.param(
        envelope(11, 13, zstd(batch_payload(rows([12, 13]))), count=2),
        "records run from sequence 12 to 13, the batch declares 11-13",
        id="first-last-mismatch",
    ),
    pytest.param(
        envelope(11, 11, zstd(_payload(_record(11, priority=2)))),
        "record 11 has no body",
        id="missing-body",
    ),
    pytest.param(
        envelope(11, 11, zstd(_payload(_record(11, priority=9, stats=pb.AgentStats())))),
        "record 11 has unknown priority 9",
        id="unknown-priority",
    ),
    pytest.param(
        envelope(
            11,
            11,
            zstd(
                _payload(_record(11, priority=3, event=pb.Event(severity=pb.SEVERITY_UNSPECIFIED)))
            ),
        ),
        "event.severity has unknown value 0",
        id="unknown-severity",
    ),
    pytest.param(
        envelope(11, 11, zstd(_payload(_snap(11, cpu_cores=2**32 - 1)))),
        "cpu_cores 4294967295 is too large",
        id="inventory-overflow",
    ),
    pytest.param(
        envelope(11, 11, zstd(_payload(_snap(11, machine_id="4c4c\x00")))),
        "machine_id contains a NUL",
        id="inventory-nul",
    ),
]


@pytest.mark.parametrize(("bad", "says"), REJECTED_CASES)
def test_undecodable_batch_is_rejected_kept_and_never_stored(
    serve: Serve, bad: cpb.AgentMessage, says: str
) -> None:
    async def main() -> None:
        async with serve() as r:
            conv = r.connect()
            await conv.hello()
            await conv.send(seqs(1, 3))
            assert await conv.ack() == 3
            ended = await conv.refused(bad)
            first, last = bad.batch.seq_first, bad.batch.seq_last
            assert ended.code == INVALID_ARGUMENT, ended
            assert f"batch {first}-{last} rejected" in ended.details
            assert says in ended.details
            assert [m.WhichOneof("kind") for m in ended.messages] == []
            # The agent drops exactly these records (they can never be stored) ...
            assert ended.trailers[REJECTED_SEQ_KEY] == f"{first}-{last}"
            # ... and the collector keeps the batch as sent, so nothing goes without a trace.
            (kept,) = r.store.list_rejected()
            assert (kept.agent_id, kept.epoch) == (AGENT, EPOCH)
            assert (kept.seq_first, kept.seq_last) == (first, last)
            assert kept.payload == bad.batch.payload
            assert says in kept.reason
            assert r.stored() == [1, 2, 3]
            assert r.position() == 3
            await r.assert_serves()
            # The same agent carries on after the records it dropped.
            again = r.connect()
            assert (await again.hello()).acked_seq == 3
            await again.send(seqs(last + 1, last + 2))
            assert await again.ack() == last + 2
            assert (await again.close()).code == OK
            assert r.stored() == [1, 2, 3, last + 1, last + 2]
            assert r.telemetry_count() == 5

    run(main)


def test_frame_with_another_dictionary_than_declared_is_rejected(serve: Serve) -> None:
    async def main() -> None:
        async with serve() as r:
            conv = r.connect()
            dict_id = (await conv.hello()).preferred_dictionary_id
            frame = r.codec.compress(_GOOD, dict_id)
            ended = await conv.refused(envelope(11, 13, frame, dict_id=0))
            assert ended.code == INVALID_ARGUMENT
            assert f"frame uses dictionary {dict_id}, batch declares 0" in ended.details
            assert ended.trailers[REJECTED_SEQ_KEY] == "11-13"
            await r.assert_serves()
            assert r.telemetry_count() == 0

    run(main)


# -- envelopes refused without dropping anything: the agent may resend differently ---------


@pytest.mark.parametrize(
    ("bad", "code", "says"),
    [
        pytest.param(
            envelope(11, 13, zstd(_GOOD), codec=7),
            INVALID_ARGUMENT,
            "unknown codec 7",
            id="unknown-codec",
        ),
        pytest.param(
            envelope(11, 13, zstd(_GOOD), codec=0),
            INVALID_ARGUMENT,
            "unknown codec 0",
            id="unspecified-codec",
        ),
        pytest.param(
            envelope(11, 13, zstd(_GOOD), dict_id=424242),
            FAILED_PRECONDITION,
            "unknown zstd dictionary id 424242",
            id="unknown-dictionary",
        ),
        pytest.param(
            envelope(11, 13, zstd(_GOOD), count=0),
            INVALID_ARGUMENT,
            "record_count 0 does not fit range 11-13",
            id="record-count-zero",
        ),
        pytest.param(
            envelope(11, 13, zstd(_GOOD), count=4),
            INVALID_ARGUMENT,
            "record_count 4 does not fit range 11-13",
            id="record-count-over-range",
        ),
        pytest.param(
            envelope(0, 2, zstd(_GOOD)), INVALID_ARGUMENT, "invalid sequence range 0-2", id="seq-0"
        ),
        pytest.param(
            envelope(13, 11, zstd(_GOOD), count=1),
            INVALID_ARGUMENT,
            "invalid sequence range 13-11",
            id="seq-reversed",
        ),
        pytest.param(
            envelope(2**63, 2**63, b"\x00garbage"),
            INVALID_ARGUMENT,
            f"invalid sequence range {2**63}-{2**63}",
            id="seq-past-int64",
        ),
    ],
)
def test_bad_envelope_is_refused_and_nothing_is_dropped(
    serve: Serve, bad: cpb.AgentMessage, code: grpc.StatusCode, says: str
) -> None:
    async def main() -> None:
        async with serve() as r:
            conv = r.connect()
            await conv.hello()
            await conv.send(seqs(1, 3))
            assert await conv.ack() == 3
            ended = await conv.refused(bad)
            assert ended.code == code, ended
            assert says in ended.details
            assert REJECTED_SEQ_KEY not in ended.trailers
            assert r.store.list_rejected() == []
            assert r.stored() == [1, 2, 3]
            assert r.position() == 3
            await r.assert_serves()
            assert r.telemetry_count() == 3

    run(main)


# -- sequence numbers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "last"),
    [
        pytest.param(4, 8, id="overlapping"),
        pytest.param(6, 6, id="repeating-last"),
        pytest.param(1, 3, id="replayed-first-batch"),
        pytest.param(2, 2, id="going-back"),
    ],
)
def test_out_of_order_batch_on_a_stream_is_refused(serve: Serve, first: int, last: int) -> None:
    async def main() -> None:
        async with serve() as r:
            conv = r.connect()
            await conv.hello()
            await conv.send(seqs(1, 3))
            await conv.send(seqs(4, 6))
            assert [await conv.ack(), await conv.ack()] == [3, 6]
            ended = await conv.refused(seqs(first, last))
            assert ended.code == INVALID_ARGUMENT
            assert f"sequence {first} is not after 6" in ended.details
            assert "out of order" in ended.details
            assert REJECTED_SEQ_KEY not in ended.trailers  # the agent must not drop them
            await r.assert_serves()
            assert r.stored() == [1, 2, 3, 4, 5, 6]
            assert r.telemetry_count() == 6
            again = r.connect()
            assert (await again.hello()).acked_seq == 6
            assert (await again.close()).code == OK

    run(main)


def test_replayed_batch_on_a_new_stream_is_acked_again_and_stored_once(serve: Serve) -> None:
    async def main() -> None:
        async with serve() as r:
            full = seqs(1, 3, snapshot)  # each snapshot finds the same volume 97 % full
            conv = r.connect()
            assert (await conv.hello()).acked_seq == 0
            await conv.send(full)
            assert await conv.ack() == 3
            assert (await conv.close()).code == OK
            assert r.occurrences() == [3]

            replay = r.connect()
            assert (await replay.hello()).acked_seq == 3
            await replay.send(full)
            assert await replay.ack() == 3
            assert (await replay.close()).code == OK
            assert r.stored() == [1, 2, 3]
            assert r.telemetry_count() == 3
            assert r.occurrences() == [3]  # the replay did not count as new observations

            # Welcome's acked_seq is per agent and epoch.
            other_epoch = r.connect()
            assert (await other_epoch.hello(hello(epoch="fedcba9876543210"))).acked_seq == 0
            assert (await other_epoch.close()).code == OK
            other_agent = r.connect()
            assert (await other_agent.hello(hello(agent_id="ws-043"))).acked_seq == 0
            assert (await other_agent.close()).code == OK

            fresh = r.connect()
            await fresh.hello()
            await fresh.send(seqs(4, 4, snapshot))
            assert await fresh.ack() == 4
            assert (await fresh.close()).code == OK
            assert r.occurrences() == [4]  # a new record still counts
            await r.assert_serves()

    run(main)


def test_partially_overlapping_batch_stores_only_the_new_records(serve: Serve) -> None:
    async def main() -> None:
        async with serve() as r:
            conv = r.connect()
            await conv.hello()
            await conv.send(seqs(1, 3, snapshot))
            assert await conv.ack() == 3
            assert (await conv.close()).code == OK

            overlap = r.connect()
            assert (await overlap.hello()).acked_seq == 3
            await overlap.send(seqs(2, 6, snapshot))
            assert await overlap.ack() == 6
            assert (await overlap.close()).code == OK
            assert r.stored() == [1, 2, 3, 4, 5, 6]
            assert r.telemetry_count() == 6
            assert r.occurrences() == [6]  # 3 + the 3 new ones, not 3 + 5
            await r.assert_serves()

    run(main)


# -- the store failing -------------------------------------------------------------------------


def test_failed_commit_answers_unavailable_and_never_acks(serve: Serve) -> None:
    async def main() -> None:
        async with serve() as r:
            conv = r.connect()
            await conv.hello()
            await conv.send(seqs(1, 3))
            assert await conv.ack() == 3
            r.flaky.fail_saves = 1
            ended = await conv.refused(seqs(4, 6))
            assert ended.code == UNAVAILABLE
            assert "store unavailable" in ended.details
            assert "disk I/O error" in ended.details
            assert ended.messages == []  # no Ack for what was not committed
            assert REJECTED_SEQ_KEY not in ended.trailers
            assert r.stored() == [1, 2, 3]
            assert r.position() == 3

            # Once the store is back, the agent resends from its Welcome and nothing doubles.
            again = r.connect()
            assert (await again.hello()).acked_seq == 3
            await again.send(seqs(4, 6))
            assert await again.ack() == 6
            assert (await again.close()).code == OK
            assert r.stored() == [1, 2, 3, 4, 5, 6]
            await r.assert_serves()
            assert r.telemetry_count() == 6

    run(main)


def test_store_down_at_hello_answers_unavailable(serve: Serve) -> None:
    async def main() -> None:
        async with serve() as r:
            r.flaky.fail_positions = True
            conv = r.connect()
            await conv.send(hello())
            ended = await conv.ended()
            assert ended.code == UNAVAILABLE
            assert "store unavailable" in ended.details
            assert "database is locked" in ended.details
            assert ended.messages == []
            r.flaky.fail_positions = False
            await r.assert_serves()

    run(main)


def test_store_down_while_keeping_a_rejected_batch_answers_unavailable(serve: Serve) -> None:
    async def main() -> None:
        async with serve() as r:
            garbage = envelope(1, 3, b"\x00garbage" * 8)
            r.flaky.fail_rejected = True
            conv = r.connect()
            await conv.hello()
            ended = await conv.refused(garbage)
            # Not INVALID_ARGUMENT with rdiag-rejected-seq: the agent would drop records
            # the collector could not keep a copy of.
            assert ended.code == UNAVAILABLE
            assert "store unavailable" in ended.details
            assert REJECTED_SEQ_KEY not in ended.trailers
            assert r.store.list_rejected() == []

            r.flaky.fail_rejected = False
            again = r.connect()
            await again.hello()
            ended = await again.refused(garbage)
            assert ended.code == INVALID_ARGUMENT
            assert ended.trailers[REJECTED_SEQ_KEY] == "1-3"
            assert len(r.store.list_rejected()) == 1
            await r.assert_serves()
            assert r.telemetry_count() == 0

    run(main)


def test_failed_commit_is_never_skipped_over_by_a_later_batch(serve: Serve) -> None:
    async def main() -> None:
        async with serve() as r:
            hold = threading.Event()
            r.flaky.hold_first_save = hold
            r.flaky.fail_saves = 1
            service = r.collector.service
            assert service is not None
            conv = r.connect()
            await conv.hello()
            await conv.send(seqs(1, 3))
            assert await asyncio.to_thread(r.flaky.first_save_entered.wait, DEADLINE_S)
            await conv.send(seqs(4, 6))
            async with asyncio.timeout(DEADLINE_S):
                while service.stats.batches < 2:  # 4-6 is queued behind the held commit
                    await asyncio.sleep(0.01)
            hold.set()  # now 1-3 fails
            ended = await conv.ended()
            assert ended.code == UNAVAILABLE
            assert ended.messages == []
            await r.assert_serves()  # queued after 4-6: once acked, 4-6 was dealt with
            again = r.connect()
            acked = (await again.hello()).acked_seq
            assert (await again.close()).code == OK
            # The agent forgets every record up to acked_seq: all of them must be stored.
            assert set(range(1, acked + 1)) <= set(r.stored())

    run(main)


def test_stop_right_after_start_waits_for_the_first_purge(tmp_path: Path) -> None:
    """The retention task's first purge runs in a thread; stop() must not close the store
    under it (that crashed the SQLite driver)."""

    async def main() -> None:
        for i in range(5):
            collector = build(
                CollectorConfig(
                    server=ServerSection(listen="127.0.0.1:0", insecure=True),
                    store=StoreSection(url=f"sqlite:///{tmp_path}/stop-{i}.db"),
                    # The console too: it must start and stop with the collector.
                    console=ConsoleSection(listen="127.0.0.1:0"),
                )
            )
            await collector.start()
            await collector.stop()
            assert collector._tasks and all(
                t.done() and not t.cancelled() for t in collector._tasks
            )

    run(main)


# -- the rules' memory and the rule folder, through a running collector ------------------

PERSISTENT_RULE = """\
id: disk.slow_full
version: 1
title: Volume full three cycles in a row
domain: disk
severity: high
impact: medium
urgency: medium
reason: test
tier: L1
category: Storage
for_each: volume
when: used_pct >= 95
persist: {cycles: 3}
ticket:
  summary: "{mount} full on {hostname}"
  symptoms: "{mount} is {used_pct:.1f}% full"
  cause: data
  remediation: {L1: ["clean {mount}"]}
"""


def test_the_rules_remember_a_host_across_streams_and_a_collector_restart(
    serve: Serve, tmp_path: Path
) -> None:
    folder = tmp_path / "rules" / "disk"
    folder.mkdir(parents=True)
    (folder / "slow_full.yaml").write_text(PERSISTENT_RULE)
    rules = RulesSection(path=tmp_path / "rules", reload_interval=Seconds(0))

    async def main() -> None:
        async with serve(rules=rules) as r:
            conv = r.connect()
            await conv.hello()
            await conv.send(seqs(1, 1, snapshot))
            assert await conv.ack() == 1
            assert (await conv.close()).code == OK
            conv = r.connect()  # the agent reconnects: its history is reloaded
            await conv.hello()
            await conv.send(seqs(2, 2, snapshot))
            assert await conv.ack() == 2
            assert (await conv.close()).code == OK
            assert r.store.list_tickets() == []  # two cycles of three
        async with serve(rules=rules) as r:  # a new collector process on the same store
            conv = r.connect()
            assert (await conv.hello()).acked_seq == 2
            # The agent resends 2 (its ack was lost) and sends 3: 2 is not counted twice.
            await conv.send(seqs(2, 3, snapshot))
            assert await conv.ack() == 3
            assert (await conv.close()).code == OK
            (ticket,) = r.store.list_tickets()
            assert (ticket.rule_id, ticket.component, ticket.occurrences) == (
                "disk.slow_full",
                "/data",
                1,
            )
            (finding,) = r.store.list_findings()
            assert (finding.state.phase, finding.state.opened_ms) == (
                "active",
                snapshot(3).taken_at_ms,
            )

    run(main)


def test_a_changed_rule_file_is_reloaded_and_a_bad_one_keeps_the_running_set(
    serve: Serve, tmp_path: Path
) -> None:
    folder = tmp_path / "rules" / "disk"
    folder.mkdir(parents=True)
    rule_file = folder / "slow_full.yaml"
    rule_file.write_text(PERSISTENT_RULE)
    rules = RulesSection(path=tmp_path / "rules", reload_interval=Seconds(1))

    async def reloaded(r: Running, attempts: int) -> None:
        for _ in range(100):
            status = r.collector.rule_status
            if status.reloads + status.failed_reloads >= attempts:
                return
            await asyncio.sleep(0.1)
        raise AssertionError("the rules folder was not reloaded within 10 s")

    async def main() -> None:
        async with serve(rules=rules) as r:
            engine = r.collector.engine
            assert engine.rules.by_id["disk.slow_full"].persist.cycles == 3
            # A typo: the previous rule set stays active and the error names file:line.
            rule_file.write_text(PERSISTENT_RULE.replace("used_pct >= 95", "usedpct >= 95"))
            await reloaded(r, 1)
            status = r.collector.rule_status
            assert status.failed_reloads == 1 and status.reloads == 0
            assert f"{rule_file}:12: when: unknown name 'usedpct'" in status.errors[0]
            assert engine.rules.by_id["disk.slow_full"].persist.cycles == 3
            # Fixed, with one cycle: the new set runs on the next batch.
            rule_file.write_text(PERSISTENT_RULE.replace("cycles: 3", "cycles: 1"))
            await reloaded(r, 2)
            assert r.collector.rule_status.errors == ()
            assert engine.rules.by_id["disk.slow_full"].persist.cycles == 1
            conv = r.connect()
            await conv.hello()
            await conv.send(seqs(1, 1, snapshot))
            assert await conv.ack() == 1
            assert (await conv.close()).code == OK
            assert [t.rule_id for t in r.store.list_tickets()] == ["disk.slow_full"]

    run(main)
