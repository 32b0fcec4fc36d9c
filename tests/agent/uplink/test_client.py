"""The Uplink against a scripted collector: a real grpc.aio server on loopback.

The collector is tests/helpers/scripted.py; pytest-asyncio is not used: each test runs
its own loop with asyncio.run.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import grpc.aio

from agent.common.codec import CODEC_NONE, CODEC_ZSTD, Codec
from agent.common.config import Seconds
from agent.config import CollectorSection
from agent.records import Priority
from agent.uplink.backoff import Backoff
from agent.uplink.client import REJECTED_SEQ_KEY, RETRY_AFTER_KEY, Uplink
from agent.uplink.convert import hello_message
from agent.uplink.spool import Spool
from rdiag_proto.v1 import collector_pb2 as cpb
from rdiag_proto.v1 import telemetry_pb2 as pb
from tests.helpers.procs import free_port
from tests.helpers.scripted import DEADLINE, Conn, Scripted, collector, until

# --- the agent side ----------------------------------------------------------------------


class RecordingBackoff(Backoff):
    """A real Backoff that remembers every delay it handed out (and the floor asked for)."""

    def __init__(self, initial: float, maximum: float) -> None:
        super().__init__(initial, maximum, rng=random.Random(1))
        self.calls: list[tuple[float, float]] = []  # (at_least, delay)

    def next_delay(self, at_least: float = 0.0) -> float:
        delay = super().next_delay(at_least)
        self.calls.append((at_least, delay))
        return delay


@dataclass
class Agent:
    spool: Spool
    uplink: Uplink
    stop: asyncio.Event
    backoff: RecordingBackoff
    configs: list[cpb.ConfigUpdate]
    hellos: list[float]
    task: asyncio.Task[None]

    def append(self, n: int, priority: Priority = Priority.NORMAL) -> list[int]:
        out = []
        for i in range(n):
            seq = self.spool.append(priority, "snapshot", snapshot_body(i))
            assert seq is not None
            out.append(seq)
        self.uplink.wake.set()
        return out

    def remaining(self) -> list[int]:
        return [r.seq for r in self.spool.read(0, 1 << 30, 100_000)]


def snapshot_body(i: int) -> bytes:
    rec = pb.Record(priority=pb.PRIORITY_NORMAL, snapshot=pb.Snapshot(taken_at_ms=1000 + i))
    return bytes(rec.SerializeToString())


@contextlib.asynccontextmanager
async def agent(
    tmp_path: Path,
    port: int,
    *,
    backoff: tuple[float, float] = (0.05, 0.2),
    **section: Any,
) -> AsyncIterator[Agent]:
    spool = Spool(tmp_path / "spool.db", 8 * 1024 * 1024)
    stop = asyncio.Event()
    configs: list[cpb.ConfigUpdate] = []
    hellos: list[float] = []
    rb = RecordingBackoff(*backoff)

    def hello() -> cpb.AgentMessage:
        hellos.append(time.monotonic())
        return hello_message(agent_id="agent-1", epoch=spool.epoch, inventory=None,
                             agent_version="test", capabilities=("disk",), dictionaries=(),
                             protocol_version=1)  # fmt: skip

    cfg = CollectorSection(address=f"127.0.0.1:{port}", insecure=True,
                           connect_timeout=Seconds(section.pop("connect_timeout", 10)),
                           **section)  # fmt: skip
    up = Uplink(config=cfg, spool=spool, codec=Codec(), hello=hello, on_config=configs.append,
                stop=stop, backoff=rb)  # fmt: skip
    task = asyncio.create_task(up.run())
    try:
        yield Agent(spool, up, stop, rb, configs, hellos, task)
    finally:
        stop.set()
        try:
            await asyncio.wait_for(task, DEADLINE)
        finally:
            spool.close()


async def stopped_promptly(a: Agent) -> float:
    """Set stop; return how long run() took to end (it must end: wait_for fails otherwise)."""
    t0 = time.monotonic()
    a.stop.set()
    await asyncio.wait_for(asyncio.shield(a.task), DEADLINE)
    return time.monotonic() - t0


# --- tests -------------------------------------------------------------------------------


def test_hello_first_then_welcome_then_batches(tmp_path: Path) -> None:
    async def main() -> None:
        server = Scripted()
        async with collector(server) as port, agent(tmp_path, port) as a:
            a.append(3)
            await until(lambda: server.stored == [1, 2, 3], "three records stored")
            await until(lambda: a.remaining() == [], "the spool emptied by acks")
            assert a.uplink.connected.is_set()
        (session,) = server.sessions
        kinds = [m.WhichOneof("kind") for m in session.messages]
        assert kinds[0] == "hello"
        assert set(kinds[1:]) == {"batch"}
        hello = session.messages[0].hello
        assert (hello.agent_id, hello.spool_epoch) == ("agent-1", a.spool.epoch)
        # Tiny records: zstd's frame would cost more than it saves, so they go uncompressed.
        assert all(b.codec == CODEC_NONE for b in session.batches)
        assert a.uplink.stats.sessions == 1
        assert a.uplink.stats.records_acked == 3

    asyncio.run(main())


def test_something_other_than_welcome_ends_the_session_and_it_retries(tmp_path: Path) -> None:
    async def ack_instead_of_welcome(conn: Conn) -> None:
        await conn.read()
        await conn.write(cpb.CollectorMessage(ack=cpb.Ack(up_to_seq=99)))
        await conn.read()  # until the agent hangs up

    async def main() -> None:
        server = Scripted(ack_instead_of_welcome)
        async with collector(server) as port, agent(tmp_path, port) as a:
            a.append(2)
            await until(lambda: server.stored == [1, 2], "records stored by the second session")
            assert "Welcome" in a.uplink.stats.last_error
        assert len(server.sessions) == 2
        assert server.sessions[0].batches == []  # nothing sent without a Welcome

    asyncio.run(main())


def spooled_before_any_collector(tmp_path: Path, n: int) -> None:
    spool = Spool(tmp_path / "spool.db", 8 * 1024 * 1024)
    try:
        for i in range(n):
            spool.append(Priority.NORMAL, "snapshot", snapshot_body(i))
    finally:
        spool.close()


def test_resumes_after_welcome_acked_seq_and_never_resends_acked_records(tmp_path: Path) -> None:
    gate = asyncio.Event()

    async def welcome_then_wait(conn: Conn) -> None:
        await conn.welcome()
        await gate.wait()
        await conn.serve_normally()

    async def main() -> None:
        spooled_before_any_collector(tmp_path, 5)
        server = Scripted(welcome_then_wait)
        server.acked_seq = 3  # the collector committed 1..3 before the agent lost its acks
        async with collector(server) as port, agent(tmp_path, port) as a:
            assert a.remaining() == [1, 2, 3, 4, 5]
            # On Welcome, before any batch: 1..3 leave the spool.
            await until(lambda: a.remaining() == [4, 5], "1..3 dropped on Welcome")
            gate.set()
            await until(lambda: server.stored == [4, 5], "4 and 5 stored")
            await until(lambda: a.remaining() == [], "spool empty")
        sent = [b.seq_first for b in server.sessions[0].batches]
        assert sent[0] == 4  # 1..3 never went on the wire

    asyncio.run(main())


def test_unavailable_then_recovers_and_delivers_everything(tmp_path: Path) -> None:
    async def unavailable(conn: Conn) -> None:
        await conn.read()
        await conn.abort(grpc.StatusCode.UNAVAILABLE, "warming up")

    async def main() -> None:
        server = Scripted(unavailable, unavailable, unavailable)
        async with collector(server) as port, agent(tmp_path, port) as a:
            a.append(4)
            await until(lambda: server.stored == [1, 2, 3, 4], "all four stored")
            await until(lambda: a.remaining() == [], "spool empty")
            assert len(server.sessions) == 4
            assert a.uplink.stats.sessions == 1  # only one got as far as Welcome
            assert a.uplink.stats.last_error.startswith("UNAVAILABLE")
            # Each refusal went through the backoff, with no floor asked for.
            assert len(a.backoff.calls) == 3
            assert all(floor == 0.0 for floor, _ in a.backoff.calls)

    asyncio.run(main())


def test_a_real_outage_server_gone_then_back_on_the_same_port(tmp_path: Path) -> None:
    async def main() -> None:
        port = free_port()
        first = Scripted()
        async with agent(tmp_path, port) as a:
            async with collector(first, port):
                a.append(3)
                await until(lambda: first.stored == [1, 2, 3], "first batch stored")
                await until(lambda: a.remaining() == [], "spool empty")
            # The collector is gone: records wait in the spool, the agent keeps trying.
            await until(lambda: not a.uplink.connected.is_set(), "disconnected")
            a.append(3)
            tries = len(a.hellos)
            await until(lambda: len(a.hellos) >= tries + 2, "two more connection attempts")
            assert a.remaining() == [4, 5, 6]
            second = Scripted()
            second.acked_seq = 3  # the collector's store remembers 1..3
            async with collector(second, port):
                await until(lambda: second.stored == [4, 5, 6], "backlog delivered")
                await until(lambda: a.remaining() == [], "spool empty again")
        assert first.stored + second.stored == [1, 2, 3, 4, 5, 6]

    asyncio.run(main())


def test_rejected_seq_trailer_drops_those_records_and_counts_them(tmp_path: Path) -> None:
    async def reject_seq_3(conn: Conn) -> None:
        await conn.welcome()
        while (msg := await conn.read()) is not None:
            b = msg.batch
            if b.seq_first <= 3 <= b.seq_last:
                await conn.abort(grpc.StatusCode.INVALID_ARGUMENT, "record 3 is malformed",
                                 **{REJECTED_SEQ_KEY: f"{b.seq_first}-{b.seq_last}"})  # fmt: skip
            conn.store(b)
            await conn.write(cpb.CollectorMessage(ack=cpb.Ack(up_to_seq=b.seq_last)))

    async def main() -> None:
        server = Scripted(reject_seq_3)
        async with collector(server) as port, agent(tmp_path, port) as a:
            await until(lambda: a.uplink.connected.is_set(), "connected")
            a.append(2)
            await until(lambda: server.stored == [1, 2], "1 and 2 stored")
            a.append(1)  # 3, the one the collector refuses
            await until(lambda: a.uplink.stats.rejected == 1, "rejection counted")
            a.append(2)  # 4 and 5 go through on the next session
            await until(lambda: server.stored == [1, 2, 4, 5], "4 and 5 stored")
            await until(lambda: a.remaining() == [], "spool empty")
            assert a.spool.status().dropped == {"rejected_by_collector": 1}
            assert a.uplink.stats.last_error == "INVALID_ARGUMENT: record 3 is malformed"
        assert 3 not in server.stored

    asyncio.run(main())


def test_invalid_argument_without_the_trailer_keeps_the_records(tmp_path: Path) -> None:
    async def refuse(conn: Conn) -> None:
        await conn.welcome()
        await conn.read()
        await conn.abort(grpc.StatusCode.INVALID_ARGUMENT, "no idea")

    async def main() -> None:
        server = Scripted(refuse)
        async with collector(server) as port, agent(tmp_path, port) as a:
            a.append(2)
            await until(lambda: server.stored == [1, 2], "stored by the second session")
            assert a.spool.status().dropped == {}
            assert a.uplink.stats.rejected == 0

    asyncio.run(main())


def test_retry_after_trailer_is_a_floor_for_the_next_attempt(tmp_path: Path) -> None:
    async def overloaded(conn: Conn) -> None:
        await conn.read()
        await conn.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "busy", **{RETRY_AFTER_KEY: "700"})

    async def main() -> None:
        server = Scripted(overloaded)
        async with collector(server) as port, agent(tmp_path, port, backoff=(0.05, 2.0)) as a:
            a.append(1)
            await until(lambda: server.stored == [1], "stored after the wait")
            assert a.backoff.calls[0][0] == 0.7
            assert a.backoff.calls[0][1] >= 0.7
        # Lower bound only (a slow machine can only make the gap longer): the agent did not
        # come back before the collector said it could.
        first, second = server.sessions
        assert second.started - first.ended >= 0.7

    asyncio.run(main())


def test_refusing_status_waits_the_maximum(tmp_path: Path) -> None:
    async def unauthenticated(conn: Conn) -> None:
        await conn.read()
        await conn.abort(grpc.StatusCode.UNAUTHENTICATED, "who are you")

    async def main() -> None:
        server = Scripted(unauthenticated)
        async with collector(server) as port, agent(tmp_path, port, backoff=(0.05, 0.3)) as a:
            a.append(1)
            await until(lambda: server.stored == [1], "stored after the slow retry")
            floor, delay = a.backoff.calls[0]
            assert floor == 0.3 and delay >= 0.3

    asyncio.run(main())


def test_stop_cuts_a_long_backoff_short(tmp_path: Path) -> None:
    async def main() -> None:
        port = free_port()  # nothing listens there
        async with agent(tmp_path, port, backoff=(600.0, 600.0),
                         backoff_initial=Seconds(600), backoff_max=Seconds(600)) as a:  # fmt: skip
            await until(lambda: len(a.backoff.calls) == 1, "first failure, now waiting")
            assert a.backoff.calls[0][1] >= 480  # it really is in a long wait
            took = await stopped_promptly(a)
        assert took < DEADLINE  # ended long before the 10-minute backoff

    asyncio.run(main())


def test_stop_while_waiting_for_welcome_ends_promptly(tmp_path: Path) -> None:
    """A collector that accepts the stream and never answers must not hold up shutdown."""
    release = asyncio.Event()

    async def silent(conn: Conn) -> None:
        await conn.read()
        await release.wait()

    async def main() -> None:
        server = Scripted(silent, then=silent)
        async with collector(server) as port:
            async with agent(tmp_path, port, connect_timeout=600) as a:
                await until(lambda: len(server.sessions) == 1 and bool(server.sessions[0].messages),
                            "the hello arrived")  # fmt: skip
                task = asyncio.create_task(stopped_promptly(a))
                done, _ = await asyncio.wait({task}, timeout=DEADLINE)
                assert task in done, "run() still waiting for Welcome after stop"
                task.result()
            release.set()

    asyncio.run(main())


def test_stop_while_connected_and_idle_ends_promptly(tmp_path: Path) -> None:
    async def main() -> None:
        server = Scripted()
        async with collector(server) as port, agent(tmp_path, port) as a:
            a.append(1)
            await until(lambda: server.stored == [1], "stored")
            await stopped_promptly(a)
            assert a.remaining() == []

    asyncio.run(main())


def test_stop_with_batches_in_flight_keeps_them_in_the_spool(tmp_path: Path) -> None:
    async def never_ack(conn: Conn) -> None:
        await conn.welcome()
        while await conn.read() is not None:
            pass

    async def main() -> None:
        server = Scripted(never_ack, then=never_ack)
        async with collector(server) as port, agent(tmp_path, port) as a:
            a.append(3)
            await until(lambda: bool(server.sessions and server.sessions[0].batches),
                        "a batch in flight")  # fmt: skip
            await stopped_promptly(a)
            assert a.remaining() == [1, 2, 3]  # unacked: still on disk for next time

    asyncio.run(main())


def test_never_more_than_max_in_flight_unacked_batches(tmp_path: Path) -> None:
    """The collector holds its acks; whenever it has max_in_flight unacked batches it
    listens for a while before acking one, so an agent that sent one more would be caught."""
    max_in_flight, total = 3, 12
    worst: list[int] = []

    async def slow_acks(conn: Conn) -> None:
        # One record per batch: the agent reads up to the limit less 1 KiB of envelope,
        # and a ~10-byte record compresses to well under the limit itself.
        await conn.welcome(max_batch_bytes=1030)
        unacked: list[int] = []
        while True:
            timeout = 0.2 if len(unacked) >= max_in_flight else None
            msg = await conn.read(timeout)
            if msg is None:
                if len(unacked) < max_in_flight:
                    return  # end of stream
                seq = unacked.pop(0)
                await conn.write(cpb.CollectorMessage(ack=cpb.Ack(up_to_seq=seq)))
                continue
            conn.store(msg.batch)
            unacked.append(msg.batch.seq_last)
            worst.append(len(unacked))
            if len(conn.server.stored) == total:
                for seq in unacked:
                    await conn.write(cpb.CollectorMessage(ack=cpb.Ack(up_to_seq=seq)))
                unacked.clear()

    async def main() -> None:
        server = Scripted(slow_acks)
        async with collector(server) as port, agent(tmp_path, port,
                                                    max_in_flight=max_in_flight) as a:  # fmt: skip
            a.append(total)
            await until(lambda: server.stored == list(range(1, total + 1)), "all stored")
            await until(lambda: a.remaining() == [], "spool empty")
        assert max(worst) == max_in_flight  # the window was used, never exceeded
        assert all(b.record_count == 1 for b in server.sessions[0].batches)

    asyncio.run(main())


def test_config_update_in_welcome_and_mid_stream_reaches_on_config(tmp_path: Path) -> None:
    async def configure(conn: Conn) -> None:
        await conn.welcome(config=cpb.ConfigUpdate(interval_seconds=30, enabled_probes=["disk"]))
        await conn.write(cpb.CollectorMessage(action=cpb.ActionRequest(action="reboot")))
        await conn.write(cpb.CollectorMessage(config=cpb.ConfigUpdate(interval_seconds=90)))
        await conn.serve_normally()

    async def main() -> None:
        server = Scripted(configure)
        async with collector(server) as port, agent(tmp_path, port) as a:
            await until(lambda: len(a.configs) == 2, "two config updates")
            a.append(1)  # the unsupported action did not end the session
            await until(lambda: server.stored == [1], "stored")
            assert len(server.sessions) == 1
        assert (a.configs[0].interval_seconds, list(a.configs[0].enabled_probes)) == (30, ["disk"])
        assert a.configs[1].interval_seconds == 90

    asyncio.run(main())


def test_no_collector_at_all_keeps_retrying_at_the_backoff_pace(tmp_path: Path) -> None:
    async def main() -> None:
        port = free_port()  # nothing listens there
        async with agent(tmp_path, port, backoff=(0.1, 0.2)) as a:
            a.append(2)
            await until(lambda: len(a.hellos) >= 6, "six connection attempts")
            hellos = list(a.hellos)
            waits = [d for _, d in a.backoff.calls]
            assert not a.task.done()  # run() never raised
            # Every attempt after the first followed a backoff wait, and the waits really
            # happened: attempt k+1 came at least the sum of the first k waits after the
            # first one. The pace is the schedule's (>= 0.08 s apart), not the CPU's.
            assert len(waits) >= len(hellos) - 1
            assert all(d >= 0.08 for d in waits)
            for k in range(1, len(hellos)):
                assert hellos[k] - hellos[0] >= sum(waits[:k])
            assert a.uplink.stats.last_error.startswith("UNAVAILABLE")
            assert a.remaining() == [1, 2]

    asyncio.run(main())


def test_a_record_larger_than_the_collector_accepts_is_dropped_counted_and_the_rest_flows(
    tmp_path: Path,
) -> None:
    async def small_limit(conn: Conn) -> None:
        await conn.welcome(max_batch_bytes=8 * 1024)  # lower than the agent's own limit
        await conn.serve_normally()

    async def main() -> None:
        server = Scripted(then=small_limit)
        async with collector(server) as port, agent(tmp_path, port) as a:
            a.append(1)
            huge = pb.Event(time_ms=1, source="agent", kind="huge",
                            message=secrets.token_hex(16 * 1024))  # fmt: skip
            big = pb.Record(priority=pb.PRIORITY_NORMAL, event=huge)
            too_big = a.spool.append(Priority.NORMAL, "event", bytes(big.SerializeToString()))
            a.append(1)
            await until(lambda: server.stored == [1, 3], "the records around the big one")
            await until(lambda: a.remaining() == [], "spool empty")
            assert too_big == 2
            assert a.spool.status().dropped == {"too_large_for_collector": 1}
            # Dropped locally: it never went on the wire, and the stream never broke.
            assert len(server.sessions) == 1
            assert all(not (b.seq_first <= 2 <= b.seq_last) for b in server.sessions[0].batches)

    asyncio.run(main())


def test_compressible_batches_go_zstd_and_tiny_ones_plain(tmp_path: Path) -> None:
    async def main() -> None:
        server = Scripted()
        async with collector(server) as port, agent(tmp_path, port) as a:
            text = pb.Record(priority=pb.PRIORITY_NORMAL, event=pb.Event(
                time_ms=1, source="agent", kind="k", message="disk /dev/sda " * 200))  # fmt: skip
            tiny = pb.Record(priority=pb.PRIORITY_NORMAL, event=pb.Event(time_ms=2, kind="k"))
            for rec in (text, tiny):
                a.spool.append(Priority.NORMAL, "event", bytes(rec.SerializeToString()))
                a.uplink.wake.set()
                await until(lambda: a.remaining() == [], "delivered")
            assert [r.event.time_ms for r in server.records] == [1, 2]
        first, second = server.sessions[0].batches
        assert first.codec == CODEC_ZSTD and len(first.payload) < len(text.SerializeToString())
        # zstd's frame header alone is larger than what it would save on a few bytes.
        assert second.codec == CODEC_NONE and second.dictionary_id == 0

    asyncio.run(main())
