"""Collector ingest rate: snapshots per second with ack-after-commit, one collector process.

A real `rdiag-collector serve` (SQLite with its defaults: WAL, synchronous=FULL; then
PostgreSQL) takes N concurrent agent streams from tests/bench/ingest_client.py, a separate
process that speaks the protocol exactly as the agent's uplink does (Hello, then zstd
Batches built by the agent's own encoders, at most 4 unacked per stream). The clock runs
from the first Batch sent to the last Ack received; acks are sent only after the commit,
so every snapshot counted is committed. Afterwards the store is checked: every record is
there exactly once and the tickets hold every finding.

Each snapshot is a workstation's: inventory plus three volumes; every tenth has /data at
97 %, which the volume rule turns into a ticket (opened once per host, then updated).

Three load shapes:
  * steady: many agents each sending one cycle per batch (a snapshot and the agent's
    stats record), as a fleet does in normal operation: many small batches;
  * backlog: agents draining a spool after an outage: 50 snapshots per batch;
  * realistic: the backlog shape with the snapshots real hosts send, made by the agent's
    probes over the capture folders (tests/fixtures/hosts: sim-linux-healthy, one host in
    ten sim-linux-laptop-faults or sim-windows11-laptop), what moves between cycles
    moving (ingest_client.py --realistic): what the rule pack and the ticket lifecycle
    cost at ingest, not three volumes. Checked: every record stored once, and the faulty
    hosts' findings made tickets.
"""

from __future__ import annotations

import functools
import json
import secrets
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

from tests.bench.report import (
    ROOT,
    BenchError,
    Outcome,
    Row,
    child_env,
    judged,
    stop_process,
)
from tests.helpers.procs import start_collector

NAME = "ingest"
TARGET = 2000.0  # snapshots/s, one collector process, this 2-core machine
POSTGRES_URL = "postgresql+psycopg://root@127.0.0.1:5432/test"
TICKET_EVERY = 10


@dataclass(frozen=True)
class Scenario:
    key: str
    label: str
    streams: int
    batches: int  # per stream
    per_batch: int  # snapshots per batch
    with_stats: bool
    in_flight: int = 4
    realistic: bool = False  # snapshots from the capture folders (ingest_client --realistic)

    @property
    def snapshots(self) -> int:
        return self.streams * self.batches * self.per_batch

    @property
    def records(self) -> int:
        return self.streams * self.batches * (self.per_batch + int(self.with_stats))


SCENARIOS = (
    Scenario("steady", "16 agents, 1 snapshot + stats per batch", 16, 1500, 1, True),
    Scenario("backlog", "8 agents, 50 snapshots per batch", 8, 200, 50, False),
    Scenario(
        "realistic",
        "40 agents, 50 probe-made snapshots per batch, 1 in 10 faulty",
        40,
        10,
        50,
        False,
        realistic=True,
    ),
)
FAULTY_EVERY = 10  # realistic: every tenth host is a faulty capture


@dataclass(frozen=True)
class Run:
    scenario: Scenario
    backend: str
    seconds: float
    snapshots: int
    batches: int
    wire_bytes: int
    collector_cpu: float
    client_cpu: float
    stored_records: int
    tickets: int
    occurrences: int

    @property
    def rate(self) -> float:
        return self.snapshots / self.seconds


Counter = Callable[[], tuple[int, int, int]]  # (telemetry rows, tickets, sum of occurrences)


