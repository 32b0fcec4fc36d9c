"""win_inventory JSON (Win32_OperatingSystem & co.) → HostInventory."""

import json
from pathlib import Path

import pytest

from agent.parsers import ParseError, win_cim_os_json
from agent.records import HostInventory, InventoryDisk

HOSTS = Path(__file__).resolve().parents[2] / "fixtures" / "hosts"


def _parse(host: str) -> HostInventory:
    parsed = win_cim_os_json.parse((HOSTS / host / "win_inventory").read_bytes().decode())
    assert parsed.warnings == 0
    return parsed.value


def test_laptop() -> None:
    inv = _parse("sim-windows11-laptop")
    assert (inv.hostname, inv.os_family, inv.os_name) == (
        "NB-SALES-114",
        "windows",
        "Microsoft Windows 11 Enterprise",
    )
    assert (inv.os_version, inv.kernel, inv.arch) == ("23H2", "10.0.22631.4460", "x86_64")
    assert (inv.cpu_model, inv.cpu_cores, inv.memory_bytes) == (
        "13th Gen Intel(R) Core(TM) i7-1365U",
        12,
        34053779456,
    )
    assert inv.boot_time_unix == 1795193345  # 2026-11-20T16:49:05.5Z
    # LocalDateTime - LastBootUpTime: 2026-11-20T16:49:05.5Z → 2026-11-23T09:41:12Z
    assert inv.uptime_seconds == 2 * 86400 + 16 * 3600 + 52 * 60 + 6
    assert inv.machine_id == "3f0c2b9e-8d41-4e7a-b6a5-1c9d2e7f4a60"
    assert inv.vendor == "LENOVO 21HMCTO1WW (ThinkPad T14s Gen 4)"
    assert inv.disks == (
        InventoryDisk(
            "PhysicalDisk0",
            "SAMSUNG MZVL21T0HCLR-00BL7",
            "0025_38B3_21A5_6E2F.",
            1024209543168,
            False,
            "nvme",
        ),
    )
    assert inv.nics == ("Wi-Fi a4:c3:f0:5e:21:7b", "Ethernet 38:f3:ab:9c:04:d2")


def test_german_desktop() -> None:
    inv = _parse("sim-windows10-de-desktop")
    assert (inv.os_name, inv.os_version, inv.kernel) == (
        "Microsoft Windows 10 Pro",
        "22H2",
        "10.0.19045.5131",
    )
    assert inv.vendor == "FUJITSU ESPRIMO P758 (ESPRIMO-FTS)"
    assert [(d.serial, d.rotational, d.transport) for d in inv.disks] == [
        ("S3Z1NB0K******", False, "sata"),
        ("WD-WCC6Y4KJ1F2N", True, "sata"),
    ]
    assert inv.nics[1] == "WLAN 50:3e:aa:71:c2:09"


def test_minimal_and_older_builds() -> None:
    doc = {
        "OperatingSystem": {
            "Caption": "Microsoft Windows 10 Enterprise",
            "Version": "10.0.18363",
            "CSName": "WS1",
        },
        "ComputerSystem": None,
        "CurrentVersion": {"ReleaseId": "1909"},  # before 20H2 there was no DisplayVersion
        "Processors": {
            "Name": "Intel(R) Core(TM) i5-6300U CPU @ 2.40GHz",
            "Architecture": 9,
            "NumberOfLogicalProcessors": 4,
        },  # fmt: skip
    }
    inv = win_cim_os_json.parse(json.dumps(doc)).value
    assert (inv.hostname, inv.os_version, inv.kernel, inv.cpu_cores) == (
        "WS1",
        "1909",
        "10.0.18363",
        4,
    )
    assert (inv.vendor, inv.uptime_seconds, inv.disks) == ("", 0, ())


def test_placeholder_vendor_strings_are_dropped() -> None:
    cs = {
        "Manufacturer": "To Be Filled By O.E.M.",
        "Model": "B550M Pro4",
        "SystemFamily": "To Be Filled By O.E.M.",
    }
    doc = {"OperatingSystem": {"CSName": "X"}, "ComputerSystem": cs}
    assert win_cim_os_json.parse(json.dumps(doc)).value.vendor == "B550M Pro4"


def test_a_bad_disk_entry_is_a_warning() -> None:
    doc = {"OperatingSystem": {"CSName": "X"}, "PhysicalDisks": [{"DeviceId": "0", "Size": "big"}]}
    parsed = win_cim_os_json.parse(json.dumps(doc))
    assert (parsed.value.disks, parsed.warnings) == ((), 1)


@pytest.mark.parametrize("text", ["", "[]", '{"ComputerSystem":{}}', '{"OperatingSystem":{}}'])
def test_unusable(text: str) -> None:
    with pytest.raises(ParseError):
        win_cim_os_json.parse(text)
