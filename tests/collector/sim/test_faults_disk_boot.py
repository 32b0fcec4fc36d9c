"""Disk and boot fault kinds: their edited raw outputs, read by the agent's real probes and
parsers, show the fault from the time it should and not before (or after, when it ends)."""

from __future__ import annotations

import json
from collections.abc import Hashable
from pathlib import Path

import pytest

from agent import eventlog
from agent.probes.base import ProbeOutput
from agent.probes.boot import BootProbe
from agent.probes.disk import DiskProbe
from agent.probes.smart import SmartProbe
from agent.records import Event, SmartDevice, Volume
from collector.sim.faults_boot import DOWN_S, VISIBLE_S
from collector.sim.scenario import ScenarioError
from tests.collector.sim.one_fault import HOSTS, START_MS, OneFault

LINUX = HOSTS / "sim-linux-healthy"  # a VM: no smartctl, no persistent journal
LAPTOP = HOSTS / "sim-linux-laptop-faults"  # two SATA SSDs, sda failed
WINDOWS = HOSTS / "sim-windows11-healthy"
H = 3600.0


class Sim(OneFault):
    """One host of a one-fault scenario: its outputs at t through the real probes."""

    def __init__(self, tmp_path: Path, capture: Path, fault: str) -> None:
        super().__init__(tmp_path, capture, fault)
        self.cursor: str | None = None

    def smart(self, t: float) -> dict[str, SmartDevice]:
        out = SmartProbe().collect(self.source(t))
        return {d.device: d for d in out.smart}

    def volume(self, t: float, mount: str) -> Volume:
        out = DiskProbe().collect(self.source(t))
        return next(v for v in out.volumes if v.mount == mount)

    def boot(self, t: float) -> ProbeOutput:
        return BootProbe().collect(self.source(t))

    def fresh(self, out: ProbeOutput, probe: str) -> list[Event]:
        """The events the agent would send now (its event-log cursor, as the simulator keeps it)."""
        del probe
        new = list(eventlog.fresh(out.events, self.cursor))
        if new:
            self.cursor = new[-1][1]
        return [e for e, _ in new]


def outputs_follow_state(sim: Sim, times: list[float]) -> None:
    """Equal state keys give equal outputs (the simulator may re-stamp), different keys
    different outputs (it re-collects only for a reason)."""
    seen: dict[Hashable, dict[str, str]] = {}
    for t in times:
        key, files = sim.state(t), sim.files(t)
        if key in seen:
            assert files == seen[key], f"t={t}: same key {key!r}, other output"
        else:
            assert all(files != other for other in seen.values()), f"t={t}: new key, same output"
            seen[key] = files


# --- smart_degrading --------------------------------------------------------------------

SMART = "{kind: smart_degrading, hosts: p, start: 2h, device: /dev/sdb, per_hour: 8, fail_at: 30h}"


def test_smart_degrading_adds_a_healthy_drive_then_grows_then_fails(tmp_path: Path) -> None:
    sim = Sim(tmp_path, LINUX, SMART)
    before = sim.smart(1 * H)["/dev/sdb"]  # the VM had no smartctl: the drive is added
    assert (before.reallocated_sectors, before.health_passed, before.health_known) == (
        0,
        True,
        True,
    )
    assert (before.smartctl_exit_status, before.udma_crc_errors, before.ata_error_count) == (
        0,
        0,
        0,
    )
    assert before.model == "Samsung SSD 870 EVO 250GB"
    assert sim.smart(2 * H + 7 * 60)["/dev/sdb"].reallocated_sectors == 0  # 7.5 min per sector
    assert sim.smart(2 * H + 8 * 60)["/dev/sdb"].reallocated_sectors == 1
    assert sim.smart(3 * H)["/dev/sdb"].reallocated_sectors == 8
    last_ok = sim.smart(30 * H - 1)["/dev/sdb"]
    assert (last_ok.health_passed, last_ok.reallocated_sectors) == (True, 223)
    failed = sim.smart(30 * H)["/dev/sdb"]
    assert (failed.health_passed, failed.reallocated_sectors) == (False, 224)
    assert failed.smartctl_exit_status & 8  # DISK FAILING