def drive(address: str, collector_pid: int, sc: Scenario, prefix: str) -> dict[str, object]:
    argv = [
        sys.executable,
        "-m",
        "tests.bench.ingest_client",
        "--collector",
        address,
        "--streams",
        str(sc.streams),
        "--batches",
        str(sc.batches),
        "--snapshots-per-batch",
        str(sc.per_batch),
        "--in-flight",
        str(sc.in_flight),
        "--ticket-every",
        str(TICKET_EVERY),
        "--agent-prefix",
        prefix,
        *(["--with-stats"] if sc.with_stats else []),
        *(["--realistic", "--faulty-every", str(FAULTY_EVERY)] if sc.realistic else []),
    ]
    client = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=child_env(), cwd=ROOT
    )
    assert client.stdin is not None and client.stdout is not None
    try:
        ready = client.stdout.readline()
        if not ready.startswith('{"ready"'):
            raise BenchError(f"ingest client did not connect (exit {client.wait(30)})")
        collector = psutil.Process(collector_pid)
        t = collector.cpu_times()
        cpu0 = t.user + t.system
        client.stdin.write("go\n")
        client.stdin.flush()
        line = client.stdout.readline()
        t = collector.cpu_times()
        cpu1 = t.user + t.system
        if not line.startswith('{"result"'):
            raise BenchError(f"ingest client failed (exit {client.wait(30)})")
        result: dict[str, object] = json.loads(line)["result"]
        client.wait(30)
    finally:
        client.stdin.close()
        client.stdout.close()
        stop_process(client)
    result["collector_cpu"] = cpu1 - cpu0
    return result


def run_one(sc: Scenario, backend: str, store_url: str, log: Path, count: Counter) -> Run:
    prefix = f"{sc.key}-{secrets.token_hex(3)}"
    with start_collector(store_url, log) as col:
        res = drive(col.address, col.pid, sc, prefix)
    errors = res["errors"]
    if errors:
        raise BenchError(f"{backend} {sc.key}: streams failed: {errors}")
    if res["acked"] != res["expected"]:
        raise BenchError(f"{backend} {sc.key}: not every stream was acked to its last seq")
    stored, tickets, occurrences = count()
    if stored != sc.records:
        raise BenchError(f"{backend} {sc.key}: {stored} records stored, {sc.records} sent")
    findings = sc.snapshots // TICKET_EVERY
    if sc.realistic:
        if tickets == 0:  # the faulty captures' findings are tickets
            raise BenchError(f"{backend} {sc.key}: the faulty hosts made no ticket")
    elif tickets != sc.streams or occurrences != findings:
        raise BenchError(
            f"{backend} {sc.key}: {tickets} tickets with {occurrences} occurrences, "
            f"expected {sc.streams} with {findings}"
        )
    first, last = float(str(res["first_send"])), float(str(res["last_ack"]))
    return Run(
        scenario=sc,
        backend=backend,
        seconds=last - first,
        snapshots=int(str(res["snapshots"])),
        batches=int(str(res["batches"])),
        wire_bytes=int(str(res["wire_bytes"])),
        collector_cpu=float(str(res["collector_cpu"])),
        client_cpu=float(str(res["cpu_seconds"])),
        stored_records=stored,
        tickets=tickets,
        occurrences=occurrences,
    )


def sqlite_counter(db: Path) -> Counter:
    def count() -> tuple[int, int, int]:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            (stored,) = con.execute("SELECT count(*) FROM telemetry").fetchone()
            tickets, occ = con.execute("SELECT count(*), sum(occurrences) FROM tickets").fetchone()
        finally:
            con.close()
        return int(stored), int(tickets), int(occ or 0)

    return count


@contextmanager
def postgres_schema(url: str) -> Iterator[tuple[str, Counter]]:
    """A fresh schema in the database at url, dropped afterwards; yields the store URL."""
    import psycopg
    from sqlalchemy import make_url

    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    schema = f"rdiag_bench_{secrets.token_hex(4)}"
    with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            sep = "&" if "?" in url else "?"
            store_url = f"{url}{sep}options=-csearch_path%3D{schema}"

            def count() -> tuple[int, int, int]:
                row = admin.execute(
                    f'SELECT (SELECT count(*) FROM "{schema}".telemetry), count(*), '
                    f'coalesce(sum(occurrences), 0) FROM "{schema}".tickets'
                ).fetchone()
                assert row is not None
                return int(row[0]), int(row[1]), int(row[2])

            yield store_url, count
        finally:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


