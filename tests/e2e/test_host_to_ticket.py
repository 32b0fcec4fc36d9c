"""End to end, real processes over loopback: simulated host → agent → collector → SQLite → ticket.

One `rdiag-collector serve` process on a temporary SQLite file; for each test, a real
`rdiag-agent run --once --source tests/fixtures/hosts/sim-*` process (each folder's FAULTS.md
says what was injected into a real capture). Every agent has its own id, so tests sharing
the collector only ever look at their own agent's rows.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.config import KNOWN_PROBES
from collector.store import Ticket, TicketState, open_store
from rdiag_proto.v1 import telemetry_pb2
from tests.helpers.procs import BIN, ROOT, CollectorProc, env, start_collector

HOSTS = ROOT / "tests" / "fixtures" / "hosts"
BLOCK = 4096  # f_frsize in the fixtures' disk_usage


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CollectorProc]:
    tmp = tmp_path_factory.mktemp("collector")
    col = start_collector(tmp / "collector.db", tmp / "collector.log")
    try:
        yield col
    finally:
        status = col.stop()
    assert status == 0, f"collector exit status {status} on SIGTERM:\n{col.log.read_text()}"


def agent(*args: str, config: Path) -> subprocess.CompletedProcess[str]:
    # An explicit empty config: a machine's /etc/rdiag/agent.toml must not leak in.
    argv = [str(BIN / "rdiag-agent"), "--config", str(config), *args]
    return subprocess.run(
        argv, capture_output=True, text=True, env=env(), cwd=ROOT, timeout=120, check=False
    )


def run_once(col: CollectorProc, host: str, state_dir: Path, agent_id: str) -> None:
    """One real agent process: collect the simulated host once, deliver, exit 0."""
    config = state_dir.parent / "agent.toml"
    config.write_text("")
    done = agent(
        "run", "--once", "--insecure", "--collector", col.address, "--state-dir", str(state_dir),
        "--source", str(HOSTS / host), "--agent-id", agent_id, config=config,
    )  # fmt: skip
    assert done.returncode == 0, f"agent exit status {done.returncode}:\n{done.stderr}"


def epoch_of(state_dir: Path) -> str:
    """The spool's epoch, as `rdiag-agent spool` reports it: names the agent's seq space."""
    config = state_dir.parent / "agent.toml"
    done = agent("spool", "--state-dir", str(state_dir), config=config)
    assert done.returncode == 0, done.stderr
    status = json.loads(done.stdout)
    assert status["records"] == 0, "everything was acked, so the spool is empty"
    return str(status["epoch"])


def tickets_of(col: CollectorProc, agent_id: str) -> list[Ticket]:
    with open_store(col.url) as store:
        return sorted(store.list_tickets(agent_id=agent_id), key=lambda t: t.id)


def records_of(col: CollectorProc, agent_id: str, epoch: str) -> list[telemetry_pb2.Record]:
    """The stored telemetry of one stream, decoded, by seq."""
    with open_store(col.url) as store:
        rows = store.telemetry_payloads(agent_id, epoch)
    records = []
    for seq, kind, payload in rows:
        record = telemetry_pb2.Record.FromString(payload)
        assert (record.seq, record.WhichOneof("body")) == (seq, kind)
        records.append(record)
    return records


def test_full_home_volume_opens_one_exact_ticket_and_a_rerun_only_counts_it(
    collector: CollectorProc, tmp_path: Path
) -> None:
    state, agent_id = tmp_path / "state", "e2e-home-full"
    run_once(collector, "sim-linux-home-full", state, agent_id)

    (ticket,) = tickets_of(collector, agent_id)  # / is 22 % used: no ticket for it
    assert (ticket.rule_id, ticket.rule_version, ticket.component) == (
        "disk.volume_nearly_full",
        2,
        "/home",
    )
    assert ticket.hostname == "ws-finance-07"
    assert (ticket.priority, ticket.severity, ticket.tier) == ("P2", "high", "L1")
    assert ticket.category == "Storage / Capacity"
    assert (ticket.state, ticket.occurrences) == (TicketState.OPEN, 1)
    assert ticket.summary == "[Disk] Volume /home almost full on ws-finance-07"
    assert ticket.evidence["subject"] == "volume"
    assert ticket.evidence["values"] == {
        "mount": "/home",
        "device": "/dev/vdb",
        "fstype": "ext4",
        "total_bytes": 125_000_000 * BLOCK,
        "used_bytes": 115_187_500 * BLOCK,
        "free_bytes": 3_562_500 * BLOCK,
        "used_pct": 97.0,
        "inodes_total": 31_250_000,
        "inodes_free": 29_874_112,
        "read_only": False,
    }
    assert "/home (ext4 on /dev/vdb) is 97.0% full: 13.6 GiB free of 476.8 GiB" in (
        ticket.description
    )
    assert "machine id: ab86a68994e74c8082ce68e485a59c1c" in ticket.description
    with open_store(collector.url) as store:
        host = store.get_host(agent_id)
    assert host is not None
    assert (host.inventory.hostname, host.inventory.machine_id) == (
        "ws-finance-07",
        "ab86a68994e74c8082ce68e485a59c1c",
    )

    # The same agent again (same state dir, same spool): the problem is still there, so the
    # open ticket counts a second occurrence; no second ticket.
    run_once(collector, "sim-linux-home-full", state, agent_id)
    (again,) = tickets_of(collector, agent_id)
    assert (again.id, again.dedup_key) == (ticket.id, ticket.dedup_key)
    assert (again.state, again.occurrences) == (TicketState.OPEN, 2)
    assert again.first_seen_ms == ticket.first_seen_ms <= again.last_seen_ms

    # Each run spooled a snapshot and the agent's stats: seqs 1..4, each stored once, in one
    # sequence space (the spool's epoch survived the restart).
    epoch = epoch_of(state)
    with open_store(collector.url) as store:
        assert store.telemetry_seqs(agent_id, epoch) == [1, 2, 3, 4]
    kinds = [r.WhichOneof("body") for r in records_of(collector, agent_id, epoch)]
    assert kinds == ["snapshot", "stats", "snapshot", "stats"]


def test_failed_drive_opens_one_critical_ticket_for_l2(
    collector: CollectorProc, tmp_path: Path
) -> None:
    agent_id = "e2e-smart-failed"
    run_once(collector, "sim-linux-smart-failed", tmp_path / "state", agent_id)

    (ticket,) = tickets_of(collector, agent_id)  # its volumes are fine: no volume ticket
    assert (ticket.rule_id, ticket.component) == ("disk.smart_health_failed", "/dev/sda")
    assert ticket.hostname == "ws-design-12"
    assert (ticket.priority, ticket.severity, ticket.tier) == ("P1", "critical", "L2")
    assert (ticket.state, ticket.occurrences) == (TicketState.OPEN, 1)
    assert ticket.summary == "[Disk] Drive /dev/sda reports SMART failure on ws-design-12"
    values = ticket.evidence["values"]
    assert {k: values[k] for k in (
        "protocol", "model", "serial", "firmware", "health", "temperature_c", "power_on_hours",
        "reallocated_sectors", "pending_sectors", "offline_uncorrectable", "smartctl_exit_status",
    )} == {
        "protocol": "ATA",
        "model": "ST2000DM008-2FR102",
        "serial": "SIMFAULT0001",
        "firmware": "0001",
        "health": "FAILED",
        "temperature_c": 41,
        "power_on_hours": 31822,
        "reallocated_sectors": 1224,
        "pending_sectors": 48,
        "offline_uncorrectable": 48,
        "smartctl_exit_status": 88,
    }  # fmt: skip
    # The SMART counters' timeline is attached: one point per snapshot so far.
    assert ticket.evidence["series"]["reallocated_sectors"][-1][1] == 1224
    assert (
        "The ATA drive /dev/sda (ST2000DM008-2FR102, serial SIMFAULT0001, firmware 0001)"
        in ticket.description
    )
    assert "Reallocated sectors: 1224; pending: 48" in ticket.description


def test_smartctl_timeout_is_recorded_and_the_snapshot_still_delivers(
    collector: CollectorProc, tmp_path: Path
) -> None:
    state, agent_id = tmp_path / "state", "e2e-smartctl-timeout"
    run_once(collector, "sim-linux-smartctl-timeout", state, agent_id)

    # The SMART probe timed out; the disk probe's finding still became a ticket.
    (ticket,) = tickets_of(collector, agent_id)
    assert (ticket.rule_id, ticket.component, ticket.hostname) == (
        "disk.volume_nearly_full",
        "/",
        "ws-lab-21",
    )
    assert ticket.evidence["values"]["used_pct"] == 98.0
    assert ticket.evidence["values"]["device"] == "/dev/vda"
    assert "/ (ext4 on /dev/vda) is 98.0% full" in ticket.description

    # The stored snapshot carries the timeout, next to everything the other probes found.
    records = records_of(collector, agent_id, epoch_of(state))
    assert [r.seq for r in records] == [1, 2]
    (snap,) = [r.snapshot for r in records if r.WhichOneof("body") == "snapshot"]
    smart_errors = [(e.kind, e.message) for e in snap.errors if e.probe == "smart"]
    assert smart_errors == [("timeout", "timeout: smartctl did not finish within 30 s (killed)")]
    assert list(snap.smart) == []
    assert [v.mount for v in snap.volumes] == ["/"]
    assert snap.inventory.hostname == "ws-lab-21"
    assert [i.name for i in snap.interfaces if i.name == "eth0"] == ["eth0"]
    assert sorted(t.probe for t in snap.timings) == sorted(KNOWN_PROBES)


def test_healthy_host_delivers_and_opens_no_ticket(
    collector: CollectorProc, tmp_path: Path
) -> None:
    state, agent_id = tmp_path / "state", "e2e-healthy"
    run_once(collector, "sim-linux-healthy", state, agent_id)

    assert tickets_of(collector, agent_id) == []
    records = records_of(collector, agent_id, epoch_of(state))
    (snap,) = [r.snapshot for r in records if r.WhichOneof("body") == "snapshot"]
    assert snap.inventory.hostname == "ws-support-03"
    assert [v.mount for v in snap.volumes] == ["/", "/home"]  # 22 % and 61 %: below 95
    # No smartctl on this host is a recorded fact, not a fault; so is the missing
    # systemd and journal of the VM the simulated hosts were captured on.
    assert [(e.probe, e.kind, e.message) for e in snap.errors if e.probe != "boot"] == [
        ("smart", "unavailable", "smartctl not found")
    ]
    assert {e.kind for e in snap.errors if e.probe == "boot"} == {"unavailable"}
