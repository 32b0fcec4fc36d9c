"""`make bench`: run the benchmarks, print the figures, write bench-out/results.json.

    .venv/bin/python -m tests.bench [--only agent,cycle,wire,spool,rules,tickets,fleet,ingest,
                                           console]
                                    [--out DIR] [--postgres-url URL | --no-postgres] [--strict]

Each benchmark starts real processes (collector, agent, load client) on loopback and
cleans up after itself; the whole run takes about ten minutes (the fleet benchmark alone
five to six; the console's two to four more when its cached store must be seeded).
Besides results.json, DIR gets performance.md, the table for README's Performance
section. The machine is shared, so figures move with its load: the 1-minute
load average at the start is recorded with them.

Exit status: 0 when every benchmark ran (a figure that misses its target is reported,
not an error; with --strict it exits 1), 1 when a benchmark could not run.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.bench import (
    bench_agent,
    bench_console,
    bench_cycle,
    bench_fleet,
    bench_ingest,
    bench_rules,
    bench_spool,
    bench_tickets,
    bench_wire,
)
from tests.bench.report import (
    ROOT,
    BenchError,
    Outcome,
    Row,
    machine,
    markdown,
    section,
    table,
    write_json,
    write_text,
)

Bench = Callable[[argparse.Namespace], Outcome]
BENCHMARKS: dict[str, tuple[str, Bench]] = {
    "agent": ("Agent: steady RSS and CPU per collection cycle", lambda a: bench_agent.run()),
    "cycle": (
        "Agent: CPU and wall time of one full collection cycle, per probe",
        lambda a: bench_cycle.run(),
    ),
    "wire": ("Wire: bytes per snapshot, next to gzip'd JSON", lambda a: bench_wire.run()),
    "spool": ("Spool: durable append and drain", lambda a: bench_spool.run()),
    "rules": (
        "Rules: one condition, the whole pack per snapshot and event, history per host",
        lambda a: bench_rules.run(),
    ),
    "tickets": (
        "Tickets: the lifecycle at ingest, the report, delivery to Roundup and a webhook",
        lambda a: bench_tickets.run(),
    ),
    "fleet": (
        "Fleet scale: 1,000 simulated hosts x 24 h at 60 s against one collector",
        lambda a: bench_fleet.run(),
    ),
    "ingest": (
        "Collector ingest: snapshots/s, ack after commit, one process",
        lambda a: bench_ingest.run(None if a.no_postgres else a.postgres_url),
    ),
    "console": (
        "Console: every page and API list, 10,000 hosts and 50,000 tickets, server time",
        lambda a: bench_console.run(),
    ),
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.bench", description="rdiag benchmarks")
    p.add_argument(
        "--only", default=",".join(BENCHMARKS), help="comma-separated: " + ", ".join(BENCHMARKS)
    )
    p.add_argument("--out", type=Path, default=ROOT / "bench-out", help="folder for the results")
    p.add_argument("--postgres-url", default=bench_ingest.POSTGRES_URL, metavar="URL")
    p.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL ingest runs")
    p.add_argument("--strict", action="store_true", help="exit 1 when a figure misses its target")
    args = p.parse_args(argv)
    chosen = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in chosen if n not in BENCHMARKS]
    if unknown:
        p.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")

    m = machine()
    print(f"rdiag benchmarks: {', '.join(chosen)}\n{m.line()}", flush=True)
    rows: list[Row] = []
    details: dict[str, object] = {}
    broken = False
    t0 = time.monotonic()
    for name in chosen:
        title, bench = BENCHMARKS[name]
        print(f"\n-- {title} ...", flush=True)
        started = time.monotonic()
        try:
            outcome = bench(args)
        except (BenchError, RuntimeError) as exc:  # RuntimeError: a collector did not start
            broken = True
            outcome = Outcome(
                [Row(name, "did not run", None, "", status="error", note=str(exc))], {}
            )
        outcome.details["seconds"] = round(time.monotonic() - started, 1)
        rows += outcome.rows
        details[name] = outcome.details
        print(section(title, m, outcome), flush=True)
    write_json(args.out / "results.json", m, rows, details)
    write_text(args.out / "performance.md", markdown(m, rows))
    print(f"== Summary ({time.monotonic() - t0:.0f} s)\n{m.line()}\n{table(rows)}")
    print(f"\nwritten: {args.out / 'results.json'}, {args.out / 'performance.md'}")
    if broken:
        return 1
    return 1 if args.strict and any(r.status == "fail" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