def postgres_unreachable(url: str) -> str | None:
    """None when a connection to url works, else why not (one line)."""
    import psycopg
    from sqlalchemy import make_url

    parsed = make_url(url)
    shown = parsed.render_as_string(hide_password=True)
    conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        with psycopg.connect(conninfo, connect_timeout=5):
            return None
    except psycopg.Error as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return f"PostgreSQL not reachable at {shown}: {first}"


def row_of(o: Run) -> Row:
    sc = o.scenario
    name = f"{o.backend}, {sc.key}: {sc.label}"
    note = (
        f"{o.snapshots:,} snapshots in {o.batches:,} batches, {o.seconds:.2f} s; "
        f"{o.batches / o.seconds:,.0f} batches/s; collector CPU "
        f"{1e6 * o.collector_cpu / o.snapshots:.0f} us/snapshot "
        f"({100 * o.collector_cpu / o.seconds:.0f}% of a core); client CPU "
        f"{100 * o.client_cpu / o.seconds:.0f}% of a core; verified {o.stored_records:,} "
        f"records, {o.tickets} tickets x {o.occurrences // max(o.tickets, 1)} occurrences"
        + (" (on average)" if sc.realistic else "")
    )
    if o.backend == "sqlite":
        return judged(NAME, name, o.rate, "snap/s", at_least=TARGET, note=note)
    return Row(NAME, name, o.rate, "snap/s", note=note)


def on_sqlite(sc: Scenario, tmp: Path) -> Run:
    db = tmp / f"{sc.key}.db"
    return run_one(sc, "sqlite", f"sqlite:///{db}", tmp / f"{sc.key}.log", sqlite_counter(db))


def on_postgres(sc: Scenario, tmp: Path, postgres_url: str) -> Run:
    import psycopg

    try:
        with postgres_schema(postgres_url) as (url, count):
            return run_one(sc, "postgresql", url, tmp / f"pg-{sc.key}.log", count)
    except psycopg.Error as exc:
        raise BenchError(f"PostgreSQL: {str(exc).strip().splitlines()[0]}") from None


def run(postgres_url: str | None) -> Outcome:
    outcomes: list[Run] = []
    rows: list[Row] = []

    def attempt(sc: Scenario, backend: str, go: Callable[[], Run]) -> None:
        try:
            o = go()
        except BenchError as exc:  # one broken run must not hide the others' figures
            name = f"{backend}, {sc.key}: {sc.label}"
            rows.append(Row(NAME, name, None, "snap/s", status="error", note=str(exc)))
            return
        outcomes.append(o)
        rows.append(row_of(o))

    with tempfile.TemporaryDirectory(prefix="rdiag-bench-ingest-") as name:
        tmp = Path(name)
        for sc in SCENARIOS:
            attempt(sc, "sqlite", functools.partial(on_sqlite, sc, tmp))
        if postgres_url is None:
            rows.append(
                Row(NAME, "postgresql", None, "snap/s", status="skip", note="--no-postgres")
            )
        elif (why := postgres_unreachable(postgres_url)) is not None:
            rows.append(Row(NAME, "postgresql", None, "snap/s", status="skip", note=why))
        else:
            for sc in SCENARIOS:
                attempt(sc, "postgresql", functools.partial(on_postgres, sc, tmp, postgres_url))
    details: dict[str, object] = {
        "runs": [
            {
                "backend": o.backend,
                "scenario": o.scenario.__dict__,
                "seconds": o.seconds,
                "snapshots": o.snapshots,
                "batches": o.batches,
                "snapshots_per_s": o.rate,
                "wire_bytes": o.wire_bytes,
                "collector_cpu_s": o.collector_cpu,
                "client_cpu_s": o.client_cpu,
            }
            for o in outcomes
        ],
        "ticket_every": TICKET_EVERY,
    }
    return Outcome(rows, details)
