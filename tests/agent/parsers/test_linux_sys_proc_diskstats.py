from pathlib import Path

import pytest

from agent.parsers import ParseError, proc_diskstats
from agent.records import DiskIo

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "linux"


def _read(name: str) -> str:
    return (FIXTURES / name).read_text("utf-8")


def test_real_vm_keeps_the_virtio_disk_and_skips_loop_and_zram() -> None:
    parsed = proc_diskstats.parse(_read("diskstats.debian12-vm"))
    assert parsed.value == (
        DiskIo(
            device="vda",
            reads=71657,
            writes=27470,
            read_ms=53573,
            write_ms=17526,
            in_flight=0,
            io_ms=15204,
            weighted_io_ms=72654,
        ),
    )
    assert parsed.warnings == 0


def test_whole_disks_only_on_a_workstation() -> None:
    parsed = proc_diskstats.parse(_read("diskstats.workstation"))
    assert [d.device for d in parsed.value] == ["nvme0n1", "sda", "sdb", "md0", "mmcblk0"]
    sda = parsed.value[1]
    assert (sda.reads, sda.read_ms, sda.writes, sda.write_ms) == (214307, 6203877, 69318, 11940203)
    assert (sda.in_flight, sda.io_ms, sda.weighted_io_ms) == (3, 2981334, 18204127)
    assert parsed.warnings == 0


def test_old_kernel_14_fields_and_garbled_lines_are_counted() -> None:
    parsed = proc_diskstats.parse(_read("diskstats.kernel-4.9"))
    assert [d.device for d in parsed.value] == ["sda", "xvda"]
    assert parsed.value[1].weighted_io_ms == 3132
    # hda with 8 counters, sdb with "x", sdc cut short; sda2's 4-counter form is a partition.
    assert parsed.warnings == 3
    assert parsed.examples[0].startswith("line 6: 11 fields")


def test_not_diskstats_at_all() -> None:
    with pytest.raises(ParseError):
        proc_diskstats.parse("hello world\n")
    assert proc_diskstats.parse("").value == ()


def _io(**counters: int) -> DiskIo:
    return DiskIo(device="sda", **counters)


def test_rates_follow_iostat() -> None:
    before = _io(reads=100, writes=50, read_ms=1000, write_ms=400, io_ms=2000, weighted_io_ms=5000)
    after = _io(
        reads=300,
        writes=150,
        read_ms=5000,
        write_ms=2400,
        io_ms=4500,
        weighted_io_ms=17500,
        in_flight=4,
    )
    r = proc_diskstats.rates(before, after, 5.0)
    assert r.read_await_ms == 20.0  # 4000 ms over 200 reads
    assert r.write_await_ms == 20.0  # 2000 ms over 100 writes
    assert r.util_pct == 50.0  # 2500 ms busy of 5000
    assert r.queue_depth == 2.5  # 12500 weighted ms over 5000 ms
    assert (r.reads, r.in_flight) == (300, 4)


def test_idle_disk_has_zero_await_and_util_is_capped() -> None:
    before = _io(reads=10, io_ms=0)
    assert proc_diskstats.rates(before, _io(reads=10, io_ms=0), 1.0).read_await_ms == 0.0
    # io_ticks can run slightly ahead of wall time on a busy disk; iostat caps at 100 %.
    assert proc_diskstats.rates(before, _io(reads=20, io_ms=1100), 1.0).util_pct == 100.0


@pytest.mark.parametrize("seconds", [0.0, -1.0])
def test_no_interval_gives_zero_rates(seconds: float) -> None:
    r = proc_diskstats.rates(_io(reads=1), _io(reads=9, read_ms=80, io_ms=10), seconds)
    assert (r.read_await_ms, r.util_pct, r.reads) == (0.0, 0.0, 9)


def test_counter_wrap_or_reset_gives_the_counters_with_zero_rates() -> None:
    before = _io(reads=2**32 - 10, read_ms=900, io_ms=800, weighted_io_ms=700)
    after = _io(reads=5, read_ms=1000, io_ms=900, weighted_io_ms=800)
    r = proc_diskstats.rates(before, after, 10.0)
    assert r == after
    # A stale derived value on `current` does not survive either.
    stale = DiskIo("sda", reads=1, read_await_ms=9.0, util_pct=50.0)
    assert proc_diskstats.rates(_io(reads=2), stale, 1.0).util_pct == 0.0
