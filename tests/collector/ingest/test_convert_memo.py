"""collector.ingest.convert.SnapshotMemo: a stream's snapshots decoded against its last one.

The memo may only make decoding faster: every snapshot must decode to exactly what it
decodes to without one, whatever repeats or changes between cycles (a part, a part of a
part, a part that moves between snapshots), and a bad value must be refused with the same
message even when everything around it came from the memo.
"""

from __future__ import annotations

import dataclasses

import pytest

from agent.records import (
    DiskIo,
    InventoryDisk,
    NetInterface,
    ProbeTiming,
    SmartAttribute,
    SmartDevice,
    Snapshot,
    Volume,
)
from agent.uplink.convert import snapshot_pb
from collector.ingest import convert
from collector.ingest.convert import BadBatch, SnapshotMemo
from tests.helpers.records import INVENTORY

GIB = 1024**3

ATTRS = tuple(SmartAttribute(i, f"attr_{i}", 100, 100, 10, i * 3) for i in range(1, 9))
BASE = Snapshot(
    taken_at_ms=1_700_000_000_000,
    inventory=dataclasses.replace(
        INVENTORY,
        disks=(
            InventoryDisk("sda", "WDC", "WD-1", 1000 * GIB, True),
            InventoryDisk("nvme0n1", "Samsung", "S4EW", 512 * GIB, False),
        ),
        uptime_seconds=3_600,
    ),  # fmt: skip
    volumes=(
        Volume("/", "/dev/sda2", "ext4", 200 * GIB, 40 * GIB, 160 * GIB, 1000, 500),
        Volume("/data", "/dev/sdb1", "xfs", 100 * GIB, 60 * GIB, 40 * GIB),
    ),
    smart=(SmartDevice(device="/dev/sda", protocol="ATA", model="WDC", attributes=ATTRS),),
    timings=(ProbeTiming("disk", 0.25, 0.125), ProbeTiming("network", 0.5, 0.25)),
    disk_io=(DiskIo("sda", reads=100, writes=200),),
    interfaces=(
        NetInterface("eth0", mac="52:54:00:12:34:56", addresses=("10.0.0.5/24",), rx_bytes=10),
        NetInterface("lo", kind="loopback", addresses=("127.0.0.1/8",)),
    ),
)


def cycle(i: int) -> Snapshot:
    """What moves between a live host's cycles moves; the rest stays as it was."""
    smart = BASE.smart[0]
    attrs = list(smart.attributes)
    attrs[2] = dataclasses.replace(attrs[2], raw=attrs[2].raw + i)  # one attribute counts up
    assert BASE.inventory is not None
    return dataclasses.replace(
        BASE,
        taken_at_ms=BASE.taken_at_ms + 60_000 * i,
        inventory=dataclasses.replace(BASE.inventory, uptime_seconds=3_600 + 60 * i),
        volumes=(
            dataclasses.replace(BASE.volumes[0], used_bytes=40 * GIB + i * 4096),
            BASE.volumes[1],
        ),
        smart=(dataclasses.replace(smart, power_on_hours=i // 2, attributes=tuple(attrs)),),
        timings=tuple(
            dataclasses.replace(t, wall_seconds=t.wall_seconds + i) for t in BASE.timings
        ),
        disk_io=BASE.disk_io if i % 3 else (DiskIo("sda", reads=100 + i, writes=200),),
        # An interface comes and goes; the one that stays keeps its order.
        interfaces=BASE.interfaces if i % 2 else BASE.interfaces[::-1],
    )


def test_a_stream_of_snapshots_decodes_exactly_as_without_a_memo() -> None:
    memo = SnapshotMemo()
    for i in range(12):
        msg = snapshot_pb(cycle(i))
        with_memo = convert.snapshot(msg, memo)
        assert with_memo == convert.snapshot(msg) == cycle(i)


def test_parts_that_repeat_are_the_records_of_the_last_snapshot() -> None:
    memo = SnapshotMemo()
    first = convert.snapshot(snapshot_pb(cycle(1)), memo)
    second = convert.snapshot(snapshot_pb(cycle(3)), memo)
    assert second.volumes[1] is first.volumes[1]  # unchanged: taken from the memo
    assert second.volumes[0] is not first.volumes[0] and second.volumes[0] == cycle(3).volumes[0]
    # A changed inventory (its uptime) still repeats its disks, a changed SMART device most
    # of its attributes.
    assert first.inventory is not None and second.inventory is not None
    assert second.inventory.disks[0] is first.inventory.disks[0]
    assert second.smart[0].attributes[0] is first.smart[0].attributes[0]
    assert second.smart[0].attributes[2] != first.smart[0].attributes[2]


def test_the_memo_stays_bounded_by_what_a_snapshot_holds() -> None:
    memo = SnapshotMemo()
    sizes: dict[str, list[int]] = {}
    for i in range(200):  # timings and a volume change every cycle, SMART counts up
        convert.snapshot(snapshot_pb(cycle(i)), memo)
        for path, parts in memo.parts.items():
            sizes.setdefault(path, []).append(len(parts))
    last = cycle(199)
    per_snapshot = {"timings": len(last.timings), "volumes": len(last.volumes),
                    "smart.attributes": len(ATTRS), "inventory": 1}  # fmt: skip
    for path, count in per_snapshot.items():
        assert max(sizes[path]) <= 5 * count + 16, path
        assert sizes[path][-1] >= 1  # still remembering


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (("volumes", "mount"), r"snapshot.volumes\[1\].mount contains a NUL"),
        (("interfaces", "name"), r"snapshot.interfaces\[1\].name contains a NUL"),
    ],
)
def test_a_bad_value_is_refused_where_it_is_even_among_remembered_parts(
    path: tuple[str, str], message: str
) -> None:
    memo = SnapshotMemo()
    convert.snapshot(snapshot_pb(cycle(1)), memo)
    msg = snapshot_pb(cycle(3))  # everything but the spoiled part repeats cycle 1
    repeated, name = path
    setattr(getattr(msg, repeated)[1], name, "bad\x00text")
    with pytest.raises(BadBatch, match=message):
        convert.snapshot(msg, memo)
    # The next good snapshot decodes as usual.
    assert convert.snapshot(snapshot_pb(cycle(5)), memo) == cycle(5)


def test_a_bad_nested_value_is_refused_in_a_changed_part() -> None:
    memo = SnapshotMemo()
    convert.snapshot(snapshot_pb(cycle(1)), memo)
    msg = snapshot_pb(cycle(2))
    msg.smart[0].attributes[4].name = "x\x00"
    with pytest.raises(BadBatch, match=r"snapshot.smart\[0\].attributes\[4\].name contains a NUL"):
        convert.snapshot(msg, memo)
