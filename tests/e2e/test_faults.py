"""Fault tests with real processes killed for real: nothing lost, nothing twice.

Each test asserts exact sequence numbers: the collector's telemetry table for
the feeder's (agent id, epoch) must hold precisely the expected seqs, and the
one ticket every record feeds must count each record exactly once.
"""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from collector.store import open_store
from tests.helpers.procs import BIN, ROOT, env, free_port, start_collector

pytestmark = pytest.mark.slow


def feeder(spool: Path, address: str, *args: str) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "tests.helpers.feeder", "--spool", str(spool),
            "--collector", address, *args]  # fmt: skip
    return subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env(), cwd=ROOT
    )


def lines(proc: subprocess.Popen[str], timeout: float = 180) -> list[dict[str, Any]]:
    out, _ = proc.communicate(timeout=timeout)
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def stored(db: Path, agent_id: str, epoch: str) -> tuple[list[int], list[int]]:
    """(telemetry seqs, occurrences of each open ticket) for one stream."""
    store = open_store(f"sqlite:///{db}")
    try:
        seqs = store.telemetry_seqs(agent_id, epoch)
        tickets = [t.occurrences for t in store.list_tickets(agent_id=agent_id)]
        return seqs, tickets
    finally:
        store.close()


def spool_seqs(spool: Path) -> list[int]:
    db = sqlite3.connect(spool)
    try:
        return [
            r[0] for r in db.execute("SELECT seq FROM records WHERE kind = 'snapshot' ORDER BY seq")
        ]
    finally:
        db.close()


def test_collector_killed_mid_stream_repeatedly_every_record_once(tmp_path: Path) -> None:
    rng = random.Random(7)
    db, log = tmp_path / "collector.db", tmp_path / "collector.log"
    port = free_port()
    col = start_collector(db, log, port=port)
    count = 3000
    feed = feeder(tmp_path / "spool.db", col.address, "--count", str(count), "--rate", "500")
    kills = 0
    try:
        for _ in range(4):
            time.sleep(rng.uniform(0.8, 1.3))
            col.kill()
            kills += 1
            time.sleep(rng.uniform(0.1, 0.4))
            col = start_collector(db, log, port=port)
        out = lines(feed)
    finally:
        if feed.poll() is None:
            feed.kill()
        col.stop()
    assert feed.returncode == 0
    assert out[-1]["done"] is True, out[-1]
    epoch = out[-1]["status"]["epoch"]
    seqs, tickets = stored(db, "feeder-1", epoch)
    # Exactly once: every seq 1..count, no gap, and the ticket counted each record once
    # although batches in flight at each kill were resent after the restart.
    assert seqs == list(range(1, count + 2))[: len(seqs)] and seqs[:count] == list(
        range(1, count + 1)
    )
    assert tickets == [count]
    assert kills == 4


def test_agent_killed_during_spool_writes_loses_nothing_acknowledged(tmp_path: Path) -> None:
    rng = random.Random(11)
    spool = tmp_path / "spool.db"
    nowhere = f"127.0.0.1:{free_port()}"  # nothing listens: everything stays spooled
    durable: list[int] = []
    epochs = set()
    for _ in range(5):
        feed = feeder(spool, nowhere, "--count", "100000")
        assert feed.stdout is not None
        target = rng.randint(50, 400)
        got = 0
        while got < target:
            line = feed.stdout.readline()
            assert line, "feeder ended early"
            durable.append(json.loads(line)["appended"])
            got += 1
        feed.send_signal(signal.SIGKILL)  # mid-write: it is appending as fast as it can
        feed.wait(10)
        feed.stdout.close()
        db = sqlite3.connect(spool)
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        epochs.add(db.execute("SELECT value FROM meta WHERE key='epoch'").fetchone()[0])
        db.close()
        on_disk = set(spool_seqs(spool))
        # Every append that returned (and printed) before the kill is on disk.
        assert set(durable) <= on_disk
    assert len(epochs) == 1, "the spool kept its epoch across crashes"
    assert durable == sorted(durable) and len(set(durable)) == len(durable), "seqs never reused"

    # Drain the survivors into a collector: exactly what was on disk arrives, once.
    expected = spool_seqs(spool)
    col = start_collector(tmp_path / "c.db", tmp_path / "c.log")
    try:
        out = lines(feeder(spool, col.address, "--count", "0"))
    finally:
        col.stop()
    seqs, tickets = stored(tmp_path / "c.db", "feeder-1", epochs.pop())
    snapshot_seqs = [s for s in seqs if s in set(expected)]
    assert snapshot_seqs == expected
    assert tickets == [len(expected)]
    assert out[-1]["done"] is True


