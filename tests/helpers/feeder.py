"""A fast agent for fault tests: the real Spool and Uplink, fed synthetic snapshots.

    python -m tests.helpers.feeder --spool S --collector ADDR --count N [--rate R]

Appends N snapshots (each with one volume at 97 %, so every record makes a
finding), streaming them with the agent's own uplink code, and prints one
JSON line per event on stdout: {"appended": seq} after each durable append,
{"done": true} once everything is acked. It is the agent minus the probes,
so a test can push thousands of records through a collector that is killed
under it.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import signal
import sys
from pathlib import Path

from agent.common import logs
from agent.common.config import ByteSize, Seconds
from agent.config import CollectorSection
from agent.records import AgentStats, HostInventory, Priority, Snapshot, Volume
from agent.uplink.backoff import Backoff
from agent.uplink.convert import encode_body
from agent.uplink.spool import Spool
from tests.helpers.uplink import uplink as make_uplink

INVENTORY = HostInventory(hostname="feeder-host", os_family="linux", os_name="Feeder Linux")


def snapshot(i: int) -> Snapshot:
    gib = 1024**3
    vol = Volume("/data", "/dev/sdb1", "ext4", 100 * gib, 97 * gib, 3 * gib, 1000, 500)
    return Snapshot(taken_at_ms=1_700_000_000_000 + i * 1000, inventory=INVENTORY, volumes=(vol,))


def emit(obj: object) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def main(args: argparse.Namespace) -> int:
    logs.setup("info", "text")

    def dump_tasks() -> None:  # SIGUSR1: where is every task waiting (debugging a stuck test)
        for t in asyncio.all_tasks():
            t.print_stack(file=sys.stderr)

    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, dump_tasks)
    spool = Spool(Path(args.spool), args.max_bytes)
    stop = asyncio.Event()
    cfg = CollectorSection(address=args.collector, insecure=True, max_in_flight=4,
                           max_batch_bytes=ByteSize(args.batch_bytes),
                           connect_timeout=Seconds(5))  # fmt: skip
    uplink = make_uplink(cfg, spool, stop, agent_id=args.agent_id, inventory=INVENTORY,
                         backoff=Backoff(0.05, 0.5), agent_version="feeder")  # fmt: skip
    task = asyncio.create_task(uplink.run())
    for i in range(args.count):
        prio = (
            Priority.CRITICAL
            if args.critical_every and i % args.critical_every == 0
            else Priority.NORMAL
        )
        seq = await asyncio.to_thread(
            spool.append, prio, "snapshot", encode_body(snapshot(i), prio)
        )
        emit({"appended": seq, "priority": int(prio)})
        uplink.wake.set()
        if args.rate:
            await asyncio.sleep(1 / args.rate)
    # Report the drop counters upstream, as the agent does after every cycle.
    status = spool.status()
    stats = AgentStats(0, status.records, status.bytes, status.dropped)
    await asyncio.to_thread(
        spool.append, Priority.LOW, "stats", encode_body(stats, Priority.LOW), supersede=True
    )
    uplink.wake.set()
    emit(
        {
            "reported_dropped": status.dropped,
            "all_appended": True,
            "status": dataclasses.asdict(spool.status()),
        }
    )
    if args.no_wait:
        stop.set()
    while not stop.is_set():
        if spool.status().records == 0:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await task
    emit({"done": True, "status": dataclasses.asdict(spool.status())})
    spool.close()
    return 0


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--spool", required=True)
    p.add_argument("--collector", required=True)
    p.add_argument("--agent-id", default="feeder-1")
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--rate", type=float, default=0.0)
    p.add_argument("--max-bytes", type=int, default=64 * 1024 * 1024)
    p.add_argument("--batch-bytes", type=int, default=64 * 1024)
    p.add_argument("--critical-every", type=int, default=0)
    p.add_argument("--no-wait", action="store_true")
    raise SystemExit(asyncio.run(main(p.parse_args())))
