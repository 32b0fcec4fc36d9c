"""The `win_volumes` JSON (Get-Volume, MSFT_Volume) → Volume records.

    [{"DriveLetter":"C","FileSystemLabel":"Windows","FileSystem":"NTFS","DriveType":3,
      "HealthStatus":0,"OperationalStatus":2,"Size":1021749735424,"SizeRemaining":612843417600,
      "Path":"\\\\?\\Volume{5e2b...}\\"},
     {"DriveLetter":null,"FileSystemLabel":"SYSTEM","FileSystem":"FAT32","DriveType":3,...}]

Kept: volumes with a drive letter and a size. Left out, as df leaves out what is not a
user's filesystem: volumes without a letter (EFI system and recovery partitions: small,
nearly full by design, never written by users) and optical drives (DriveType 5, always
"full"). A missing letter arrives as null, "" or "\\u0000" ([char]0 in Windows PowerShell).
MSFT_Volume has no inode counts and no read-only flag; those stay 0 / False.

https://learn.microsoft.com/windows-hardware/drivers/storage/msft-volume
"""

from __future__ import annotations

from agent.parsers import Parsed, ParseError, Warnings
from agent.parsers import win_ps_json as ps
from agent.records import Volume

DRIVE_TYPES = {
    0: "Unknown", 1: "Invalid Root Path", 2: "Removable", 3: "Fixed", 4: "Remote", 5: "CD-ROM",
    6: "RAM Disk",
}  # fmt: skip
NOT_USER_STORAGE = {"CD-ROM", "Invalid Root Path"}


def parse(text: str) -> Parsed[tuple[Volume, ...]]:
    warnings = Warnings()
    found: list[Volume] = []
    for i, item in enumerate(ps.load_list(text, "win_volumes")):
        if not isinstance(item, dict):
            warnings.add(f"volume {i}: expected an object, got {item!r:.60}")
            continue
        try:
            volume = _volume(item)
        except ParseError as exc:
            warnings.add(f"volume {i}: {exc}")
            continue
        if volume is not None:
            found.append(volume)
    return Parsed.of(tuple(sorted(found, key=lambda v: v.mount)), warnings)


def _volume(item: ps.JsonObject) -> Volume | None:
    letter = ps.text(item, "DriveLetter").rstrip(":")
    size = ps.number(item, "Size")
    if not letter or size <= 0:
        return None
    if len(letter) != 1 or not letter.isalpha():
        raise ParseError(f"DriveLetter: not a drive letter: {letter!r:.20}")
    if ps.enum(item, "DriveType", DRIVE_TYPES) in NOT_USER_STORAGE:
        return None
    free = min(ps.number(item, "SizeRemaining"), size)
    return Volume(
        mount=f"{letter.upper()}:\\",
        device=ps.text(item, "Path"),
        fstype=ps.text(item, "FileSystem"),
        total_bytes=size,
        used_bytes=size - free,
        free_bytes=free,
    )
