"""`rdiag-agent simulate SCENARIO --collector ADDR`: run a scenario's simulated fleet.

    rdiag-agent simulate tests/scenarios/healthy-fleet.yaml --collector 127.0.0.1:7443 --insecure \
        [--state-dir DIR] [--start 2026-01-05T08:00:00Z] [--verify-store URL [--junit FILE]]

The collector must run with the scenario's collector settings (`--print-collector-config`
prints them: store.clock = observed, and sites where the scenario needs them). With
--verify-store (the collector's database URL) the run ends with the verify step
(`rdiag-collector verify`): the table of expected against actual tickets, JUnit XML with
--junit, exit status 1 when anything differs. Without it the exit status says whether
the whole simulated run was delivered.

Exit status: 0 done (and verified), 1 verify found differences, 2 bad scenario or
arguments, 3 the run could not complete (the collector went away).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import TextIO

from agent.config import CollectorSection
from collector.sim.run import Progress, RunResult, SimulationError, simulate
from collector.sim.scenario import ScenarioError, load_scenario

PROG = "rdiag-agent simulate"
BAR = 30


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="run a scenario's simulated fleet")
    p.add_argument("scenario", type=Path, help="scenario file (YAML)")
    p.add_argument("--collector", metavar="HOST:PORT", help="collector address")
    p.add_argument("--insecure", action="store_true", help="plaintext gRPC (loopback, CI)")
    p.add_argument("--ca-cert", type=Path, help="trust this CA for the collector's certificate")
    p.add_argument("--server-name", default="", help="TLS name override (address is an IP)")
    p.add_argument("--state-dir", type=Path, help="the hosts' spools (default: a temporary folder)")
    p.add_argument(
        "--start", help="simulated start time, ISO 8601 (default: the scenario's, or now)"
    )
    p.add_argument("--verify-store", metavar="URL", help="verify against this collector database")
    p.add_argument("--junit", type=Path, help="with --verify-store: write JUnit XML here")
    p.add_argument("--json", action="store_true", help="print the run's figures as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--print-collector-config",
        action="store_true",
        help="print the collector settings (TOML) the scenario needs, and exit",
    )
    return p


class ProgressBar:
    """A bar on a terminal; a line every tenth of the run otherwise (CI logs)."""

    def __init__(self, out: TextIO, hours: float) -> None:
        self.out = out
        self.tty = out.isatty()
        self.hours = hours
        self._shown = -1

    def __call__(self, p: Progress) -> None:
        share = p.cycle / p.cycles if p.cycles else 1.0
        rate = p.acked_snapshots / p.elapsed_s if p.elapsed_s else 0.0
        text = (
            f"{share * 100:3.0f}% {share * self.hours:.1f}/{self.hours:g} h simulated, "
            f"{p.acked_snapshots:,} snapshots acked ({rate:,.0f}/s), {p.elapsed_s:.0f} s"
        )
        if self.tty:
            filled = int(share * BAR)
            self.out.write(f"\r[{'#' * filled}{'.' * (BAR - filled)}] {text}")
            if p.cycle >= p.cycles:
                self.out.write("\n")
        elif int(share * 10) > self._shown:
            self._shown = int(share * 10)
            self.out.write(text + "\n")
        self.out.flush()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    if args.print_collector_config:
        print(scenario.collector_toml(), end="")
        return 0
    if not args.collector:
        print(f"{PROG}: --collector HOST:PORT is required", file=sys.stderr)
        return 2
    start_ms = None
    if args.start:
        try:
            when = datetime.fromisoformat(args.start)
        except ValueError:
            print(
                f"{PROG}: --start: expected an ISO 8601 time, got {args.start!r}", file=sys.stderr
            )
            return 2
        if when.tzinfo is None:
            print(f"{PROG}: --start: expected a time zone (…Z or +01:00)", file=sys.stderr)
            return 2
        start_ms = int(when.timestamp() * 1000)
    cfg = CollectorSection(
        address=args.collector,
        insecure=args.insecure,
        ca_cert=args.ca_cert,
        server_name=args.server_name,
    )
    problem = cfg.validate()
    if problem is not None:
        print(f"{PROG}: --collector: {problem[1]}", file=sys.stderr)
        return 2
    bar = None if args.no_progress else ProgressBar(sys.stderr, scenario.duration_s / 3600)
    try:
        with tempfile.TemporaryDirectory(prefix="rdiag-sim-") as tmp:
            state = args.state_dir or Path(tmp)
            result = asyncio.run(simulate(scenario, cfg, state, start_ms=start_ms, progress=bar))
    except SimulationError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        return 130
    print(_summary(scenario.name, result) if not args.json else json.dumps(_figures(result)))
    if args.verify_store:
        from collector.sim.verify import verify_command

        return verify_command(scenario, args.verify_store, junit=args.junit)
    return 0


def _figures(r: RunResult) -> dict[str, float | int]:
    return {
        "hosts": r.hosts,
        "cycles": r.cycles,
        "snapshots": r.snapshots,
        "events": r.events,
        "collections": r.collections,
        "wall_s": round(r.wall_s, 3),
        "snapshots_per_s": round(r.rate, 1),
        "peak_backlog_records": r.peak_backlog_records,
        "peak_backlog_bytes": r.peak_backlog_bytes,
        "start_ms": r.start_ms,
    }


def _summary(name: str, r: RunResult) -> str:
    return (
        f"{name}: {r.hosts} hosts x {r.cycles} cycles = {r.snapshots:,} snapshots and "
        f"{r.events:,} events delivered in {r.wall_s:.1f} s ({r.rate:,.0f} snapshots/s); "
        f"probes ran {r.collections:,} times, the rest re-stamped; peak backlog "
        f"{r.peak_backlog_records:,} records ({r.peak_backlog_bytes / 1e6:.1f} MB)"
    )
