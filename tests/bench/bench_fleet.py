"""Fleet scale: 1,000 simulated hosts x 24 simulated hours at a 60 s interval, one collector.

A real `rdiag-collector serve` (SQLite, its defaults: WAL, synchronous=FULL; store.clock =
observed) takes the streams of `rdiag-agent simulate` (collector/sim), run as a separate
process: 1,000 hosts from three capture folders, every host's 1,440 cycles through its
own real spool and uplink over gRPC, a DNS outage on one site (one fleet incident) and a
few volumes filling (tickets of their own). The clock runs from the simulator's start
to its last ack (every snapshot committed). Reported: the wall time (target: under five
minutes), the collector's ingest rate, its peak memory (VmHWM) and CPU, the simulator's
peak spool backlog and CPU, and the verify step's verdict on the tickets that resulted.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from tests.bench.report import ROOT, BenchError, Outcome, Row, child_env, judged, stop_process
from tests.helpers.procs import BIN, start_collector

NAME = "fleet"
HOSTS_DIR = ROOT / "tests" / "fixtures" / "hosts"
TARGET_S = 300.0


def _capture(*names: str) -> Path:
    for name in names:
        if (HOSTS_DIR / name).is_dir():
            return HOSTS_DIR / name
    raise BenchError(f"none of the captures {names} is in {HOSTS_DIR}")


def scenario_text(hosts: int = 1000, hours: int = 24) -> str:
    linux = _capture("sim-linux-healthy")
    windows = _capture("sim-windows11-healthy", "sim-linux-healthy")
    macos = _capture("sim-macos14-healthy", "sim-linux-healthy")
    site_a = hosts // 10
    office = hosts * 6 // 10 - site_a
    win = hosts * 3 // 10
    mac = hosts - site_a - office - win
    return f"""
name: fleet-scale
description: {hosts} hosts for {hours} h at 60 s, a site's DNS outage and a few filling volumes.
duration: {hours}h
interval: 60s
collector:
  rules:
    sites: ["site-a=10.1.0.0/16", "office=10.2.0.0/16", "win=10.3.0.0/16", "mac=10.4.0.0/16"]
fleet:
  - {{profile: site-a, count: {site_a}, capture: "{linux}", hostname: "a-{{n:04}}",
      subnet: 10.1.0.0/20, dns_servers: [10.1.0.53]}}
  - {{profile: office, count: {office}, capture: "{linux}", hostname: "o-{{n:04}}",
      subnet: 10.2.0.0/20, dns_servers: [10.2.0.53]}}
  - {{profile: win, count: {win}, capture: "{windows}", hostname: "w-{{n:04}}",
      subnet: 10.3.0.0/20, dns_servers: [10.3.0.53]}}
  - {{profile: mac, count: {mac}, capture: "{macos}", hostname: "m-{{n:04}}",
      subnet: 10.4.0.0/20, dns_servers: [10.4.0.53]}}
faults:
  - {{kind: dns_server_down, hosts: site-a, start: 4h, end: 6h, server: 10.1.0.53}}
  - {{kind: volume_fill, hosts: "office[0:3]", start: 2h, end: 10h, mount: /home, rate: 2GB/h}}
expect:
  only: false
  tickets:
    - {{rule: cross.fleet_dns_outage, kind: fleet}}
  incidents:
    - {{rule: cross.fleet_dns_outage, group: 10.1.0.53, hosts: site-a}}
