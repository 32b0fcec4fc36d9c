"""diskutil list -plist / apfs list -plist of both fixture Macs, plus a truncated plist, a
pre-Catalina single volume on "/" and an external disk."""

import plistlib
from collections.abc import Mapping
from pathlib import Path

import pytest

from agent.parsers import ParseError
from agent.parsers import macos_diskutil_plist as du
from agent.records import InventoryDisk, Volume

HOSTS = Path(__file__).resolve().parents[2] / "fixtures" / "hosts"
MACBOOK = HOSTS / "sim-macos14-macbook"
IMAC = HOSTS / "sim-macos12-intel-imac"


def test_apple_silicon_reports_only_the_data_volume() -> None:
    parsed = du.parse_volumes(
        (MACBOOK / "diskutil_list").read_text(), (MACBOOK / "diskutil_apfs_list").read_text()
    )
    assert parsed.warnings == 0
    (data,) = parsed.value
    assert data == Volume(
        "/System/Volumes/Data",
        "/dev/disk3s5",
        "apfs",
        494_384_795_648,
        301_512_716_288,
        169_995_780_096,
    )
    assert round(data.used_pct) == 64


def test_without_apfs_list_free_is_derived() -> None:
    (data,) = du.parse_volumes((IMAC / "diskutil_list").read_text()).value
    used_by_all = 702_413_877_248 + 391_696_384 + 1_119_408_128 + 2_148_577_280
    used_by_all += 15_331_463_168 + 2_285_568
    assert data.mount == "/System/Volumes/Data"
    assert data.free_bytes == 999_995_129_856 - used_by_all


def test_physical_disks() -> None:
    assert du.parse_list((MACBOOK / "diskutil_list").read_text()).value == (
        InventoryDisk("disk0", size_bytes=500_277_792_768),
    )


def _plist(doc: Mapping[str, object]) -> str:
    return plistlib.dumps(doc).decode()


def test_mojave_single_volume_on_root_and_an_external_disk() -> None:
    listing = {
        "AllDisksAndPartitions": [
            {"DeviceIdentifier": "disk0", "Size": 251_000_193_024, "Partitions": []},
            {
                "APFSPhysicalStores": [{"DeviceIdentifier": "disk0s2"}],
                "APFSVolumes": [
                    {"DeviceIdentifier": "disk1s1", "MountPoint": "/", "CapacityInUse": 100},
                    {"DeviceIdentifier": "disk1s2", "CapacityInUse": 20},  # Preboot, unmounted
                ],
                "DeviceIdentifier": "disk1",
                "Size": 1000,
            },
            {
                "APFSPhysicalStores": [{"DeviceIdentifier": "disk2s2"}],
                "APFSVolumes": [
                    {
                        "DeviceIdentifier": "disk3s1",
                        "MountPoint": "/Volumes/Backup",
                        "CapacityInUse": 7,
                    }
                ],
                "DeviceIdentifier": "disk3",
                "Size": 10,
            },
        ]
    }
    volumes = du.parse_volumes(_plist(listing)).value
    assert [(v.mount, v.device, v.used_bytes, v.free_bytes) for v in volumes] == [
        ("/", "/dev/disk1s1", 100, 880),
        ("/Volumes/Backup", "/dev/disk3s1", 7, 3),
    ]


def test_truncated_plist_raises() -> None:
    text = (MACBOOK / "diskutil_list").read_text()
    with pytest.raises(ParseError, match="not a property list"):
        du.parse_volumes(text[: len(text) // 2])
    with pytest.raises(ParseError):
        du.parse_list("Could not find disk: disk9\n")


def test_wrong_types_are_warnings() -> None:
    listing = {"AllDisksAndPartitions": ["disk0", {"DeviceIdentifier": 7, "Size": 1}]}
    parsed = du.parse_list(_plist(listing))
    assert parsed.value == () and parsed.warnings == 2
