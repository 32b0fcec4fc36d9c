"""Win32_PnPEntity with a problem code → Device; phantoms left out."""

import json
from pathlib import Path

from agent.parsers import win_pnp_devices_json
from agent.records import Device

HOSTS = Path(__file__).resolve().parents[2] / "fixtures" / "hosts"


def test_laptop_code_43_and_a_phantom() -> None:
    text = (HOSTS / "sim-windows11-laptop" / "win_pnp_problem_devices").read_bytes().decode()
    assert "\\u0026" in text  # Windows PowerShell 5.1 writes & that way
    parsed = win_pnp_devices_json.parse(text)
    assert parsed.value == (
        Device(
            id="USB\\VID_8087&PID_0033\\5&2B7C4A1&0&10",
            name="Intel(R) Wireless Bluetooth(R)",
            bus="usb",
            driver="BTHUSB",
            problem_code=43,
            problem="CM_PROB_FAILED_POST_START: "
            "Windows has stopped this device because it has reported problems.",
            status="Error",
        ),
    )


def test_german_desktop_has_none() -> None:
    assert (
        win_pnp_devices_json.parse(
            (HOSTS / "sim-windows10-de-desktop" / "win_pnp_problem_devices").read_text()
        ).value
        == ()
    )


def test_codes_and_ugly_entries() -> None:
    items = [
        {
            "PNPDeviceID": "PCI\\VEN_8086&DEV_A0E8",
            "ConfigManagerErrorCode": 28,
            "Name": "PCI-Gerät",
        },
        {"PNPDeviceID": "ACPI\\INT33A1\\1", "ConfigManagerErrorCode": 10},
        {"PNPDeviceID": "ROOT\\X\\0000", "ConfigManagerErrorCode": 99, "Present": None},
        {"PNPDeviceID": "USB\\Y", "ConfigManagerErrorCode": 22, "Present": False},
        {"Name": "no id", "ConfigManagerErrorCode": 43},
        {"PNPDeviceID": "Z", "ConfigManagerErrorCode": "x"},
    ]
    parsed = win_pnp_devices_json.parse(json.dumps(items))
    assert [(d.bus, d.problem_code, d.problem.split(":")[0]) for d in parsed.value] == [
        ("pci", 28, "CM_PROB_FAILED_INSTALL"),
        ("acpi", 10, "CM_PROB_FAILED_START"),
        ("root", 99, "Code 99"),
    ]
    assert parsed.value[1].problem == "CM_PROB_FAILED_START: This device cannot start."
    assert parsed.warnings == 2


def test_problem_text() -> None:
    assert win_pnp_devices_json.problem(0) == ""
    assert win_pnp_devices_json.problem(56) == "CM_PROB_NEED_CLASS_CONFIG"
