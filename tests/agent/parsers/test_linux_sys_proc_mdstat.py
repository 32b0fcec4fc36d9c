from pathlib import Path

import pytest

from agent.parsers import ParseError, proc_mdstat
from agent.records import RaidArray

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "linux"


def _parse(name: str) -> tuple[RaidArray, ...]:
    parsed = proc_mdstat.parse((FIXTURES / name).read_text("utf-8"))
    assert parsed.warnings == 0, parsed.examples
    return parsed.value


def test_degraded_raid1_names_the_failed_member() -> None:
    md1, md0 = _parse("mdstat.raid1-degraded")
    assert md1 == RaidArray(
        name="md1",
        level="raid1",
        state="active",
        devices_total=2,
        devices_active=1,
        failed_devices=("sdb2",),
        degraded=True,
    )
    assert (md0.name, md0.degraded, md0.devices_active, md0.failed_devices) == ("md0", False, 2, ())


def test_raid5_recovering_reports_progress() -> None:
    (md0,) = _parse("mdstat.raid5-recovery")
    assert (md0.level, md0.devices_total, md0.devices_active, md0.degraded) == ("raid5", 4, 3, True)
    assert (md0.sync_action, md0.sync_progress_pct) == ("recovery", 35.5)


def test_inactive_array_has_no_level_and_no_active_members() -> None:
    (md127,) = _parse("mdstat.inactive")
    assert md127 == RaidArray(name="md127", state="inactive", devices_total=2, devices_active=0)


def test_raid0_counts_members_check_and_pending_resync() -> None:
    md2, md1, md0 = _parse("mdstat.raid0-and-check")
    assert (md2.level, md2.devices_total, md2.devices_active, md2.degraded) == (
        "raid0",
        2,
        2,
        False,
    )
    assert (md1.level, md1.sync_action, md1.sync_progress_pct, md1.degraded) == (
        "raid10",
        "check",
        22.1,
        False,
    )
    # "(auto-read-only)" is dropped from the state; the spare is not a working member.
    assert (md0.state, md0.level, md0.devices_total, md0.devices_active) == (
        "active",
        "raid1",
        2,
        2,
    )
    assert (md0.sync_action, md0.sync_progress_pct) == ("resync", 0.0)


def test_no_arrays() -> None:
    assert _parse("mdstat.none") == ()
    assert proc_mdstat.parse("").value == ()


def test_spare_does_not_count_and_unknown_lines_warn() -> None:
    text = (
        "Personalities : [raid1]\n"
        "md3 : active raid1 sdc1[2](S) sdb1[1] sda1[0]\n"
        "      104320 blocks [2/2] [UU]\n"
        "      something new in a future kernel\n"
        "md4 : active raid1 sdd1[0] sde1\n"
        "      104320 blocks [2/1] [_U]\n"
        "stray text\n"
    )
    parsed = proc_mdstat.parse(text)
    md3, md4 = parsed.value
    assert (md3.devices_total, md3.devices_active, md3.degraded) == (2, 2, False)
    assert md4.degraded and md4.devices_active == 1
    assert parsed.warnings == 3
    assert "something new" in parsed.examples[0]


def test_not_mdstat() -> None:
    with pytest.raises(ParseError):
        proc_mdstat.parse("cpu  1 2 3 4\nintr 5\n")
