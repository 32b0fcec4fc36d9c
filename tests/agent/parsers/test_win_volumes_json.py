"""Get-Volume JSON → Volume: lettered user volumes only."""

import json
from pathlib import Path

from agent.parsers import win_volumes_json
from agent.records import Volume

HOSTS = Path(__file__).resolve().parents[2] / "fixtures" / "hosts"


def test_laptop_letters_only() -> None:
    parsed = win_volumes_json.parse(
        (HOSTS / "sim-windows11-laptop" / "win_volumes").read_bytes().decode()
    )
    assert parsed.warnings == 0
    c, d = parsed.value
    assert c == Volume(
        mount="C:\\",
        device="\\\\?\\Volume{5e2b7c1a-93d4-4f08-b1e6-7a0c2d9f4b12}\\",
        fstype="NTFS",
        total_bytes=1021749735424,
        used_bytes=1021749735424 - 612843417600,
        free_bytes=612843417600,
    )
    assert round(c.used_pct, 1) == 40.0
    assert (d.mount, d.fstype) == ("D:\\", "FAT32")


def test_german_desktop_skips_the_dvd_and_letterless_partitions() -> None:
    parsed = win_volumes_json.parse(
        (HOSTS / "sim-windows10-de-desktop" / "win_volumes").read_bytes().decode()
    )
    assert [v.mount for v in parsed.value] == ["C:\\", "D:\\"]


def _vol(**extra: object) -> dict[str, object]:
    return {
        "DriveLetter": "C",
        "FileSystem": "NTFS",
        "DriveType": 3,
        "Size": 100,
        "SizeRemaining": 40,
    } | extra


def test_drive_letter_quirks() -> None:
    items = [
        _vol(DriveLetter="\u0000"),  # [char]0 of Windows PowerShell: no letter
        _vol(DriveLetter=""),
        _vol(DriveLetter=None),
        _vol(DriveLetter="e:", DriveType="Removable"),  # names instead of numbers
        _vol(DriveLetter="F", DriveType="CD-ROM"),
        _vol(DriveLetter="G", Size=0),
        _vol(DriveLetter="H", SizeRemaining=500),  # more free than size: clamp
    ]
    parsed = win_volumes_json.parse(json.dumps(items))
    assert [(v.mount, v.used_bytes, v.free_bytes) for v in parsed.value] == [
        ("E:\\", 60, 40),
        ("H:\\", 0, 100),
    ]
    assert parsed.warnings == 0


def test_ugly_entries_are_warnings() -> None:
    items = [_vol(), _vol(DriveLetter="CD"), _vol(Size="lots"), 7]
    parsed = win_volumes_json.parse(json.dumps(items) + "\r\n")
    assert [v.mount for v in parsed.value] == ["C:\\"]
    assert parsed.warnings == 3


def test_one_volume_without_array_and_no_volumes() -> None:
    assert [v.mount for v in win_volumes_json.parse(json.dumps(_vol())).value] == ["C:\\"]
    assert win_volumes_json.parse("[]").value == ()
