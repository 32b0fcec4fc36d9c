"""Simulated hosts: the real probes when a fault changes, a re-stamp otherwise."""

from __future__ import annotations

import asyncio
import dataclasses
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from agent.records import Priority, Snapshot
from agent.uplink.convert import encode_body, snapshot_pb
from collector.sim.fleet import _NORMAL_PREFIX, SimHost, make_hosts, restamp
from collector.sim.scenario import load_scenario
from rdiag_proto.v1 import telemetry_pb2 as pb

ROOT = Path(__file__).resolve().parents[3]
HEALTHY = ROOT / "tests" / "fixtures" / "hosts" / "sim-linux-healthy"
START_MS = 1_800_000_000_000

SCENARIO = f"""\
name: t
duration: 1h
interval: 60s
fleet:
  - {{profile: quiet, count: 1, capture: {HEALTHY}, hostname: "q-{{n}}", subnet: 10.9.0.0/24,
      dns_servers: [10.9.0.53]}}
  - {{profile: filling, count: 1, capture: {HEALTHY}, hostname: "f-{{n}}"}}
faults:
  - {{kind: volume_fill, hosts: filling, start: 2m, end: 6m, mount: /home, rate: 600MB/min}}
"""


def snapshots(host: SimHost) -> list[pb.Snapshot]:
    host.flush()
    rows = host.spool.read(0, 1 << 30)
    out = []
    for row in rows:
        rec = pb.Record.FromString(row.body)
        assert rec.priority == pb.Priority.ValueType(int(Priority.NORMAL))
        assert rec.WhichOneof("body") == "snapshot"
        out.append(rec.snapshot)
    return out


def test_a_restamped_snapshot_decodes_as_the_snapshot_taken_then() -> None:
    snap = Snapshot(taken_at_ms=0, kernel_taint=4)
    body = restamp(_NORMAL_PREFIX, snapshot_pb(snap).SerializeToString(), START_MS)
    expected = encode_body(dataclasses.replace(snap, taken_at_ms=START_MS), Priority.NORMAL)
    assert pb.Record.FromString(body) == pb.Record.FromString(expected)


def run(tmp_path: Path, cycles: int) -> list[SimHost]:
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO)
    sc = load_scenario(path)
    hosts = make_hosts(sc, tmp_path / "spools", START_MS)

    async def go() -> None:
        with ThreadPoolExecutor(2) as pool:
            for c in range(cycles):
                for h in hosts:
                    await h.cycle(c * sc.interval_s, pool)

    asyncio.run(go())
    return hosts


def test_a_quiet_host_runs_its_probes_once_and_restamps_the_same_snapshot(tmp_path: Path) -> None:
    quiet, _ = run(tmp_path, 8)
    got = snapshots(quiet)
    assert quiet.collections == 1
    assert [s.taken_at_ms for s in got] == [START_MS + i * 60_000 for i in range(8)]
    for s in got[1:]:
        s.taken_at_ms = got[0].taken_at_ms
        assert s == got[0]
    first = got[0]
    assert first.inventory.hostname == "q-1"
    assert list(first.dns.servers) == ["10.9.0.53"]
    assert {c.server for c in first.dns_checks} == {"10.9.0.53"}
    default = next(r for r in first.routes if r.destination == "default")
    assert default.gateway == "10.9.0.1"
    iface = next(i for i in first.interfaces if i.name == default.interface)
    assert "10.9.0.10/24" in iface.addresses
    quiet.close()


def test_a_filling_volume_is_collected_each_cycle_it_changes(tmp_path: Path) -> None:
    _, filling = run(tmp_path, 9)
    used = [next(v.used_bytes for v in s.volumes if v.mount == "/home") for s in snapshots(filling)]
    # Quiet until 2 min, then 600 MB a minute (in 4 KiB blocks) until 6 min, then steady.
    steps = [b - a for a, b in zip(used, used[1:], strict=False)]
    block = 4096
    assert steps[:2] == [0, 0]
    assert all(abs(s - 600_000_000) < block for s in steps[2:5])
    assert steps[6:] == [0, 0]
    # One run before the fault, one per minute while it grows, one when it stops.
    assert filling.collections == 1 + 4 + 1
    growth = [v.growth_bytes_per_hour for s in snapshots(filling) for v in s.volumes
              if v.mount == "/home"]  # fmt: skip
    # Derived from the recent samples, as the agent does: nothing while quiet, then rising.
    assert growth[1] == 0
    assert 0 < growth[3] < growth[4] < growth[5] <= 36e9 * 1.01
    filling.close()