def test_smart_degrading_state_changes_with_the_output_only(tmp_path: Path) -> None:
    sim = Sim(tmp_path, LINUX, SMART)
    times = [h * 60.0 for h in range(0, 40 * 60, 3)]  # every 3 min for 40 h
    outputs_follow_state(sim, times)
    # 0..223 sectors while it passes, 224..303 failed: a key per count, none in between
    assert len({sim.state(t) for t in times}) == 28 * 8 + 10 * 8


def test_smart_degrading_edits_an_existing_drive_and_leaves_the_others(tmp_path: Path) -> None:
    sim = Sim(tmp_path, LAPTOP, SMART)
    base = sim.smart(0)
    later = sim.smart(7 * H)
    assert later["/dev/sdb"].reallocated_sectors == base["/dev/sdb"].reallocated_sectors + 40
    assert later["/dev/sdb"].udma_crc_errors == base["/dev/sdb"].udma_crc_errors  # kept as captured
    assert later["/dev/sda"] == base["/dev/sda"]
    assert sorted(later) == ["/dev/sda", "/dev/sdb"]


# --- io_errors --------------------------------------------------------------------------


def test_io_errors_log_at_the_rate_while_active(tmp_path: Path) -> None:
    sim = Sim(tmp_path, LINUX, "{kind: io_errors, hosts: p, start: 1h, end: 2h, device: vda}")
    assert sim.kernel(-1, 1 * H - 1) == ()
    first = sim.kernel(1 * H - 1, 1 * H)
    assert [(e.kind, e.fields["device"], e.fields["op"]) for e in first] == [
        ("disk.io_error", "vda", "READ")
    ]
    assert first[0].time_ms == START_MS + 1 * H * 1000
    assert len(sim.kernel(1 * H, 1 * H + 600)) == 10  # one a minute
    assert len(sim.kernel(-1, 3 * H)) == 60  # the hour it lasted
    assert sim.kernel(2 * H - 1, 3 * H) == ()
    sectors = [e.fields["sector"] for e in sim.kernel(-1, 3 * H)]
    assert len(set(sectors)) == 60
    assert sim.state(0) == sim.state(1.5 * H) == sim.state(3 * H)  # the snapshot never changes


def test_io_errors_medium_errors_are_classified_as_the_drive_s(tmp_path: Path) -> None:
    fault = "{kind: io_errors, hosts: p, start: 0, device: sdb, per_hour: 2, medium: true}"
    events = Sim(tmp_path, LINUX, fault).kernel(-1, 1 * H - 1)  # at 0 and 30 min
    assert [e.kind for e in events] == ["disk.medium_error", "disk.io_error"] * 2
    assert {e.fields.get("error") for e in events if e.kind == "disk.io_error"} == {
        "critical medium"
    }


# --- windows_disk_errors ----------------------------------------------------------------


def test_windows_disk_errors_are_new_events_once_each(tmp_path: Path) -> None:
    sim = Sim(tmp_path, WINDOWS, "{kind: windows_disk_errors, hosts: p, start: 1h, event_id: 153}")
    sent: list[Event] = []
    for t in range(0, int(3 * H) + 1, 60):
        sent += sim.fresh(DiskProbe().collect(sim.source(t)), "disk")
    assert [e.kind for e in sent] == ["disk.io_retried"] * 9  # 1h, 1h15 .. 3h
    assert [e.time_ms for e in sent] == [START_MS + int((1 * H + k * 900) * 1000) for k in range(9)]
    ids = [int(e.fields["record_id"]) for e in sent]
    assert ids == sorted(ids) and len(set(ids)) == 9
    assert {e.fields["device"] for e in sent} == {"\\Device\\Harddisk0\\DR0"}
    assert len({e.fields["sector"] for e in sent}) == 9


