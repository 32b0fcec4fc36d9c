"""CPU and wall time of a full collection cycle on this host, per probe.

In a fresh child process (so nothing else of the benchmark run is counted), every probe
runs against LiveSource the way the agent runs them (agent.runner.collect: 4 worker
threads, per-probe timeouts), then the derive and redaction stages and the protobuf
encoding the spool stores. One warm-up cycle comes first: it holds the one-time CPU
inventory (py-cpuinfo runs a child Python for about a second), which the target excludes.

CPU per cycle is the process's user+system time plus that of every command it ran
(ip, lsblk, smartctl, ping ...: getrusage(RUSAGE_CHILDREN)), divided by the cycles: what
the host pays. Per probe: the median thread CPU and wall time of its own collect() (the
commands' CPU is in the cycle total, not in the thread's).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

from tests.bench.report import BenchError, Outcome, Row, child_env, judged

NAME = "cycle"
CYCLES = 20
CPU_TARGET_MS = 50.0

CHILD = r"""
import asyncio, json, resource, sys, time
import agent
from agent.derive import Deriver
from agent.probes import PROBES
from agent.probes.base import ProbeContext
from agent.redact import Redactor
from agent.runner import collect
from agent.sources import CachingSource, LiveSource
from agent.uplink.convert import encode_body
from agent.records import Priority

cycles = int(sys.argv[1])
source = CachingSource(LiveSource())  # as the agent runs it
context = ProbeContext(dns_names=("localhost.",), dns_timeout=1.0)
deriver, redactor = Deriver(), Redactor()

def now_ms():
    return int(time.time() * 1000)

async def one():
    got = await collect(source, PROBES, timeout_s=20, clock_ms=now_ms,
                        agent_version=agent.__version__, context=context)
    snap = redactor.record(deriver.apply(got.snapshot))
    body = encode_body(snap, Priority.NORMAL)
    return snap, len(body)

def cpu():
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime

async def main():
    t0 = time.perf_counter(); c0 = cpu()
    await one()  # warm-up: the one-time CPU inventory (py-cpuinfo) happens here
    warm = {"wall_s": time.perf_counter() - t0, "cpu_s": sum(cpu()) - sum(c0)}
    per_probe = {}
    sizes = []
    errors = set()
    s0, k0 = cpu(); t0 = time.perf_counter()
    for _ in range(cycles):
        snap, size = await one()
        sizes.append(size)
        for t in snap.timings:
            per_probe.setdefault(t.probe, []).append((t.wall_seconds, t.cpu_seconds))
        errors |= {f"{e.probe}: {e.kind}: {e.message}"[:160] for e in snap.errors}
    s1, k1 = cpu(); wall = time.perf_counter() - t0
    print(json.dumps({
        "warmup": warm, "cycles": cycles, "wall_s": wall,
        "self_cpu_s": s1 - s0, "children_cpu_s": k1 - k0,
        "per_probe": per_probe, "snapshot_bytes": sizes[-1], "errors": sorted(errors),
    }))

asyncio.run(main())
"""


def run() -> Outcome:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(CYCLES)],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        raise BenchError(f"cycle child failed ({proc.returncode}): {proc.stderr[-500:]}")
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    cycles = data["cycles"]
    self_ms = data["self_cpu_s"] / cycles * 1000
    kids_ms = data["children_cpu_s"] / cycles * 1000
    rows = [
        judged(
            NAME,
            "full cycle CPU (agent + the commands it ran)",
            self_ms + kids_ms,
            "ms",
            at_most=CPU_TARGET_MS,
            note=f"mean over {cycles} cycles after warm-up: agent {self_ms:.1f} ms + "
            f"commands {kids_ms:.1f} ms; excludes the one-time CPU inventory",
        ),
        Row(NAME, "full cycle wall time", data["wall_s"] / cycles * 1000, "ms",
            note="probes run concurrently in 4 threads"),
        Row(NAME, "first cycle (with one-time CPU inventory) CPU", data["warmup"]["cpu_s"] * 1000,
            "ms", note=f"wall {data['warmup']['wall_s'] * 1000:.0f} ms"),
    ]  # fmt: skip
    for probe, samples in sorted(data["per_probe"].items()):
        wall = statistics.median(s[0] for s in samples) * 1000
        cpu = statistics.median(s[1] for s in samples) * 1000
        rows.append(
            Row(NAME, f"probe {probe}: thread CPU / wall", cpu, "ms", note=f"wall {wall:.1f} ms")
        )
    rows.append(Row(NAME, "snapshot size (protobuf, before zstd)", data["snapshot_bytes"], "B"))
    text = "errors and unavailable facts on this host:\n" + "\n".join(
        f"  {e}" for e in data["errors"]
    )
    return Outcome(rows, data, text)
