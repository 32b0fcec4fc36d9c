"""Disk faults: volumes filling, drives wearing out, I/O errors (edits of disk_usage,
win_volumes, smartctl --json output, win_events_disk, and Linux kernel messages).

Windows events are added the way Get-WinEvent prints them (agent/specs_windows.py): newest
first, RecordIds growing past the capture's and TimeCreated in simulated time, so the
agent's per-log cursors (agent/eventlog.py) send each one once.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Hashable, Iterable
from pathlib import Path
from typing import Any

from agent.specs import smartctl_x_name
from collector.sim.faults import FaultKind, Files, HostView, Param, register
from collector.sim.scenario import Fault

REPO = Path(__file__).resolve().parents[2]
# A healthy SATA SSD's `smartctl --json -x` (Samsung 870 EVO, smartctl 7.3), written for
# the sim-linux-laptop-faults capture. Its link fault (CRC errors, ICRC aborts in the error
# log) is removed when it is used as the template of a new drive (_healthy()).
SMART_TEMPLATE = "tests/fixtures/hosts/sim-linux-laptop-faults/smartctl_x.sdb"
# smartctl exit status bit 3: "SMART status check returned DISK FAILING" (smartctl.8).
SMARTCTL_DISK_FAILING = 8
# Get-WinEvent -MaxEvents of the agent's event queries.
MAX_EVENTS = 100


@register
class VolumeFill(FaultKind):
    """A volume fills at a steady rate until users cannot write to it any more.

    Linux: the mount's statvfs in disk_usage loses free blocks (f_bfree and f_bavail, so
    root's reserve stays, as ext4 keeps it); Windows: the drive's SizeRemaining in
    win_volumes. `from_pct` first sets the volume to that used percentage (df's used /
    (used + available)), so a scenario need not wait for a half-empty disk to fill.
    Rules: disk.volume_fills_within_24h once it is >= 90 % used and the last hour's growth
    reaches full within a day, then disk.volume_nearly_full at 95 % (or the OS-volume
    floors); the first clears (and resolves) when the volume is full and stops growing.
    After `end` the volume is as captured again (someone cleaned it up).
    """

    name = "volume_fill"
    doc = "a volume fills at a steady rate (a runaway log, a sync client) until it is full"
    oses = ("linux", "windows")
    params = {
        "mount": Param("str", "the mount point (Linux) or drive letter (Windows: C:)"),
        "rate": Param("rate", "how fast, such as 2GB/h"),
        "from_pct": Param(
            "float", "used percentage at the fault's start (default: as captured)", False
        ),
    }

    def __init__(self, fault: Fault) -> None:
        super().__init__(fault)
        # Bytes still writable when the fault started, per host (learnt in apply): the key
        # stops changing once the volume is full, so a full host is cheap again.
        self._room: dict[str, int] = {}

    def _grown(self, t: float, host: HostView) -> int:
        grown = int(self.elapsed(t) * self.p["rate"])
        room = self._room.get(host.spec.agent_id)
        return grown if room is None else min(grown, room)

    def state(self, t: float, host: HostView) -> Hashable:
        return self._grown(t, host) if self.active(t) else None

    def apply(self, files: Files, host: HostView, t: float) -> None:
        grown = int(self.elapsed(t) * self.p["rate"])
        pct = self.p["from_pct"]
        if host.os == "linux" and "disk_usage" in files:
            data = json.loads(files["disk_usage"])
            for m in data.get("mounts", []):
                if m.get("mount") != self.p["mount"] or "statvfs" not in m:
                    continue
                st = m["statvfs"]
                size = int(st["f_frsize"])
                blocks, bfree, bavail = int(st["f_blocks"]), int(st["f_bfree"]), int(st["f_bavail"])
                reserve = max(0, bfree - bavail)
                if pct is not None:
                    used = int((blocks - reserve) * min(100.0, max(0.0, pct)) / 100)
                    bfree = blocks - used
                    bavail = max(0, bfree - reserve)
                self._room[host.spec.agent_id] = bavail * size
                taken = min(bavail, grown // size)
                st["f_bfree"] = bfree - taken
                st["f_bavail"] = bavail - taken
            files["disk_usage"] = json.dumps(data)
        elif host.os == "windows" and "win_volumes" in files:
            letter = self.p["mount"].rstrip(":\\").upper()
            volumes = json.loads(files["win_volumes"])
            for v in volumes:
                if (v.get("DriveLetter") or "") != letter:
                    continue
                remaining = int(v["SizeRemaining"])
                if pct is not None:
                    remaining = int(int(v["Size"]) * (100 - min(100.0, max(0.0, pct))) / 100)
                self._room[host.spec.agent_id] = remaining
                v["SizeRemaining"] = max(0, remaining - grown)
            files["win_volumes"] = json.dumps(volumes, separators=(",", ":"))


@register
class SmartDegrading(FaultKind):
    """A SATA drive remaps sectors at a steady rate, then its SMART self-assessment fails.

    Edits `smartctl --json -x` of `device` (spec smartctl_x.<dev>): attribute 5
    Reallocated_Sector_Ct's raw value grows by `per_hour` from the fault's start (counted
    in whole sectors, so the output changes only when the count does); from `fail_at`
    (run time, like start) smart_status.passed is false and the exit status has bit 3
    (DISK FAILING). A host whose capture has no such drive (a VM, `smartctl not found`)
    gets one: the capture's smartctl_scan gains the device (or is written, when smartctl
    was not found), and the drive is a healthy Samsung SSD from `template`.
    Rules: disk.smart_reallocated_sectors when the count first grows, then
    disk.smart_health_failed (P1) at fail_at.
    """

    name = "smart_degrading"
    doc = "a drive's reallocated sector count grows, then its SMART health check fails"
    oses = ("linux",)
    params = {
        "device": Param("str", "the drive, as smartctl names it (/dev/sdb)"),
        "per_hour": Param("float", "reallocated sectors added per hour", False, 8.0),
        "fail_at": Param("duration", "run time at which SMART health becomes FAILED", False),
        "template": Param(
            "str",
            "smartctl --json -x of a healthy drive for hosts without one (repo-relative)",
            False,
            SMART_TEMPLATE,
        ),
    }

    def active(self, t: float) -> bool:
        # The drive is there (healthy) before the fault starts, and a remapped sector
        # stays remapped after it ends.
        return True

    def _count(self, t: float) -> int:
        end = self.fault.end_s
        grown = max(0.0, (t if end is None else min(t, end)) - self.fault.start_s)
        return int(grown / 3600 * self.p["per_hour"])

    def _failed(self, t: float) -> bool:
        return self.p["fail_at"] is not None and t >= self.p["fail_at"]

    def state(self, t: float, host: HostView) -> Hashable:
        return self._count(t), self._failed(t)

    def apply(self, files: Files, host: HostView, t: float) -> None:
        device = self.p["device"]
        kind = "sat"
        scan = _scan_with(files.get("smartctl_scan"), device, kind)
        for dev in scan["devices"]:
            if dev.get("name") == device:
                kind = str(dev.get("type") or "")
        spec = smartctl_x_name(device, kind)
        files["smartctl_scan"] = json.dumps(scan, indent=2)
        text = files.get(spec)
        doc = json.loads(text) if text is not None else self._new_drive(host, device, kind)
        added = self._count(t)
        for attr in doc.get("ata_smart_attributes", {}).get("table", []):
            if attr.get("id") == 5:
                raw = int(attr.get("raw", {}).get("value", 0)) + added
                attr["raw"] = {"value": raw, "string": str(raw)}
        if self._failed(t):
            doc["smart_status"] = {"passed": False}
            smartctl = doc.setdefault("smartctl", {})
            smartctl["exit_status"] = int(smartctl.get("exit_status", 0)) | SMARTCTL_DISK_FAILING
        files[spec] = json.dumps(doc, indent=2)

    def _new_drive(self, host: HostView, device: str, kind: str) -> dict[str, Any]:
        path = Path(self.p["template"])
        try:
            doc: dict[str, Any] = json.loads(
                (path if path.is_absolute() else REPO / path).read_text()
            )
        except (OSError, ValueError) as exc:
            raise ValueError(f"smart_degrading: template {path}: {exc}") from None
        return _healthy(doc, device, kind, _serial(host.spec.agent_id, device))


def _scan_with(text: str | None, device: str, kind: str) -> dict[str, Any]:
    """smartctl --scan-open --json with `device` in it (added when smartctl did not list it)."""
    scan: dict[str, Any] = {}
    if text is not None:
        try:
            scan = json.loads(text)
        except ValueError:
            scan = {}
    if not isinstance(scan, dict) or "smartctl" not in scan:
        scan = {
            "json_format_version": [1, 0],
            "smartctl": {"version": [7, 3], "argv": ["smartctl", "--scan-open", "--json"],
                         "exit_status": 0},
            "devices": [],
        }  # fmt: skip
    devices = scan.setdefault("devices", [])
    if not any(d.get("name") == device for d in devices if isinstance(d, dict)):
        devices.append({"name": device, "info_name": f"{device} [{kind.upper()}]",
                        "type": kind, "protocol": "ATA"})  # fmt: skip
    return scan


def _healthy(doc: dict[str, Any], device: str, kind: str, serial: str) -> dict[str, Any]:
    """The template as a drive of this host: its name and serial, no error log, no CRC errors."""
    doc["device"] = {"name": device, "info_name": f"{device} [{kind.upper()}]",
                     "type": kind, "protocol": "ATA"}  # fmt: skip
    smartctl = doc.setdefault("smartctl", {})
    smartctl["exit_status"] = 0
    argv = smartctl.get("argv")
    if isinstance(argv, list) and argv:
        smartctl["argv"] = [*argv[:-1], device]
    doc["serial_number"] = serial
    doc["smart_status"] = {"passed": True}
    for attr in doc.get("ata_smart_attributes", {}).get("table", []):
        if attr.get("id") in (5, 187, 197, 198, 199):
            attr["raw"] = {"value": 0, "string": "0"}
    if "ata_smart_error_log" in doc:
        doc["ata_smart_error_log"] = {"extended": {"revision": 1, "sectors": 1, "count": 0}}
    return doc


def _serial(agent_id: str, device: str) -> str:
    return "S6PE" + hashlib.sha256(f"{agent_id}{device}".encode()).hexdigest()[:11].upper()


@register
class IoErrors(FaultKind):
    """The block layer logs I/O errors for a device at a steady rate (a disk with bad sectors,
    or a flaky cable/enclosure).

    Kernel messages, as kernels before 5.18 print them: "blk_update_request: I/O error, dev
    sdb, sector N op 0x0:(READ) ..." (agent/parsers/kernel_log.py disk.io_error), one every
    3600 / per_hour seconds from the start; with `medium: true` each is preceded by the
    SCSI "Sense Key : Medium Error" line and says "critical medium error" (disk.medium_error).
    Rule: disk.io_errors (L2), at the fifth error within 10 minutes (per_hour >= 30), at the
    first with medium, or on a second day. The snapshot does not change (state constant).
    """

    name = "io_errors"
    doc = "the kernel logs I/O errors for a device at a steady rate"
    oses = ("linux",)
    params = {
        "device": Param("str", "the block device, as the kernel names it (sdb, nvme0n1)"),
        "per_hour": Param("float", "errors per hour", False, 60.0),
        "op": Param("str", "READ or WRITE", False, "READ"),
        "medium": Param(
            "bool", "medium errors (unreadable sectors), not plain I/O errors", False, False
        ),  # fmt: skip
    }

    def state(self, t: float, host: HostView) -> Hashable:
        return None  # only kernel messages: the snapshot stays as captured

    def kernel(self, host: HostView, t0: float, t1: float) -> Iterable[tuple[float, str]]:
        dev, op = self.p["device"], self.p["op"].upper()
        opcode = {"READ": "0x0", "WRITE": "0x1"}.get(op, "0x0")
        error = "critical medium" if self.p["medium"] else "I/O"
        out: list[tuple[float, str]] = []
        for k, when in _ticks(self, self.p["per_hour"], t0, t1):
            sector = 123456 + 8 * k
            if self.p["medium"]:
                out.append(
                    (when, f"sd 2:0:0:0: [{dev}] tag#{k % 32} Sense Key : Medium Error [current]")
                )
            out.append((when, f"blk_update_request: {error} error, dev {dev}, sector {sector} "
                              f"op {opcode}:({op}) flags 0x0 phys_seg 1 prio class 0"))  # fmt: skip
        return out


def _ticks(fault: FaultKind, per_hour: float, t0: float, t1: float) -> list[tuple[int, float]]:
    """(n, t) of the fault's n-th occurrence (0-based, one every 3600/per_hour s from its
    start) for t in (t0, t1] while it is active."""
    if per_hour <= 0:
        return []
    period = 3600 / per_hour
    start, end = fault.fault.start_s, fault.fault.end_s
    first = max(0, math.floor((t0 - start) / period) + 1)
    out: list[tuple[int, float]] = []
    k = first
    while True:
        when = start + k * period
        if when > t1 or (end is not None and when >= end):
            return out
        if when > t0:
            out.append((k, when))
        k += 1


def occurrences(fault: FaultKind, per_hour: float, t: float) -> int:
    """How many ticks of _ticks() happened by t (the first at the fault's start)."""
    if t < fault.fault.start_s or per_hour <= 0:
        return 0
    last = t if fault.fault.end_s is None else min(t, math.nextafter(fault.fault.end_s, 0))
    return math.floor((last - fault.fault.start_s) / (3600 / per_hour)) + 1


# --- Windows disk events ----------------------------------------------------------------

# Event id -> (Level, data fields); the texts are in ntiologc.h (IO_ERR_BAD_BLOCK 7,
# IO_ERR_TIMEOUT 9, IO_ERR_CONTROLLER_ERROR 11, IO_ERR_PAGING_FAILURE 51,
# IO_WARNING_IO_OPERATION_RETRIED 153, IO_ERROR_IO_HARDWARE_ERROR 154).
_DISK_EVENTS = {7: 2, 9: 2, 11: 2, 51: 3, 153: 3, 154: 2}


@register
class WindowsDiskErrors(FaultKind):
    """The Windows disk driver logs errors for a disk at a steady rate (System log, source
    `disk`): 7 bad block, 154 hardware error at an LBA (rule disk.windows_media_errors,
    at the first), 153 I/O retried, 9 timeout, 11 controller error (rule
    disk.windows_transport_errors, at the third within an hour), 51 paging error.

    Added to win_events_disk in Get-WinEvent's shape (newest first, at most 100), each with
    TimeCreated = its simulated time and a RecordId above the capture's System ones.
    """

    name = "windows_disk_errors"
    doc = "the Windows disk driver logs bad blocks, retries or timeouts at a steady rate"
    oses = ("windows",)
    params = {
        "event_id": Param("int", "7, 9, 11, 51, 153 or 154", False, 153),
        "per_hour": Param("float", "events per hour", False, 4.0),
        "disk": Param("int", "the disk number (\\Device\\HarddiskN\\DR N)", False, 0),
    }

    def __init__(self, fault: Fault) -> None:
        super().__init__(fault)
        if self.p["event_id"] not in _DISK_EVENTS:
            raise ValueError(f"windows_disk_errors: event_id {self.p['event_id']}: "
                             f"expected one of {sorted(_DISK_EVENTS)}")  # fmt: skip

    def active(self, t: float) -> bool:
        # Logged events stay in the log after the fault ends (only new ones stop).
        return t >= self.fault.start_s

    def state(self, t: float, host: HostView) -> Hashable:
        return occurrences(self, self.p["per_hour"], t)

    def apply(self, files: Files, host: HostView, t: float) -> None:
        text = files.get("win_events_disk")
        if text is None:
            return
        events = json.loads(text.lstrip("\ufeff") or "[]")
        base = max_record_id(events, "System", host.start_ms)
        n = occurrences(self, self.p["per_hour"], t)
        period = 3600 / self.p["per_hour"]
        event_id, disk = self.p["event_id"], self.p["disk"]
        device = f"\\Device\\Harddisk{disk}\\DR{disk}"
        added = []
        for k in range(max(0, n - MAX_EVENTS), n):
            when = self.fault.start_s + k * period
            data = {"param1": device}
            if event_id in (153, 154):
                data.update(param2=hex(0x1A03E2F0 + 8 * k), param3=str(disk),
                            param4="\\Device\\0000003d")  # fmt: skip
            added.append(win_event(host, when, event_id, "disk", _DISK_EVENTS[event_id],
                                   base + 1 + record_offset(when), "System", data))  # fmt: skip
        files["win_events_disk"] = dump_events(newest_first(added, events))


def win_event(
    host: HostView, t: float, event_id: int, provider: str, level: int, record_id: int,
    log: str, data: dict[str, str],
) -> dict[str, Any]:  # fmt: skip
    """One event as the agent's Get-WinEvent query prints it (ConvertTo-Json, PS 5.1)."""
    return {
        "TimeCreated": f"/Date({host.start_ms + int(t * 1000)})/",
        "Id": event_id,
        "ProviderName": provider,
        "Level": level,
        "RecordId": record_id,
        "LogName": log,
        "Data": data,
    }


def record_offset(t: float) -> int:
    """RecordIds of the faults' events: from simulated time (10 per second), so events of
    different faults in one log do not share one, and each fault's grow with time."""
    return int(t * 10)


def max_record_id(events: list[dict[str, Any]], log: str, start_ms: int) -> int:
    """The capture's newest RecordId in `log`: events from before the run (those the faults
    add are stamped at or after its start, so the base does not move as they are added)."""
    found = 0
    for e in events:
        if e.get("LogName") != log or not isinstance(e.get("RecordId"), int):
            continue
        if event_ms(e) < start_ms:
            found = max(found, int(e["RecordId"]))
    return found


def event_ms(e: dict[str, Any]) -> int:
    text = str(e.get("TimeCreated", ""))
    digits = text[text.find("(") + 1 : text.find(")")] if "(" in text else ""
    try:
        return int(digits)
    except ValueError:
        return 0


def newest_first(added: list[dict[str, Any]], events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Get-WinEvent lists newest first; the agent sorts by RecordId itself.
    return sorted(added, key=event_ms, reverse=True) + events


def dump_events(events: Any) -> str:
    """ConvertTo-Json -Compress of PowerShell 5.1: one line, dates as "\\/Date(ms)\\/", and
    & < > ' escaped as \\u0026 .. \\u0027 (those characters only occur inside strings)."""
    text = json.dumps(events, separators=(",", ":"), ensure_ascii=True)
    text = text.replace('"/Date(', '"\\/Date(').replace(')/"', ')\\/"')
    for char, escaped in _PS_ESCAPES.items():
        text = text.replace(char, escaped)
    return text + "\r\n"


_PS_ESCAPES = {"&": "\\u0026", "<": "\\u003c", ">": "\\u003e", "'": "\\u0027"}
