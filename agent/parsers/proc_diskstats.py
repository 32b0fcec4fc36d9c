"""`/proc/diskstats` → DiskIo per whole disk, and `rates()` between two samples (iostat's formulas).

Each line is `major minor name` then the counters (Documentation/admin-guide/iostats.rst,
https://www.kernel.org/doc/html/latest/admin-guide/iostats.rst). A real line from the
Debian 12 build VM (kernel 6.x: 17 counters, 20 fields):

     254       0 vda 37394 7387 1586402 15603 23967 13078 1496304 14351 0 9848 31265
                       9477 60 750024 1004 4721 306                        (one line)

    field  1 reads completed      5 writes completed    9 I/Os currently in progress
           2 reads merged         6 writes merged      10 ms spent doing I/Os (io_ticks)
           3 sectors read         7 sectors written    11 weighted ms doing I/Os
           4 ms spent reading     8 ms spent writing   12-15 discards (4.18+), 16-17 flushes (5.5+)

So a line has 14 (before 4.18), 18 (4.18-5.4) or 20 (5.5+) fields; only fields 1-11 are
read. Kernels before 2.6.25 printed partitions with 4 counters (7 fields): such lines are
partitions and skipped like any other partition.

Which devices are kept: whole disks only - sdX, vdX, xvdX, hdX (SCSI/SATA/USB, virtio,
Xen, IDE), nvmeXnY, mmcblkN and mdN (software RAID arrays: their latency is what the
filesystem above them sees). Skipped: partitions (sda1, nvme0n1p2, mmcblk0p1, md0p1),
eMMC boot/RPMB areas (mmcblk0boot0), NVMe multipath paths (nvme0c0n1), loop, ram, zram,
optical (sr), floppy (fd), and device-mapper (dm-N: LVM and LUKS volumes re-count the
I/O of the disk below them, and their numbers change from boot to boot).

The counters are cumulative since boot (or since the device appeared). They wrap at
2^32 on 32-bit kernels, and restart from 0 when a disk is unplugged and plugged back;
`rates()` then reports the new counters with zero rates instead of nonsense.
"""

from __future__ import annotations

import dataclasses
import re

from agent.parsers import Parsed, ParseError, Warnings
from agent.records import DiskIo

# Whole disks by kernel name; anything else in /proc/diskstats is skipped on purpose.
_WHOLE_DISK = re.compile(r"(?:[shv]d[a-z]+|xvd[a-z]+|nvme\d+n\d+|mmcblk\d+|md\d+)")
_OLD_PARTITION_FIELDS = 7
_MIN_FIELDS = 14


def parse(text: str) -> Parsed[tuple[DiskIo, ...]]:
    warnings = Warnings()
    disks: list[DiskIo] = []
    seen_any = False
    for n, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) == _OLD_PARTITION_FIELDS:
            seen_any = True
            continue
        if len(fields) < _MIN_FIELDS:
            warnings.add(f"line {n}: {len(fields)} fields, expected 14, 18 or 20: {line.strip()}")
            continue
        name = fields[2]
        try:
            c = [int(f) for f in fields[3:14]]
        except ValueError:
            warnings.add(f"line {n}: non-numeric counter: {line.strip()}")
            continue
        seen_any = True
        if not _WHOLE_DISK.fullmatch(name):
            continue
        disks.append(
            DiskIo(
                device=name,
                reads=c[0],
                read_ms=c[3],
                writes=c[4],
                write_ms=c[7],
                in_flight=c[8],
                io_ms=c[9],
                weighted_io_ms=c[10],
            )
        )
    if not seen_any and text.strip():
        raise ParseError("diskstats: no line in the /proc/diskstats format")
    return Parsed.of(tuple(disks), warnings)


def rates(previous: DiskIo, current: DiskIo, seconds: float) -> DiskIo:
    """`current` with await, utilisation and queue depth over the `seconds` since `previous`.

    As iostat -x computes them (sysstat rd_stats.c compute_ext_disk_stats):
    r_await = Δread_ms / Δreads, w_await = Δwrite_ms / Δwrites, %util = Δio_ms / interval
    (capped at 100, as iostat does), aqu-sz = Δweighted_io_ms / interval. A counter that went
    backwards (wrap or device reset) or a non-positive interval gives zero rates.
    """
    counters = ("reads", "writes", "read_ms", "write_ms", "io_ms", "weighted_io_ms")
    delta = {name: getattr(current, name) - getattr(previous, name) for name in counters}
    zero = dataclasses.replace(
        current, read_await_ms=0.0, write_await_ms=0.0, util_pct=0.0, queue_depth=0.0
    )
    if seconds <= 0 or any(d < 0 for d in delta.values()):
        return zero
    interval_ms = seconds * 1000.0
    return dataclasses.replace(
        zero,
        read_await_ms=delta["read_ms"] / delta["reads"] if delta["reads"] else 0.0,
        write_await_ms=delta["write_ms"] / delta["writes"] if delta["writes"] else 0.0,
        util_pct=min(100.0, 100.0 * delta["io_ms"] / interval_ms),
        queue_depth=delta["weighted_io_ms"] / interval_ms,
    )
