"""Agent steady-state RSS and CPU per collection cycle, on this host, with a real collector.

A real `rdiag-agent run --insecure --collector ADDR --interval 1s --state-dir TMP` reads
this machine (LiveSource) and streams to a real collector (SQLite) whose Welcome also
says 1 s (agents.interval; it overrides the agent's flag). Cycles are counted by the
snapshots that arrive in the collector's store; between cycle WARMUP_CYCLES and
END_CYCLES the agent's RSS is sampled (psutil memory_info().rss, max over the window)
and its CPU time (user + system, cpu_times()) is divided by the cycles in the window.
USS and PSS at the end of the window are noted too: RSS counts every shared library
page (grpc's alone is ~12 MiB) in full.

For reference, the same sampling is applied to processes that only import things, so
the table shows what the agent's own code and work add:
  * the import floor the issue names: psutil, grpc, google.protobuf, zstandard, cpuinfo;
  * + the protobuf runtime really loaded (upb) and rdiag's generated *_pb2 modules
    (`import google.protobuf` alone loads no C code);
  * + every module the agent's run path imports (agent.cli, agent.service), no work done;
  * the floor + one connected grpc.aio channel, with grpc's default DNS resolver (c-ares)
    and with GRPC_DNS_RESOLVER=native: the difference is what the resolver costs.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from tests.bench.report import (
    BIN,
    MIB,
    BenchError,
    Outcome,
    Row,
    child_env,
    judged,
    stop_process,
    wait_until,
)
from tests.helpers.procs import start_collector

NAME = "agent"
RSS_TARGET_MIB = 45.0
WARMUP_CYCLES = 10
END_CYCLES = 30
SAMPLE_EVERY_S = 0.2
FLOOR_WINDOW_S = 3.0

FLOOR_IMPORTS = "import psutil, grpc, google.protobuf, zstandard, cpuinfo"
FLOORS = (
    ("import floor: psutil, grpc, google.protobuf, zstandard, cpuinfo", FLOOR_IMPORTS),
    (
        "floor + protobuf runtime (upb) + rdiag *_pb2",
        FLOOR_IMPORTS + "; from rdiag_proto.v1 import collector_pb2, collector_pb2_grpc",
    ),
    (
        "floor + all agent run-path modules, idle",
        FLOOR_IMPORTS + "; import agent.cli, agent.service",
    ),
)

# The import floor plus one connected grpc.aio channel, the way the uplink opens it: how
# much the channel itself costs, with grpc's default DNS resolver (c-ares) and with the
# native one (getaddrinfo), which the agent could choose (GRPC_DNS_RESOLVER=native).
CHANNEL = (
    FLOOR_IMPORTS
    + """
import asyncio, grpc.aio
async def connect():
    channel = grpc.aio.insecure_channel(ADDRESS)
    await asyncio.wait_for(channel.channel_ready(), 30)
    return channel
