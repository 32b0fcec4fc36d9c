"""Win32_PnPSignedDriver JSON → DriverInfo."""

import json
from pathlib import Path

from agent.parsers import win_signed_drivers_json
from agent.records import DriverInfo

HOSTS = Path(__file__).resolve().parents[2] / "fixtures" / "hosts"


def test_laptop_drivers() -> None:
    parsed = win_signed_drivers_json.parse(
        (HOSTS / "sim-windows11-laptop" / "win_signed_drivers").read_bytes().decode()
    )
    assert parsed.warnings == 0 and len(parsed.value) == 12
    assert parsed.value[0] == DriverInfo(
        name="Intel(R) Wi-Fi 6E AX211 160MHz",
        version="23.60.0.10",
        provider="Intel",
        signed=True,
        date="2024-06-12",
        device="PCI\\VEN_8086&DEV_51F1&SUBSYS_00948086&REV_01\\3&11583659&0&A3",
    )


def test_german_names_with_umlauts() -> None:
    drivers = win_signed_drivers_json.parse(
        (HOSTS / "sim-windows10-de-desktop" / "win_signed_drivers").read_bytes().decode()
    ).value
    assert "PCI-Standard-Host-CPU-Brücke" in {d.name for d in drivers}


def test_dates_unsigned_and_missing_versions() -> None:
    items = [
        {
            "DeviceName": "A",
            "DriverVersion": "1.0",
            "DriverDate": "20230615000000.******+000",
            "IsSigned": False,
        },
        {
            "DeviceName": "B",
            "DriverVersion": "2.0",
            "DriverDate": "2023-06-15T00:00:00+00:00",
            "IsSigned": None,
        },
        {"DeviceName": "C", "DriverVersion": None},
        {"DeviceID": "ROOT\\D", "DriverVersion": "3.0"},
        {"DeviceName": "E", "DriverVersion": "4.0", "DriverDate": "last June"},
    ]
    parsed = win_signed_drivers_json.parse(json.dumps(items))
    assert [(d.name, d.signed, d.date) for d in parsed.value] == [
        ("A", False, "2023-06-15"),  # DMTF, as Get-WmiObject gives it
        ("B", True, "2023-06-15"),
        ("ROOT\\D", True, ""),
    ]
    assert parsed.warnings == 1
