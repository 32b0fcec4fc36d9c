"""`smartctl --scan-open` (text; smartctl before 7.0 has no --json) → ScanDevice.

    /dev/sda -d sat # /dev/sda [SAT], ATA device
    /dev/nvme0 -d nvme # /dev/nvme0, NVMe device
    /dev/bus/0 -d megaraid,0 # /dev/bus/0 [megaraid_disk_00], SCSI device
    # /dev/sdb -d scsi # /dev/sdb, SCSI device open failed: Permission denied

A line that smartctl commented out is a device it could not open; the reason follows
"open failed:". https://www.smartmontools.org/browser/trunk/smartmontools/smartctl.8.in
"""

from __future__ import annotations

import re

from agent.parsers import Parsed, Warnings
from agent.parsers.smartctl_scan_json import ScanDevice

_LINE = re.compile(r"(?P<off>#\s*)?(?P<name>/\S+)\s+-d\s+(?P<type>\S+)\s*(?:#\s*(?P<info>.*))?")


def parse(text: str) -> Parsed[tuple[ScanDevice, ...]]:
    warnings = Warnings()
    devices: list[ScanDevice] = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        m = _LINE.fullmatch(line)
        if m is None:
            warnings.add(f"line {number}: not a device line: {line!r:.80}")
            continue
        info = m.group("info") or ""
        protocol = next((p for p in ("ATA", "NVMe", "SCSI") if f"{p} device" in info), "")
        error = ""
        if m.group("off"):
            error = info.partition("open failed:")[2].strip() or "open failed"
        devices.append(ScanDevice(m.group("name"), m.group("type"), protocol, error))
    return Parsed.of(tuple(devices), warnings)