loop = asyncio.new_event_loop()
channel = loop.run_until_complete(connect())
"""
)
CHANNEL_VARIANTS: tuple[tuple[str, dict[str, str]], ...] = (
    ("floor + 1 connected grpc.aio channel (default c-ares resolver)", {}),
    ("floor + 1 connected grpc.aio channel (GRPC_DNS_RESOLVER=native)",
     {"GRPC_DNS_RESOLVER": "native"}),
)  # fmt: skip

# The collector tells every agent its interval in Welcome; 1 s so 30 cycles take 30 s.
COLLECTOR_CONFIG = '[agents]\ninterval = "1s"\n'


@dataclass(frozen=True)
class Window:
    cycles: int
    seconds: float
    rss_max: int
    rss_first: int
    rss_last: int
    cpu_seconds: float
    children_cpu_seconds: float
    threads: int
    uss: int  # memory only this process has (at the end of the window)
    pss: int  # shared pages divided among the processes that map them


def _cpu(p: psutil.Process) -> tuple[float, float]:
    t = p.cpu_times()
    return t.user + t.system, t.children_user + t.children_system


def _snapshots(db: Path) -> int:
    if not db.exists():
        return 0
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        row = con.execute("SELECT count(*) FROM telemetry WHERE kind = 'snapshot'").fetchone()
        return int(row[0])
    except sqlite3.OperationalError:  # not migrated yet
        return 0
    finally:
        con.close()


def _tail(workdir: Path) -> str:
    lines = (workdir / "agent.log").read_text(errors="replace").strip().splitlines()
    return " | ".join(lines[-3:]) or "(no log output)"


def measure_agent(workdir: Path, address: str, db: Path) -> Window:
    """Run the real agent against the collector at address (store: db); sample it."""
    argv = [
        str(BIN / "rdiag-agent"),
        "run",
        "--insecure",
        "--collector",
        address,
        "--interval",
        "1s",
        "--state-dir",
        str(workdir / "agent-state"),
    ]
    env = child_env()
    with open(workdir / "agent.log", "w") as log:
        agent = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        proc = psutil.Process(agent.pid)

        def alive_and_at(n: int) -> bool:
            if agent.poll() is not None:
                raise BenchError(f"agent exited with {agent.returncode}: {_tail(workdir)}")
            return _snapshots(db) >= n

        wait_until(f"cycle {WARMUP_CYCLES} of the agent", lambda: alive_and_at(WARMUP_CYCLES), 90)
        first = _snapshots(db)
        t0 = time.monotonic()
        cpu0, child0 = _cpu(proc)
        rss_first = proc.memory_info().rss
        rss_max = rss_first
        rss_last = rss_first
        deadline = t0 + 3 * (END_CYCLES - WARMUP_CYCLES) + 30
        seen = first
        while seen < END_CYCLES:
            if time.monotonic() > deadline or agent.poll() is not None:
                raise BenchError(f"agent stalled at cycle {seen}: {_tail(workdir)}")
            time.sleep(SAMPLE_EVERY_S)
            rss_last = proc.memory_info().rss
            rss_max = max(rss_max, rss_last)
            seen = _snapshots(db)
        cpu1, child1 = _cpu(proc)
        threads = proc.num_threads()
        full = proc.memory_full_info()
        seconds = time.monotonic() - t0
    finally:
        stop_process(agent)
    return Window(
        cycles=seen - first,
        seconds=seconds,
        rss_max=rss_max,
        rss_first=rss_first,
        rss_last=rss_last,
        cpu_seconds=cpu1 - cpu0,
        children_cpu_seconds=child1 - child0,
        threads=threads,
        uss=full.uss,
        pss=full.pss,
    )


def measure_floor(code: str, **env: str) -> int:
    """Max RSS of a process that only runs code, sampled like the agent for a few seconds."""
    script = f"{code}\nimport sys, time\nprint('ready', flush=True)\nsys.stdin.readline()\n"
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=child_env(**env),
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        if proc.stdout.readline().strip() != "ready":
            raise BenchError(f"reference process failed: {code}")
        p = psutil.Process(proc.pid)
        rss = 0
        end = time.monotonic() + FLOOR_WINDOW_S
        while time.monotonic() < end:
            rss = max(rss, p.memory_info().rss)
            time.sleep(SAMPLE_EVERY_S)
        proc.stdin.write("\n")
        proc.stdin.flush()
        proc.wait(10)
    finally:
        proc.stdin.close()
        proc.stdout.close()
        stop_process(proc)
    return rss


def run() -> Outcome:
    floors = [(label, measure_floor(code)) for label, code in FLOORS]
    with tempfile.TemporaryDirectory(prefix="rdiag-bench-agent-") as tmp:
        workdir = Path(tmp)
        db = workdir / "collector.db"
        log = workdir / "collector.log"
        with start_collector(f"sqlite:///{db}", log, config=COLLECTOR_CONFIG) as col:
            w = measure_agent(workdir, col.address, db)
            code = CHANNEL.replace("ADDRESS", repr(col.address))
            for label, env in CHANNEL_VARIANTS:
                floors.append((label, measure_floor(code, **env)))
    floor = floors[0][1]
    rows = [
        judged(
            NAME,
            "agent steady RSS (max, cycles 10-30)",
            w.rss_max / MIB,
            "MiB",
            at_most=RSS_TARGET_MIB,
            note=f"{(w.rss_max - floor) / MIB:.1f} MiB above the import floor; "
            f"RSS {w.rss_first / MIB:.1f} -> {w.rss_last / MIB:.1f} MiB over the window; "
            f"{w.threads} threads; USS {w.uss / MIB:.1f} MiB, PSS {w.pss / MIB:.1f} MiB",
        ),
        Row(
            NAME,
            "agent CPU per collection cycle",
            1000 * w.cpu_seconds / max(w.cycles, 1),
            "ms",
            note=f"{w.cycles} cycles in {w.seconds:.1f} s; user+system of the agent process"
            + (
                f"; children {1000 * w.children_cpu_seconds / max(w.cycles, 1):.1f} ms/cycle"
                if w.children_cpu_seconds
                else ""
            ),
        ),
    ]
    rows += [Row(NAME, label, rss / MIB, "MiB", note="reference") for label, rss in floors]
    details: dict[str, object] = {
        "window": w.__dict__,
        "floors_bytes": {label: rss for label, rss in floors},
    }
    return Outcome(rows, details)