def test_windows_disk_errors_bad_block(tmp_path: Path) -> None:
    fault = "{kind: windows_disk_errors, hosts: p, start: 0, event_id: 7, per_hour: 1, disk: 1}"
    sim = Sim(tmp_path, WINDOWS, fault)
    assert sim.fresh(DiskProbe().collect(sim.source(0)), "disk")[0].kind == "disk.bad_block"
    assert sim.fresh(DiskProbe().collect(sim.source(H - 1)), "disk") == []
    [event] = sim.fresh(DiskProbe().collect(sim.source(H)), "disk")
    assert (event.kind, event.fields["device"]) == ("disk.bad_block", "\\Device\\Harddisk1\\DR1")


def test_windows_disk_errors_rejects_an_event_it_does_not_know(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="event_id 4"):
        Sim(tmp_path, WINDOWS, "{kind: windows_disk_errors, hosts: p, event_id: 4}")


# --- volume_fill ------------------------------------------------------------------------


def test_volume_fill_linux_from_a_level_until_full(tmp_path: Path) -> None:
    fault = "{kind: volume_fill, hosts: p, start: 1h, mount: /home, rate: 2GB/h, from_pct: 85}"
    sim = Sim(tmp_path, LINUX, fault)
    assert sim.volume(0, "/home").used_pct == pytest.approx(61.0, abs=0.1)  # as captured
    start = sim.volume(1 * H, "/home")
    assert start.used_pct == pytest.approx(85.0, abs=0.01)
    later = sim.volume(2 * H, "/home")
    assert later.used_bytes - start.used_bytes == pytest.approx(2e9, abs=4096)
    assert later.total_bytes == start.total_bytes
    full = sim.volume(40 * H, "/home")  # 35.6 GB at 2 GB/h: full after ~18 h
    assert (full.free_bytes, full.used_pct) == (0, 100.0)
    assert sim.state(30 * H) == sim.state(40 * H)  # full: nothing changes any more
    assert sim.state(2 * H) != sim.state(2 * H + 60)  # filling: it does every cycle


def test_volume_fill_windows(tmp_path: Path) -> None:
    fault = "{kind: volume_fill, hosts: p, start: 0, mount: 'C:', rate: 2GB/h, from_pct: 93}"
    sim = Sim(tmp_path, WINDOWS, fault)
    start = sim.volume(0, "C:\\")
    assert start.used_pct == pytest.approx(93.0, abs=0.01)
    assert start.free_bytes - sim.volume(5 * H, "C:\\").free_bytes == 10_000_000_000


# --- unclean_shutdown, kernel_panic, bugcheck -------------------------------------------


