"""`smartctl --scan-open --json` → the devices to query, with smartctl's `-d` type.

    {"json_format_version": [1, 0],
     "smartctl": {"version": [7, 3], "exit_status": 0, ...},
     "devices": [
       {"name": "/dev/sda", "info_name": "/dev/sda [SAT]", "type": "sat", "protocol": "ATA"},
       {"name": "/dev/nvme0", "info_name": "/dev/nvme0", "type": "nvme", "protocol": "NVMe"},
       {"name": "/dev/sdb", "info_name": "/dev/sdb", "type": "scsi", "protocol": "SCSI",
        "open_error": "Permission denied"}]}

`--scan-open` opens each device to detect its type; a device it could not open carries
`open_error` (smartctl.cpp, scan_devices). With no devices the `devices` key may be absent.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.parsers import ParseError
from agent.parsers._json import get_list, get_str, load_object


@dataclass(frozen=True, slots=True)
class ScanDevice:
    name: str
    type: str = ""
    protocol: str = ""
    open_error: str = ""


def parse(text: str) -> tuple[ScanDevice, ...]:
    doc = load_object(text, "smartctl --scan")
    if "smartctl" not in doc and "devices" not in doc:
        raise ParseError("smartctl --scan: neither 'smartctl' nor 'devices' key")
    devices: list[ScanDevice] = []
    for i, item in enumerate(get_list(doc, "devices")):
        if not isinstance(item, dict):
            raise ParseError(f"smartctl --scan: devices[{i}]: expected an object")
        name = get_str(item, "name")
        if not name:
            raise ParseError(f"smartctl --scan: devices[{i}]: missing key 'name'")
        devices.append(
            ScanDevice(
                name=name,
                type=get_str(item, "type"),
                protocol=get_str(item, "protocol"),
                open_error=get_str(item, "open_error"),
            )
        )
    return tuple(devices)
