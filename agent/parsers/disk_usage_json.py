"""The `disk_usage` call's JSON (agent/sources.py) → Volume records, with df's arithmetic.

    {"mounts": [
      {"mount": "/", "device": "/dev/vda", "fstype": "ext4", "opts": "rw,relatime",
       "statvfs": {"f_frsize": 4096, "f_blocks": 2531582, "f_bfree": 1204417,
                   "f_bavail": 1084098, "f_files": 647168, "f_ffree": 553001, "f_flag": 4096}},
      {"mount": "C:\\\\", "device": "C:\\\\", "fstype": "NTFS", "opts": "rw,fixed",
       "usage": {"total": 255378640896, "used": 101232345088, "free": 154146295808}},
      {"mount": "/mnt/nfs", "device": "srv:/x", "fstype": "nfs4", "opts": "rw",
       "error": {"kind": "timeout", "message": "statvfs did not answer within 2.0 s"}}]}

The source keeps raw statvfs(3) fields so this arithmetic is tested on captures:
used = (f_blocks - f_bfree) * f_frsize, free = f_bavail * f_frsize (what an unprivileged
user can still write, as df shows; root's reserved blocks count as neither), which is why
used + free < total on ext4. Mounts with f_blocks == 0 are dummies df hides; so do we.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.parsers import ParseError
from agent.parsers._json import get_int, get_list, get_object, get_str, load_object
from agent.records import Volume

ST_RDONLY = 1  # statvfs f_flag bit, same value on Linux (ST_RDONLY) and macOS (MNT_RDONLY)


@dataclass(frozen=True, slots=True)
class MountFailure:
    mount: str
    kind: str  # timeout | error
    message: str


@dataclass(frozen=True, slots=True)
class DiskUsage:
    volumes: tuple[Volume, ...]
    failures: tuple[MountFailure, ...]


def parse(text: str) -> tuple[Volume, ...]:
    return parse_report(text).volumes


def parse_report(text: str) -> DiskUsage:
    doc = load_object(text, "disk_usage")
    if "mounts" not in doc:
        raise ParseError("disk_usage: missing key 'mounts'")
    volumes: list[Volume] = []
    failures: list[MountFailure] = []
    for i, entry in enumerate(get_list(doc, "mounts")):
        where = f"disk_usage mounts[{i}]"
        if not isinstance(entry, dict):
            raise ParseError(f"{where}: expected an object, got {entry!r:.60}")
        mount = get_str(entry, "mount")
        if not mount:
            raise ParseError(f"{where}: missing key 'mount'")
        if "error" in entry:
            kind = get_str(entry, "error.kind", "error")
            failures.append(MountFailure(mount, kind, get_str(entry, "error.message")))
            continue
        volume = _volume(entry, mount, where)
        if volume is not None:
            volumes.append(volume)
    return DiskUsage(tuple(volumes), tuple(failures))


def _volume(entry: dict[str, object], mount: str, where: str) -> Volume | None:
    device = get_str(entry, "device")
    fstype = get_str(entry, "fstype")
    read_only = "ro" in get_str(entry, "opts").split(",")
    if "statvfs" in entry:
        st = get_object(entry, "statvfs")
        frsize = get_int(st, "f_frsize")
        blocks = get_int(st, "f_blocks")
        if blocks == 0:
            return None
        return Volume(
            mount=mount,
            device=device,
            fstype=fstype,
            total_bytes=blocks * frsize,
            used_bytes=max(0, blocks - get_int(st, "f_bfree")) * frsize,
            free_bytes=get_int(st, "f_bavail") * frsize,
            inodes_total=get_int(st, "f_files"),
            inodes_free=get_int(st, "f_ffree"),
            read_only=read_only or bool(get_int(st, "f_flag") & ST_RDONLY),
        )
    if "usage" in entry:  # no statvfs (Windows): psutil.disk_usage's totals, no inodes
        total = get_int(entry, "usage.total")
        if total == 0:
            return None
        return Volume(
            mount=mount,
            device=device,
            fstype=fstype,
            total_bytes=total,
            used_bytes=get_int(entry, "usage.used"),
            free_bytes=get_int(entry, "usage.free"),
            read_only=read_only,
        )
    raise ParseError(f"{where} ({mount}): neither 'statvfs', 'usage' nor 'error'")