def test_unclean_shutdown_linux_is_a_new_boot_whose_journal_just_stops(tmp_path: Path) -> None:
    sim = Sim(tmp_path, LINUX, "{kind: unclean_shutdown, hosts: p, start: 2h, per_day: 2}")
    captured = sim.boot(0).boot
    assert captured is not None and captured.previous_shutdown == "unknown"  # no journal
    assert sim.boot(2 * H + VISIBLE_S - 1).boot == captured
    first = sim.boot(2 * H + VISIBLE_S).boot
    assert first is not None
    assert first.previous_shutdown == "unclean"
    assert first.previous_shutdown_detail.startswith("journal ends without a shutdown")
    assert first.boot_time_unix == (START_MS // 1000) + int(2 * H + DOWN_S)
    assert first.boot_id != captured.boot_id
    assert first.previous_boot_id == captured.boot_id.replace("-", "")
    assert first.crashes == ()
    second = sim.boot(14 * H + VISIBLE_S).boot
    assert second is not None and second.previous_shutdown == "unclean"
    assert second.previous_boot_id == first.boot_id.replace("-", "")
    assert sim.boot(26 * H + VISIBLE_S - 1).boot == second
    outputs_follow_state(sim, [h * 600.0 for h in range(0, 6 * 30)])


def test_kernel_panic_linux_leaves_the_oops_in_the_previous_boot(tmp_path: Path) -> None:
    sim = Sim(tmp_path, LINUX, "{kind: kernel_panic, hosts: p, at: [5h]}")
    before = sim.boot(5 * H).boot
    assert before is not None and before.crashes == ()
    boot = sim.boot(5 * H + VISIBLE_S).boot
    assert boot is not None and boot.previous_shutdown == "unclean"
    [crash] = boot.crashes
    assert (crash.source, crash.kind, crash.module, crash.panicked) == (
        "journal", "oops", "iwlmvm", True
    )  # fmt: skip
    assert "iwl_mvm_rx_mpdu" in crash.title
    assert abs(crash.time_ms - (START_MS + 5 * H * 1000)) < 1000


def test_unclean_shutdown_windows_kernel_power_41_without_bug_check(tmp_path: Path) -> None:
    sim = Sim(tmp_path, WINDOWS, "{kind: unclean_shutdown, hosts: p, start: 1h, per_day: 2}")
    out = sim.boot(0)
    assert out.boot is not None and out.boot.previous_shutdown == "clean"
    sim.fresh(out, "boot")  # the capture's month of boot events
    assert sim.fresh(sim.boot(1 * H + VISIBLE_S - 1), "boot") == []
    out = sim.boot(1 * H + VISIBLE_S)
    assert out.boot is not None and out.boot.previous_shutdown == "unclean"
    assert "no bug check" in out.boot.previous_shutdown_detail
    assert out.boot.boot_time_unix == START_MS // 1000 + int(1 * H + DOWN_S + 34)  # 6005
    new = sim.fresh(out, "boot")
    assert sorted(e.kind for e in new) == [
        "boot.dirty_shutdown", "boot.performance", "boot.started", "boot.unexpected_shutdown"
    ]  # fmt: skip
    power = next(e for e in new if e.kind == "boot.unexpected_shutdown")
    assert "stop_code" not in power.fields and "power_button" not in power.fields
    assert out.crashes == ()
    assert sim.fresh(sim.boot(13 * H), "boot") == []  # nothing is sent twice
    assert len(sim.fresh(sim.boot(13 * H + VISIBLE_S), "boot")) == 4


@pytest.mark.parametrize(("dump", "source"), [(True, "bugcheck"), (False, "kernel_power")])
def test_bugcheck_windows(tmp_path: Path, dump: bool, source: str) -> None:
    fault = f"{{kind: bugcheck, hosts: p, at: [3h], stop_code: '0x9f', dump: {str(dump).lower()}}}"
    sim = Sim(tmp_path, WINDOWS, fault)
    sim.fresh(sim.boot(0), "boot")
    assert sim.boot(3 * H).crashes == ()
    out = sim.boot(3 * H + VISIBLE_S)
    kinds = {e.kind: e for e in sim.fresh(out, "boot")}
    assert kinds["boot.unexpected_shutdown"].fields["stop_code"] == "0x0000009f"
    assert ("boot.bugcheck" in kinds) is dump
    [crash] = out.crashes
    assert (crash.source, crash.stop_code) == (source, "0x0000009f")
    assert out.boot is not None and out.boot.previous_shutdown == "unclean"
    inventory = json.loads(sim.files(3 * H + VISIBLE_S)["win_inventory"])
    assert (
        inventory["OperatingSystem"]["LastBootUpTime"]
        == f"/Date({START_MS + int((3 * H + DOWN_S) * 1000)})/"
    )


def test_boot_faults_are_checked_when_the_scenario_loads(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="kernel_panic applies to linux hosts"):
        Sim(tmp_path, WINDOWS, "{kind: kernel_panic, hosts: p}")
    with pytest.raises(ScenarioError, match="per_day"):
        Sim(tmp_path, LINUX, "{kind: unclean_shutdown, hosts: p, per_day: often}")


def test_windows_disk_errors_stay_in_the_log_after_the_end(tmp_path: Path) -> None:
    fault = "{kind: windows_disk_errors, hosts: p, start: 0, end: 1h, event_id: 154}"
    sim = Sim(tmp_path, WINDOWS, fault)
    logged = sim.fresh(DiskProbe().collect(sim.source(H - 1)), "disk")
    assert [e.kind for e in logged] == ["disk.io_error"] * 4
    after = DiskProbe().collect(sim.source(5 * H))
    assert len(after.events) == 4 and sim.fresh(after, "disk") == []
    assert sim.state(H - 1) == sim.state(5 * H)
