"""A lean load generator for the ingest benchmark: N agent streams in one process.

    python -m tests.bench.ingest_client --collector ADDR --streams 16 --batches 400 \
        --snapshots-per-batch 1 --in-flight 4 --ticket-every 10 --agent-prefix run1
    python -m tests.bench.ingest_client --collector ADDR --realistic --faulty-every 10 ...

Every stream is what one agent would be: its own channel (TCP connection), a
Hello with its agent id, spool epoch and inventory, then Batch messages built
with the agent's own code (agent.uplink.convert.encode_body / batch_payload /
batch_message, agent.common.codec zstd), at most --in-flight unacked, exactly
as agent.uplink.client.Uplink sends them. Everything is encoded and compressed
before the clock starts, so the figure is the collector's, not the encoder's.

--realistic sends workstation snapshots made by the agent's own probes over the capture
folders in tests/fixtures/hosts (what a real host's cycle costs the rules, not three
volumes): most streams are sim-linux-healthy, every --faulty-every'th one alternates
between sim-linux-laptop-faults and sim-windows11-laptop. Each stream is its own host
(hostname ws-<agent id>), its snapshots 60 s apart, with what moves between a live host's
cycles moving (uptime, probe timings, volumes' used bytes, disk and interface counters).

Protocol with the parent (one JSON line each on stdout):
    {"ready": ...}   every stream has its Welcome; then the parent writes "go" on stdin
    {"result": ...}  first send / last ack (time.monotonic, comparable across processes
                     on Linux), counts, the acked seq per stream, this process's CPU
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import grpc.aio

from agent.common.codec import CODEC_ZSTD, Codec
from agent.records import AgentStats, HostInventory, Priority, Snapshot, Volume
from agent.uplink.client import MAX_MESSAGE_BYTES, PROTOCOL_VERSION
from agent.uplink.convert import batch_message, batch_payload, encode_body, hello_message
from agent.uplink.spool import SpoolRow
from rdiag_proto.v1 import collector_pb2 as cpb
from rdiag_proto.v1 import collector_pb2_grpc as cpb_grpc
from tests.helpers.records import inventory

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "hosts"
HEALTHY = "sim-linux-healthy"
FAULTY = ("sim-linux-laptop-faults", "sim-windows11-laptop")

GIB = 1024**3


def snapshot(inv: HostInventory, i: int, full: bool) -> Snapshot:
    """A workstation's snapshot: inventory and three volumes; /data is 97 % full when full."""
    drift = (i * 7919) % 4096 * 4096
    data_used = (97 if full else 60) * GIB + drift
    volumes = (
        Volume("/", "/dev/nvme0n1p2", "ext4", 234 * GIB, 41 * GIB + drift, 181 * GIB - drift,
               15_597_568, 14_900_000 - i % 1000),
        Volume("/boot/efi", "/dev/nvme0n1p1", "vfat", 512 * 1024**2, 6 * 1024**2,
               506 * 1024**2),
        Volume("/data", "/dev/sda1", "xfs", 100 * GIB, data_used, 100 * GIB - data_used,
               52_428_800, 52_000_000),
    )  # fmt: skip
    return Snapshot(taken_at_ms=1_700_000_000_000 + i * 60_000, inventory=inv, volumes=volumes)


async def captured(name: str) -> Snapshot:
    """One cycle of the agent's real probes over a capture folder, as collect_once runs them."""
    from agent.probes import PROBES
    from agent.probes.base import ProbeContext
    from agent.runner import collect
    from agent.sources import DirectorySource

    got = await collect(
        DirectorySource(FIXTURES / name),
        PROBES,
        timeout_s=10,
        clock_ms=lambda: 1_700_000_000_000,
        agent_version="bench",
        context=ProbeContext(),
    )
    return got.snapshot