def test_long_outage_spool_stays_bounded_drops_by_policy_then_drains(tmp_path: Path) -> None:
    spool = tmp_path / "spool.db"
    port = free_port()
    bound = 64 * 1024
    count, every = 3000, 10  # one CRITICAL record in ten
    feed = feeder(spool, f"127.0.0.1:{port}", "--count", str(count), "--max-bytes", str(bound),
                  "--critical-every", str(every))  # fmt: skip
    assert feed.stdout is not None
    appended: dict[int, int] = {}
    summary: dict[str, Any] = {}
    while True:
        line = feed.stdout.readline()
        assert line, "feeder ended early"
        msg = json.loads(line)
        if "appended" in msg:
            appended[msg["appended"]] = msg["priority"]
        if msg.get("all_appended"):
            summary = msg
            break
    # The collector has been away the whole time: the spool is at its bound, not past it.
    status = summary["status"]
    assert status["bytes"] <= bound
    file_bytes = sum(p.stat().st_size for p in tmp_path.glob("spool.db*"))
    assert file_bytes < 8 * bound + 4 * 1024 * 1024  # page slack and a bounded WAL, not growth
    kept = spool_seqs(spool)
    dropped = summary["reported_dropped"]
    normal = [s for s, p in appended.items() if p == 2 and s is not None]
    critical = [s for s, p in appended.items() if p == 3 and s is not None]
    # Policy: every critical record survived; normal ones were dropped oldest first.
    assert set(critical) <= set(kept)
    kept_normal = sorted(set(kept) - set(critical))
    assert kept_normal == sorted(normal)[-len(kept_normal) :]
    assert dropped == {"spool_full:normal": len(normal) - len(kept_normal)}
    assert len(normal) - len(kept_normal) > count // 2  # the test really overflowed the spool

    # The collector comes back: the backlog drains, exactly the kept records arrive.
    db = tmp_path / "c.db"
    col = start_collector(db, tmp_path / "c.log", port=port)
    try:
        out, _ = feed.communicate(timeout=120)
    finally:
        col.stop()
    done = json.loads(out.splitlines()[-1])
    assert done["done"] is True and done["status"]["records"] == 0
    seqs, tickets = stored(db, "feeder-1", status["epoch"])
    assert [s for s in seqs if s in appended] == kept
    assert tickets == [len(kept)]
    health = open_store(f"sqlite:///{db}")
    try:
        reported = health.agent_health("feeder-1")
    finally:
        health.close()
    assert reported is not None and dict(reported.dropped) == dropped


def _workers(pid: int) -> list[int]:
    import psutil

    return sorted(p.pid for p in psutil.Process(pid).children())


def test_evaluation_worker_killed_mid_stream_every_record_once_and_replaced(
    tmp_path: Path,
) -> None:
    """SIGKILL one of the collector's evaluation worker processes (ingest.workers) while
    an agent streams: its stream ends with UNAVAILABLE, the agent reconnects and resends,
    the worker is replaced, and the store holds every record once and the ticket counts
    each once (the history is reloaded from what was committed)."""
    db, log = tmp_path / "collector.db", tmp_path / "collector.log"
    col = start_collector(db, log, config="[ingest]\nworkers = 2\n")
    count = 3000
    feed = feeder(tmp_path / "spool.db", col.address, "--count", str(count), "--rate", "500")
    try:
        before = _workers(col.proc.pid)
        assert len(before) == 2, "the collector runs two evaluation workers"
        for victim in before:  # kill each worker once, so the feeder's shard is hit for sure
            time.sleep(1.0)
            subprocess.run(["kill", "-KILL", str(victim)], check=True)
        out = lines(feed)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            after = _workers(col.proc.pid)
            if len(after) == 2 and not set(after) & set(before):
                break
            time.sleep(0.2)
        assert len(after) == 2 and not set(after) & set(before), (before, after)
    finally:
        if feed.poll() is None:
            feed.kill()
        col.stop()
    assert out[-1]["done"] is True, out[-1]
    epoch = out[-1]["status"]["epoch"]
    seqs, tickets = stored(db, "feeder-1", epoch)
    assert seqs[:count] == list(range(1, count + 1))
    assert tickets == [count]
    text = log.read_text()
    assert text.count("evaluation worker died;") == 2  # the log line, not the refusals
    assert "rejected" not in text.lower()


def test_ingest_workers_setting_out_of_range_names_the_key(tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(BIN / "rdiag-collector"), "config", "show"],
        capture_output=True, text=True, env={**env(), "RDIAG_COLLECTOR_INGEST__WORKERS": "99"},
        cwd=tmp_path, check=False,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "ingest.workers" in proc.stderr and "got 99" in proc.stderr
    assert "Traceback" not in proc.stderr
