"""Run a scenario: every simulated host's cycles, in simulated time, to a real collector.

Time advances in steps of `step` cycles for the whole fleet at once (lockstep: a fleet
incident needs its hosts' failures close together in time, as in a real outage). In a
step each host collects its cycles (agent/… probes, or a re-stamp: fleet.py) into its own
real spool, then its real uplink streams the backlog over gRPC, as an agent back from an
outage would. The next step starts once the fleet's unacked backlog is below `lead`
cycles per host, so the simulator runs ahead of the collector by a bounded amount and
never grows without bound itself; the peak backlog is reported.

No real sleep anywhere: a simulated day takes as long as the collector needs to ingest it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import agent
from agent.common.codec import Codec
from agent.config import KNOWN_PROBES, CollectorSection
from agent.uplink.client import PROTOCOL_VERSION, Uplink
from agent.uplink.convert import hello_message
from collector.sim.fleet import SimHost, make_hosts
from collector.sim.scenario import Scenario
from rdiag_proto.v1 import collector_pb2 as cpb

STEP_CYCLES = 30  # cycles per host per step: one batch of a backlog per host and step
LEAD_CYCLES = 60  # unacked cycles per host (on average) before the simulator waits
DRAIN_TIMEOUT_S = 600.0  # without an ack from the collector, the run gives up


class SimulationError(Exception):
    """The run could not complete (the collector went away, a host could not be built)."""


@dataclass(frozen=True, slots=True)
class Progress:
    cycle: int  # cycles done per host
    cycles: int
    acked_snapshots: int
    elapsed_s: float


@dataclass(frozen=True, slots=True)
class RunResult:
    hosts: int
    cycles: int  # per host
    snapshots: int  # spooled, all acked by the collector
    events: int
    collections: int  # how often real probes ran (the rest were re-stamped)
    wall_s: float
    peak_backlog_records: int  # the fleet's unacked spool records at worst
    peak_backlog_bytes: int
    start_ms: int

    @property
    def rate(self) -> float:
        return self.snapshots / self.wall_s if self.wall_s else 0.0


class _Agent:
    """A host with its uplink: the agent runtime's spool-and-stream half."""

    def __init__(self, host: SimHost, cfg: CollectorSection, codec: Codec, stop: asyncio.Event):
        self.host = host
        self.uplink = Uplink(
            config=cfg, spool=host.spool, codec=codec, hello=self._hello,
            on_config=lambda update: None, stop=stop,
        )  # fmt: skip
        self.task: asyncio.Task[None] | None = None

    def _hello(self) -> cpb.AgentMessage:
        return hello_message(
            agent_id=self.host.agent_id,
            epoch=self.host.spool.epoch,
            inventory=self.host.inventory,
            agent_version=agent.__version__,
            capabilities=KNOWN_PROBES,
            dictionaries=(),
            protocol_version=PROTOCOL_VERSION,
        )


async def simulate(
    scenario: Scenario,
    collector: CollectorSection,
    state_dir: Path,
    *,
    start_ms: int | None = None,
    progress: Callable[[Progress], None] | None = None,
    step_cycles: int = STEP_CYCLES,
    lead_cycles: int = LEAD_CYCLES,
) -> RunResult:
    start = start_ms if start_ms is not None else scenario.start_ms
    if start is None:
        start = int(time.time() * 1000)
    state_dir.mkdir(parents=True, exist_ok=True)
    for old in state_dir.glob("*.db*"):
        old.unlink()  # a fresh spool (a new epoch) per run: runs do not mix
    hosts = await asyncio.to_thread(make_hosts, scenario, state_dir, start)
    stop = asyncio.Event()
    codec = Codec()
    agents = [_Agent(h, collector, codec, stop) for h in hosts]
    executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="rdiag-sim")
    began = time.monotonic()
    cycles = scenario.cycles
    peak_records = peak_bytes = 0
    try:
        for cycle0 in range(0, cycles, step_cycles):
            for a in agents:
                for c in range(cycle0, min(cycles, cycle0 + step_cycles)):
                    await a.host.cycle(c * scenario.interval_s, executor)
                a.host.flush()
                if a.task is None:
                    a.task = asyncio.create_task(a.uplink.run(), name=f"uplink-{a.host.agent_id}")
                a.uplink.wake.set()
            records, size = _backlog(hosts)
            peak_records, peak_bytes = max(peak_records, records), max(peak_bytes, size)
            await _wait_below(agents, lead_cycles * len(hosts))
            if progress is not None:
                done = min(cycles, cycle0 + step_cycles)
                progress(Progress(done, cycles, _acked(agents), time.monotonic() - began))
        await _wait_below(agents, 1)
    finally:
        stop.set()
        for a in agents:
            a.uplink.wake.set()
        tasks = [a.task for a in agents if a.task is not None]
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)
        executor.shutdown(wait=True)
        for h in hosts:
            h.close()
    wall = time.monotonic() - began
    return RunResult(
        hosts=len(hosts),
        cycles=cycles,
        snapshots=len(hosts) * cycles,
        events=sum(h.events for h in hosts),
        collections=sum(h.collections for h in hosts),
        wall_s=wall,
        peak_backlog_records=peak_records,
        peak_backlog_bytes=peak_bytes,
        start_ms=start,
    )


def _backlog(hosts: list[SimHost]) -> tuple[int, int]:
    records = size = 0
    for h in hosts:
        n, b = h.spool.waiting
        records += n
        size += b
    return records, size


def _acked(agents: list[_Agent]) -> int:
    return sum(a.uplink.stats.records_acked for a in agents)


async def _wait_below(agents: list[_Agent], limit: int) -> None:
    """Wait until the fleet's unacked records are fewer than limit, for as long as the
    uplinks make progress (SimulationError after DRAIN_TIMEOUT_S without an ack)."""
    hosts = [a.host for a in agents]
    last_change = time.monotonic()
    last = -1
    while True:
        records, _ = _backlog(hosts)
        if records < limit:
            return
        now = time.monotonic()
        if records != last:
            last, last_change = records, now
        stalled = now - last_change
        if stalled > DRAIN_TIMEOUT_S:
            errors = sorted(
                {a.uplink.stats.last_error for a in agents if a.uplink.stats.last_error}
            )
            why = "; ".join(errors[:3]) or "no acks"
            raise SimulationError(
                f"the collector acked nothing for {stalled:.0f} s with {records} records "
                f"waiting: {why}"
            )
        await asyncio.sleep(0.02)