def realistic(base: Snapshot, agent_id: str, i: int) -> Snapshot:
    """Cycle i of one host: the captured snapshot 60 s later each time, as host ws-<agent id>,
    with what moves between a live host's cycles moving: uptime, probe timings, the used
    bytes of its volumes (a few MiB), its disks' and active interfaces' counters. What a
    host does not change (devices, drivers, routes, addresses) stays as captured."""
    drift = (i * 7919) % 4096 * 4096
    volumes = tuple(
        dataclasses.replace(v, used_bytes=v.used_bytes + drift, free_bytes=v.free_bytes - drift)
        if v.free_bytes > drift
        else v
        for v in base.volumes
    )
    timings = tuple(
        dataclasses.replace(t, wall_seconds=t.wall_seconds * (1 + (i + k) % 7 / 50),
                            cpu_seconds=t.cpu_seconds * (1 + (i + k) % 5 / 50))
        for k, t in enumerate(base.timings)
    )  # fmt: skip
    disk_io = tuple(
        dataclasses.replace(d, reads=d.reads + 40 * i, writes=d.writes + 90 * i,
                            io_ms=d.io_ms + 30 * i)
        for d in base.disk_io
    )  # fmt: skip
    interfaces = tuple(
        dataclasses.replace(n, rx_bytes=n.rx_bytes + 150_000 * i, tx_bytes=n.tx_bytes + 40_000 * i)
        if n.rx_bytes
        else n
        for n in base.interfaces
    )
    inv = base.inventory
    if inv is not None:
        inv = dataclasses.replace(
            inv, hostname=f"ws-{agent_id}", uptime_seconds=inv.uptime_seconds + 60 * i
        )
    return dataclasses.replace(
        base,
        taken_at_ms=1_700_000_000_000 + i * 60_000,
        inventory=inv,
        volumes=volumes,
        timings=timings,
        disk_io=disk_io,
        interfaces=interfaces,
    )