"""


def VERIFY(db: Path) -> list[str]:
    import importlib.util

    if importlib.util.find_spec("collector.sim.verify") is None:
        return []
    return ["--verify-store", f"sqlite:///{db}"]


def _hwm_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _family(proc: psutil.Process) -> list[psutil.Process]:
    """The collector and its evaluation workers (ingest.workers)."""
    return [proc, *proc.children(recursive=True)]


def _cpu_s(procs: list[psutil.Process], system_only: bool = False) -> float:
    """User + system CPU seconds of these processes (system alone: the kernel's share,
    which is where wake-ups between threads and processes show)."""
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.system if system_only else t.user + t.system
    return total


# One evaluation worker per CPU (ingest.workers = -1): how a collector for a fleet this size
# is configured (README, Configuration). The collector's default, 0, evaluates in process.
FLEET_WORKERS = -1


def run(hosts: int = 1000, hours: int = 24, workers: int | None = FLEET_WORKERS) -> Outcome:
    with tempfile.TemporaryDirectory(prefix="rdiag-bench-fleet-") as tmp:
        root = Path(tmp)
        scenario = root / "fleet.yaml"
        scenario.write_text(scenario_text(hosts, hours))
        config = subprocess.run(
            [str(BIN / "rdiag-agent"), "simulate", str(scenario), "--print-collector-config"],
            capture_output=True, text=True, env=child_env(), check=False,
        )  # fmt: skip
        if config.returncode != 0:
            raise BenchError(f"scenario rejected: {config.stderr.strip()}")
        db = root / "collector.db"
        settings = config.stdout
        if workers is not None:  # None: the collector's default
            settings += f"\n[ingest]\nworkers = {workers}\n"
        collector = start_collector(db, root / "collector.log", config=settings)
        try:
            proc = psutil.Process(collector.proc.pid)
            family = _family(proc)
            cpu0, sys0 = _cpu_s(family), _cpu_s(family, system_only=True)
            main0 = _cpu_s([proc])
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.monotonic()
            sim = subprocess.Popen(
                [str(BIN / "rdiag-agent"), "simulate", str(scenario), "--collector",
                 collector.address, "--insecure", "--json", "--no-progress",
                 "--state-dir", str(root / "spools")] + VERIFY(db),
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env(),
                cwd=ROOT,
            )  # fmt: skip
            out, err = sim.communicate(timeout=3600)
            wall = time.monotonic() - started
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            sim_cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
            family = _family(proc)  # a worker that was replaced is not counted
            collector_cpu = _cpu_s(family) - cpu0
            collector_sys = _cpu_s(family, system_only=True) - sys0
            sim_sys = after.ru_stime - before.ru_stime
            main_cpu = _cpu_s([proc]) - main0
            hwm = sum(_hwm_mib(p.pid) for p in family)
            workers = len(family) - 1
        finally:
            stop_process(collector.proc)
        lines = out.strip().splitlines()
        try:
            figures = json.loads(lines[0])
        except (IndexError, ValueError):
            raise BenchError(
                f"simulator failed (exit {sim.returncode}): {err.strip()[-2000:]}"
            ) from None
        verified = sim.returncode == 0
    snapshots = int(figures["snapshots"])
    rows: list[Row] = [
        judged(
            NAME,
            f"{hosts:,} hosts x {hours} h at 60 s ({snapshots:,} snapshots): wall time",
            wall,
            "s",
            at_most=TARGET_S,
        ),  # fmt: skip
        Row(NAME, "collector ingest rate over the run", snapshots / wall, "snapshots/s"),
        Row(
            NAME,
            f"collector CPU over the run (main + {workers} evaluation workers)",
            collector_cpu,
            "s",
            note=(f"main {main_cpu:.0f} s, " if workers else "") + f"system {collector_sys:.0f} s",
        ),  # fmt: skip
        Row(NAME, "collector peak memory (VmHWM, main + workers summed)", hwm, "MiB"),
        Row(
            NAME,
            "simulator CPU over the run (all hosts, one process)",
            sim_cpu,
            "s",
            note=f"system {sim_sys:.0f} s",
        ),  # fmt: skip
        Row(
            NAME,
            "agents' peak spool backlog, fleet-wide",
            figures["peak_backlog_records"],
            "records",
            note=f"{figures['peak_backlog_bytes'] / 1e6:.0f} MB",
        ),  # fmt: skip
        Row(NAME, "probe runs (the other cycles re-stamped)", figures["collections"], ""),
        Row(
            NAME,
            "verify: expected tickets and incidents",
            1.0 if verified else 0.0,
            "",
            "1 (passed)",
            "pass" if verified else "fail",
            note="\n".join(lines[1:])[-300:],
        ),  # fmt: skip
    ]
    details: dict[str, object] = {
        "figures": figures, "wall_s": wall, "collector_cpu_s": collector_cpu,
        "main_cpu_s": main_cpu, "sim_cpu_s": sim_cpu,
        "collector_system_s": collector_sys, "sim_system_s": sim_sys,
        "collector_hwm_mib": hwm, "verify_exit": sim.returncode, "verify_output": out[-4000:],
    }  # fmt: skip
    return Outcome(rows, details)


if __name__ == "__main__":
    hosts = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    hours = int(sys.argv[2]) if len(sys.argv) > 2 else 24
    workers = int(sys.argv[3]) if len(sys.argv) > 3 else FLEET_WORKERS
    outcome = run(hosts, hours, workers)
    from tests.bench.report import table

    print(table(outcome.rows))
