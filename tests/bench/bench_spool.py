"""The agent's spool: what a durable append costs, and a drain's read and ack.

The spool is one SQLite file in WAL mode with synchronous=FULL: `append()` returns only
after an fsync. An agent appends two records per cycle (snapshot and stats), so the cost
that matters is the latency of one append, measured here on this machine's disk, with a
snapshot-sized body. A drain after an outage reads 1 MiB batches and acks them.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

from agent.records import Priority
from agent.uplink.spool import Spool
from tests.bench.report import Outcome, Row

NAME = "spool"
APPENDS = 400
BODY = 360  # bytes: a steady-state snapshot record
BACKLOG = 10_000


def run() -> Outcome:
    with tempfile.TemporaryDirectory(prefix="rdiag-bench-spool-") as tmp:
        spool = Spool(Path(tmp) / "spool.db", 64 * 1024 * 1024)
        try:
            body = os.urandom(BODY)
            took: list[float] = []
            for _ in range(APPENDS):
                t0 = time.perf_counter()
                spool.append(Priority.NORMAL, "snapshot", body)
                took.append(time.perf_counter() - t0)
            took.sort()
            median_ms = statistics.median(took) * 1000
            p99_ms = took[int(len(took) * 0.99) - 1] * 1000
            spool.ack(APPENDS)
            for _ in range(BACKLOG):  # an outage's backlog (about 3 s of appends)
                spool.append(Priority.NORMAL, "snapshot", body)
            t0 = time.perf_counter()
            cursor, drained = 0, 0
            while batch := spool.read(cursor, 1024 * 1024):
                cursor = batch[-1].seq
                drained += spool.ack(cursor)
            drain_s = time.perf_counter() - t0
        finally:
            spool.close()
    rate = drained / drain_s
    rows = [
        Row(NAME, "durable append (fsync), median", median_ms, "ms",
            note=f"{APPENDS} appends of {BODY} B; p99 {p99_ms:.2f} ms"),
        Row(NAME, "drain: read 1 MiB batches + ack", rate, "records/s",
            note=f"{drained} records in {drain_s:.2f} s"),
    ]  # fmt: skip
    details: dict[str, object] = {"median_ms": median_ms, "p99_ms": p99_ms, "drain_rate": rate}
    return Outcome(rows, details)