def fixture_for(stream: int, faulty_every: int) -> str:
    """Which capture a stream's host is: healthy, every faulty_every'th one faulty."""
    if faulty_every > 0 and stream % faulty_every == faulty_every - 1:
        return FAULTY[(stream // faulty_every) % len(FAULTY)]
    return HEALTHY


@dataclass
class StreamPlan:
    agent_id: str
    epoch: str
    inventory: HostInventory
    messages: list[cpb.AgentMessage]
    last_seq: int
    snapshots: int


def plan_stream(
    agent_id: str,
    batches: int,
    per_batch: int,
    with_stats: bool,
    ticket_every: int,
    codec: Codec,
    base: Snapshot | None = None,
) -> StreamPlan:
    """base: a captured snapshot to send (realistic) instead of the synthetic one."""
    inv = inventory(f"ws-{agent_id}")
    if base is not None and base.inventory is not None:
        inv = dataclasses.replace(base.inventory, hostname=f"ws-{agent_id}")
    seq = 0
    n = 0
    messages: list[cpb.AgentMessage] = []
    for _ in range(batches):
        rows: list[SpoolRow] = []
        for _ in range(per_batch):
            seq += 1
            full = ticket_every > 0 and n % ticket_every == ticket_every - 1
            snap = snapshot(inv, n, full) if base is None else realistic(base, agent_id, n)
            body = encode_body(snap, Priority.NORMAL)
            rows.append(SpoolRow(seq, Priority.NORMAL, "snapshot", body))
            n += 1
        if with_stats:  # the agent spools its own stats after every cycle
            seq += 1
            stats = AgentStats(1_700_000_000_000 + n * 60_000, 1, 400, {})
            rows.append(SpoolRow(seq, Priority.LOW, "stats", encode_body(stats, Priority.LOW)))
        payload = codec.compress(batch_payload(rows))
        messages.append(batch_message(rows, payload, CODEC_ZSTD, 0))
    return StreamPlan(agent_id, uuid.uuid4().hex, inv, messages, seq, n)


@dataclass
class StreamRun:
    plan: StreamPlan
    channel: grpc.aio.Channel
    call: grpc.aio.StreamStreamCall[cpb.AgentMessage, cpb.CollectorMessage]
    first_send: float = 0.0
    last_ack: float = 0.0
    acked: int = 0
    error: str = ""
    wire_bytes: int = 0
    in_flight: list[int] = field(default_factory=list)


async def connect(address: str, plan: StreamPlan) -> StreamRun:
    options = [
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.enable_retries", 0),
        # One TCP connection per stream, as separate agents have (channels in one
        # process would otherwise share a subchannel).
        ("grpc.use_local_subchannel_pool", 1),
    ]
    channel = grpc.aio.insecure_channel(address, options=options)
    call = cpb_grpc.CollectorStub(channel).Connect()
    hello = hello_message(
        agent_id=plan.agent_id,
        epoch=plan.epoch,
        inventory=plan.inventory,
        agent_version="bench",
        capabilities=(),
        dictionaries=(),
        protocol_version=PROTOCOL_VERSION,
    )
    await call.write(hello)
    welcome = await call.read()
    if not isinstance(welcome, cpb.CollectorMessage) or welcome.WhichOneof("kind") != "welcome":
        raise RuntimeError(f"{plan.agent_id}: no Welcome from the collector")
    return StreamRun(plan, channel, call)


async def drive(run: StreamRun, window: int) -> None:
    space = asyncio.Semaphore(window)
    plan = run.plan

    async def receive() -> None:
        while run.acked < plan.last_seq:
            msg = await run.call.read()
            if not isinstance(msg, cpb.CollectorMessage):
                raise RuntimeError(f"{plan.agent_id}: stream ended at ack {run.acked}")
            if msg.WhichOneof("kind") != "ack":
                continue
            up_to = msg.ack.up_to_seq
            while run.in_flight and run.in_flight[0] <= up_to:
                run.in_flight.pop(0)
                space.release()
            run.acked = max(run.acked, up_to)
        run.last_ack = time.monotonic()

    receiver = asyncio.create_task(receive())
    try:
        run.first_send = time.monotonic()
        for msg in plan.messages:
            await space.acquire()
            if receiver.done():
                break
            run.in_flight.append(msg.batch.seq_last)
            run.wire_bytes += msg.ByteSize()
            await run.call.write(msg)
        await receiver
        await run.call.done_writing()
    except (grpc.aio.AioRpcError, RuntimeError) as exc:
        run.error = str(exc)
        receiver.cancel()
    finally:
        run.call.cancel()
        await run.channel.close()


def emit(obj: object) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def main(args: argparse.Namespace) -> int:
    codec = Codec()
    bases: dict[str, Snapshot] = {}
    if args.realistic:
        names = {fixture_for(i, args.faulty_every) for i in range(args.streams)}
        bases = {name: await captured(name) for name in sorted(names)}
    plans = [
        plan_stream(f"{args.agent_prefix}-{i:03d}", args.batches, args.snapshots_per_batch,
                    args.with_stats, args.ticket_every, codec,
                    bases.get(fixture_for(i, args.faulty_every)))
        for i in range(args.streams)
    ]  # fmt: skip
    runs = await asyncio.gather(*(connect(args.collector, p) for p in plans))
    emit({"ready": len(runs)})
    line = await asyncio.to_thread(sys.stdin.readline)
    if line.strip() != "go":
        return 1
    cpu0 = time.process_time()
    await asyncio.gather(*(drive(r, args.in_flight) for r in runs))
    cpu = time.process_time() - cpu0
    emit(
        {
            "result": {
                "first_send": min(r.first_send for r in runs),
                "last_ack": max(r.last_ack for r in runs),
                "batches": sum(len(r.plan.messages) for r in runs),
                "snapshots": sum(r.plan.snapshots for r in runs),
                "records": sum(r.plan.last_seq for r in runs),
                "wire_bytes": sum(r.wire_bytes for r in runs),
                "acked": {r.plan.agent_id: r.acked for r in runs},
                "expected": {r.plan.agent_id: r.plan.last_seq for r in runs},
                "errors": [f"{r.plan.agent_id}: {r.error}" for r in runs if r.error],
                "cpu_seconds": cpu,
            }
        }
    )
    return 0


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--collector", required=True)
    p.add_argument("--streams", type=int, default=16)
    p.add_argument("--batches", type=int, default=200, help="batches per stream")
    p.add_argument("--snapshots-per-batch", type=int, default=1)
    p.add_argument("--with-stats", action="store_true", help="an AgentStats record per batch")
    p.add_argument("--in-flight", type=int, default=4)
    p.add_argument(
        "--ticket-every", type=int, default=10, help="every Nth snapshot has a full volume"
    )
    p.add_argument("--agent-prefix", default="bench")
    p.add_argument(
        "--realistic", action="store_true", help="snapshots from the agent's probes over captures"
    )
    p.add_argument(
        "--faulty-every", type=int, default=10, help="with --realistic: every Nth host is faulty"
    )
    raise SystemExit(asyncio.run(main(p.parse_args())))
