"""AgentRuntime in-process against a scripted collector, and `rdiag-agent run` as a real process."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

from agent.common.config import ByteSize, Seconds
from agent.config import AgentConfig, CollectorSection, CollectSection, IdentitySection
from agent.records import Event, Priority, Severity
from agent.service import AgentRuntime, resolve_agent_id
from agent.sources import DirectorySource
from rdiag_proto.v1 import collector_pb2 as cpb
from rdiag_proto.v1 import telemetry_pb2 as pb
from tests.helpers.procs import BIN, ROOT, env, free_port
from tests.helpers.scripted import DEADLINE, Conn, Scripted, collector, until

FIXTURE = ROOT / "tests" / "fixtures" / "hosts" / "linux-debian12-vm"


def config(tmp_path: Path, port: int, interval: float = 3600) -> AgentConfig:
    return AgentConfig(
        collector=CollectorSection(
            address=f"127.0.0.1:{port}",
            insecure=True,
            connect_timeout=Seconds(10),
            backoff_initial=Seconds(0.05),
            backoff_max=Seconds(0.2),
        ),  # fmt: skip
        collect=CollectSection(interval=Seconds(interval), probe_timeout=Seconds(10)),
        identity=IdentitySection(agent_id="agent-under-test", state_dir=tmp_path),
    )


def runtime(tmp_path: Path, port: int, **kw) -> AgentRuntime:
    rt = AgentRuntime(config(tmp_path, port, **kw), agent_id="agent-under-test",
                      source=DirectorySource(FIXTURE))  # fmt: skip
    return rt


def kinds(records: list[pb.Record]) -> list[str]:
    return [str(r.WhichOneof("body")) for r in records]


def spool_rows(path: Path) -> list[tuple[int, int, str]]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return list(db.execute("SELECT seq, priority, kind FROM records ORDER BY seq"))
    finally:
        db.close()


# --- in process --------------------------------------------------------------------------


def test_critical_event_is_sent_at_once_not_at_the_next_interval(tmp_path: Path) -> None:
    async def main() -> None:
        server = Scripted()
        async with collector(server) as port:
            rt = runtime(tmp_path, port, interval=3600)
            task = asyncio.create_task(rt.run())
            try:
                # The first cycle runs at start: one snapshot and the agent's stats.
                await until(lambda: kinds(server.records) == ["snapshot", "stats"], "first cycle")
                event = Event(time_ms=1_700_000_000_000, source="kernel", kind="disk.io_error",
                              severity=Severity.CRITICAL, message="I/O error on sda",
                              fields={"device": "/dev/sda"})  # fmt: skip
                seq = await rt.submit_event(event)
                assert seq == 3
                # Within the deadline, not after the hour the interval asks for.
                await until(lambda: "event" in kinds(server.records), "the event delivered")
                got = server.records[-1]
                assert (got.seq, got.priority) == (3, pb.PRIORITY_CRITICAL)
                assert got.event.kind == "disk.io_error"
                assert dict(got.event.fields) == {"device": "/dev/sda"}
                assert rt.cycles == 1  # no second collection ran to carry it
                await until(lambda: rt.spool.status().records == 0, "acked and removed")
            finally:
                rt.stop.set()
                await asyncio.wait_for(task, DEADLINE)

    asyncio.run(main())


def test_collect_once_spools_a_snapshot_and_a_stats_record(tmp_path: Path) -> None:
    async def main() -> None:
        rt = runtime(tmp_path, free_port())
        try:
            snap = await rt.collect_once()
            assert snap.inventory is not None and snap.inventory.hostname == "vm"
            assert rt.inventory == snap.inventory  # the next Hello carries it
            rows = rt.spool.read(0, 1 << 30)
            assert [(r.seq, r.priority, r.kind) for r in rows] == [
                (1, Priority.NORMAL, "snapshot"), (2, Priority.LOW, "stats")]  # fmt: skip
            rec = pb.Record.FromString(rows[0].body)
            assert rec.snapshot.inventory.hostname == "vm"
            assert rec.snapshot.taken_at_ms == snap.taken_at_ms
            stats = pb.Record.FromString(rows[1].body).stats
            assert stats.spool_records == 1  # the snapshot just spooled

            await rt.collect_once()
            # Stats supersede: only the latest waits; snapshots accumulate.
            rows = rt.spool.read(0, 1 << 30)
            assert [(r.seq, r.kind) for r in rows] == [(1, "snapshot"), (3, "snapshot"),
                                                        (4, "stats")]  # fmt: skip
            assert rt.cycles == 2
            assert rt.uplink.wake.is_set()  # the uplink was told there is something to send
        finally:
            rt.spool.close()

    asyncio.run(main())


def test_collector_config_update_changes_interval_and_probes(tmp_path: Path) -> None:
    async def configure(conn: Conn) -> None:
        await conn.welcome(config=cpb.ConfigUpdate(interval_seconds=1, enabled_probes=["disk"]))
        await conn.serve_normally()

    async def main() -> None:
        server = Scripted(configure)
        async with collector(server) as port:
            rt = runtime(tmp_path, port, interval=3600)
            task = asyncio.create_task(rt.run())
            try:
                # The hour-long wait is cut short: the next cycle follows the new interval
                # and runs only the disk probe (so its snapshot has no inventory).
                def disk_only() -> list[pb.Record]:
                    return [r for r in server.records
                            if r.WhichOneof("body") == "snapshot"
                            and not r.snapshot.HasField("inventory")]  # fmt: skip

                await until(lambda: rt.cycles >= 2, "a second cycle at the new interval")
                await until(lambda: bool(disk_only()), "a snapshot from the disk probe alone")
                assert disk_only()[0].snapshot.volumes  # the disk probe did run
                assert rt.interval == 1.0
                assert rt.enabled == ("disk",)
                assert rt.probe_timeout == 2.0  # capped at twice the new interval
            finally:
                rt.stop.set()
                await asyncio.wait_for(task, DEADLINE)

    asyncio.run(main())


def test_run_once_delivers_and_reports_it(tmp_path: Path) -> None:
    async def main() -> None:
        server = Scripted()
        async with collector(server) as port:
            rt = runtime(tmp_path, port)
            assert await rt.run(once=True, once_timeout=DEADLINE) is True
        assert kinds(server.records) == ["snapshot", "stats"]

    asyncio.run(main())


def test_run_once_without_a_collector_reports_undelivered(tmp_path: Path) -> None:
    async def main() -> bool:
        return await runtime(tmp_path, free_port()).run(once=True, once_timeout=0.5)

    assert asyncio.run(main()) is False
    assert [k for _, _, k in spool_rows(tmp_path / "spool.db")] == ["snapshot", "stats"]


# --- agent id ----------------------------------------------------------------------------


def id_config(state: Path, agent_id: str = "") -> AgentConfig:
    return AgentConfig(identity=IdentitySection(agent_id=agent_id, state_dir=state))


def test_agent_id_is_made_once_persisted_and_stable(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = resolve_agent_id(id_config(state))
    assert (state / "agent_id").read_text() == first + "\n"
    assert resolve_agent_id(id_config(state)) == first
    assert resolve_agent_id(id_config(state)) == first
    assert sorted(p.name for p in state.iterdir()) == ["agent_id"]  # no temp files left


def test_configured_agent_id_wins_and_is_not_written(tmp_path: Path) -> None:
    assert resolve_agent_id(id_config(tmp_path, "ws-0042")) == "ws-0042"
    assert not (tmp_path / "agent_id").exists()


def test_an_empty_agent_id_file_is_replaced(tmp_path: Path) -> None:
    (tmp_path / "agent_id").write_text("")
    new = resolve_agent_id(id_config(tmp_path))
    assert new and (tmp_path / "agent_id").read_text().strip() == new
    assert resolve_agent_id(id_config(tmp_path)) == new


def test_concurrent_first_starts_agree_on_one_id(tmp_path: Path) -> None:
    for trial in range(10):
        state = tmp_path / f"t{trial}"
        barrier = threading.Barrier(8)
        got: list[str] = []

        def start(barrier=barrier, got=got, state=state) -> None:
            barrier.wait()
            got.append(resolve_agent_id(id_config(state)))

        threads = [threading.Thread(target=start) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(got) == 8
        assert set(got) == {(state / "agent_id").read_text().strip()}
        assert sorted(p.name for p in state.iterdir()) == ["agent_id"]


# --- a real process ----------------------------------------------------------------------


def test_real_agent_spools_without_collector_and_exits_0_on_sigterm(tmp_path: Path) -> None:
    state = tmp_path / "state"
    err_path = tmp_path / "agent.log"
    argv = [str(BIN / "rdiag-agent"), "run", "--insecure", "--collector",
            f"127.0.0.1:{free_port()}", "--source", str(FIXTURE), "--state-dir", str(state),
            "--interval", "1s"]  # fmt: skip
    with open(err_path, "w") as err:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, env=env(), cwd=ROOT)
    spool = state / "spool.db"
    try:
        deadline = time.monotonic() + 60
        snapshots: list[int] = []
        while time.monotonic() < deadline and proc.poll() is None:
            if spool.exists():
                snapshots = [s for s, _, k in spool_rows(spool) if k == "snapshot"]
                if len(snapshots) >= 3:
                    break
            time.sleep(0.1)
        assert proc.poll() is None, err_path.read_text()
        assert len(snapshots) >= 3, err_path.read_text()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0, err_path.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    log = err_path.read_text()
    assert "Traceback" not in log
    # Everything it spooled is still there, unacked, and nothing was dropped.
    rows = spool_rows(spool)
    kept = [s for s, _, k in rows if k == "snapshot"]
    assert kept[: len(snapshots)] == snapshots
    assert [k for _, _, k in rows].count("stats") == 1  # superseded, only the latest
    out = subprocess.run(
        [str(BIN / "rdiag-agent"), "spool", "--state-dir", str(state)],
        capture_output=True, text=True, env=env(), cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    status = json.loads(out.stdout)
    assert status["records"] == len(rows)
    assert status["dropped"] == {}
    assert (status["first_seq"], status["last_seq"]) == (rows[0][0], rows[-1][0])
    # and the id it made is kept for the next start
    assert (state / "agent_id").read_text().strip()


def test_records_spooled_before_start_go_out_first(tmp_path: Path) -> None:
    """A backlog from an earlier run (or outage) is delivered before the new cycle's records."""

    async def main() -> None:
        server = Scripted()
        async with collector(server) as port:
            rt = runtime(tmp_path, port)
            old = pb.Record(priority=pb.PRIORITY_NORMAL, snapshot=pb.Snapshot(taken_at_ms=5))
            rt.spool.append(Priority.NORMAL, "snapshot", old.SerializeToString())
            assert await rt.run(once=True, once_timeout=DEADLINE) is True
        assert [r.seq for r in server.records] == [1, 2, 3]
        assert server.records[0].snapshot.taken_at_ms == 5

    asyncio.run(main())


def test_spool_bound_from_config_is_used(tmp_path: Path) -> None:
    cfg = config(tmp_path, free_port())
    cfg = AgentConfig(collector=cfg.collector, collect=cfg.collect, identity=cfg.identity,
                      spool=type(cfg.spool)(max_bytes=ByteSize(128 * 1024)))  # fmt: skip
    rt = AgentRuntime(cfg, agent_id="x", source=DirectorySource(FIXTURE))
    try:
        assert rt.spool.max_bytes == 128 * 1024
        assert rt.spool.max_record_bytes == 32 * 1024
    finally:
        rt.spool.close()
