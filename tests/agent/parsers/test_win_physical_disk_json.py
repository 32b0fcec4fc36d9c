"""Get-PhysicalDisk + Get-StorageReliabilityCounter JSON → SmartDevice."""

import json
from pathlib import Path

from agent.parsers import win_physical_disk_json
from agent.records import SmartDevice

HOSTS = Path(__file__).resolve().parents[2] / "fixtures" / "hosts"


def _fixture(host: str) -> tuple[SmartDevice, ...]:
    parsed = win_physical_disk_json.parse(
        (HOSTS / host / "win_physical_disks").read_bytes().decode()
    )
    assert parsed.warnings == 0
    return parsed.value


def test_laptop_nvme() -> None:
    (nvme,) = _fixture("sim-windows11-laptop")
    assert nvme == SmartDevice(
        device="PhysicalDisk0",
        protocol="NVMe",
        model="SAMSUNG MZVL21T0HCLR-00BL7",
        serial="0025_38B3_21A5_6E2F.",
        firmware="GXA7801Q",
        health_known=True,
        health_passed=True,
        temperature_c=41,
        power_on_hours=2841,
        nvme_percentage_used=3,
    )


def test_german_sata_disks_with_masked_serial_and_null_counters() -> None:
    ssd, hdd = _fixture("sim-windows10-de-desktop")
    assert (ssd.protocol, ssd.serial, ssd.nvme_percentage_used) == ("ATA", "S3Z1NB0K******", 0)
    assert (hdd.device, hdd.temperature_c, hdd.power_on_hours, hdd.reported_uncorrect) == (
        "PhysicalDisk1",
        36,
        31250,
        0,
    )
    assert not hdd.failed


def _disk(**extra: object) -> dict[str, object]:
    return {"DeviceId": "2", "FriendlyName": "ST2000DM008-2FR102", "BusType": 11, "HealthStatus": 0,
            "OperationalStatus": [2]} | extra  # fmt: skip


def test_health_verdicts() -> None:
    cases = [
        _disk(HealthStatus=2),  # Unhealthy
        _disk(HealthStatus="Warning"),
        _disk(OperationalStatus=[5, 2]),  # Predictive Failure
        _disk(HealthStatus=5),  # Unknown
        _disk(HealthStatus=None, OperationalStatus="OK"),
    ]
    got = [
        (d.health_known, d.health_passed, d.failed)
        for d in win_physical_disk_json.parse(json.dumps(cases)).value
    ]
    assert got == [
        (True, False, True),
        (True, False, True),
        (True, False, True),
        (False, False, False),
        (False, False, False),
    ]


def test_uncorrected_errors_by_protocol() -> None:
    counters = {
        "ReadErrorsUncorrected": 3,
        "WriteErrorsUncorrected": 1,
        "Wear": 12,
        "Temperature": 70,
    }
    nvme, sata, usb = win_physical_disk_json.parse(
        json.dumps(
            [
                _disk(BusType="NVMe", Reliability=counters),
                _disk(Reliability=counters),
                _disk(BusType=7),
            ]
        )
    ).value
    assert (nvme.nvme_media_errors, nvme.reported_uncorrect, nvme.nvme_percentage_used) == (
        4,
        0,
        12,
    )
    assert (sata.nvme_media_errors, sata.reported_uncorrect, sata.nvme_percentage_used) == (0, 4, 0)
    assert (usb.protocol, usb.temperature_c) == ("USB", 0)


def test_ugly_input() -> None:
    parsed = win_physical_disk_json.parse(
        "\ufeff" + json.dumps([_disk(), {"FriendlyName": "no id"}, None, "x"]) + "\r\n"
    )
    assert [d.device for d in parsed.value] == ["PhysicalDisk2"]
    assert parsed.warnings == 2
