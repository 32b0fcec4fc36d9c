"""system_profiler -json storage, hardware and Wi-Fi documents: the fixture Macs' and
broken variants."""

import json
from pathlib import Path

import pytest

from agent.parsers import ParseError
from agent.parsers import macos_system_profiler_json as sp
from agent.records import InventoryDisk

HOSTS = Path(__file__).resolve().parents[2] / "fixtures" / "hosts"
MACBOOK = HOSTS / "sim-macos14-macbook"
IMAC = HOSTS / "sim-macos12-intel-imac"


def test_nvme_verified() -> None:
    parsed = sp.parse_smart((MACBOOK / "system_profiler_storage").read_text())
    assert parsed.warnings == 0
    (ssd,) = parsed.value
    assert (ssd.device, ssd.protocol, ssd.model) == ("/dev/disk0", "NVMe", "APPLE SSD AP0512Z")
    assert (ssd.serial, ssd.firmware) == ("0ba01a7c41e22b3f", "874.101.2")
    assert ssd.health_known and ssd.health_passed and not ssd.failed


def test_sata_failing() -> None:
    (hdd,) = sp.parse_smart((IMAC / "system_profiler_storage").read_text()).value
    assert (hdd.device, hdd.protocol, hdd.firmware) == ("/dev/disk0", "ATA", "AQ04")
    assert hdd.failed


def test_disks() -> None:
    parsed = sp.parse_disks((IMAC / "system_profiler_storage").read_text())
    assert parsed.value == (
        InventoryDisk(
            "disk0", "APPLE HDD ST1000DM003", "SIMFAULT0009", 1_000_204_886_016, True, "sata"
        ),
    )


def _nvme(*drives: object) -> str:
    return json.dumps({"SPNVMeDataType": [{"_name": "ctl", "_items": list(drives)}]})


def test_not_supported_is_unknown_and_odd_values_warn() -> None:
    usb = {"bsd_name": "disk4", "device_model": "X", "smart_status": "Not Supported"}
    odd = {"bsd_name": "disk5", "smart_status": "Spinning"}
    wrong = {"bsd_name": 5}
    parsed = sp.parse_smart(_nvme(usb, odd, "text", wrong))
    assert [(d.device, d.health_known) for d in parsed.value] == [
        ("/dev/disk4", False),
        ("/dev/disk5", False),
    ]
    assert parsed.warnings == 3  # the odd status, the non-object, the wrong type


def test_a_vm_has_no_drives() -> None:
    parsed = sp.parse_smart('{"SPNVMeDataType" : [\n\n  ],"SPSerialATADataType" : [\n\n  ]}')
    assert parsed.value == () and parsed.warnings == 0


def test_not_json_raises() -> None:
    with pytest.raises(ParseError):
        sp.parse_smart('{"SPNVMeDataType" : [ {"_items" : [')


def test_hardware() -> None:
    inv = sp.parse_hardware((MACBOOK / "system_profiler_hardware").read_text()).value
    assert inv.vendor == "Apple Inc. MacBook Air (Mac14,2)"
    assert inv.cpu_model == "Apple M2"
    assert inv.machine_id == "6a1f3c9e-5b27-4d8a-9e41-2c7b0d5f8a13"
    intel = sp.parse_hardware((IMAC / "system_profiler_hardware").read_text()).value
    assert intel.cpu_model == "Quad-Core Intel Core i5"
    with pytest.raises(ParseError):
        sp.parse_hardware('{"SPHardwareDataType": []}')


def test_wifi_redacted_ssid_and_signal() -> None:
    parsed = sp.parse_wifi((MACBOOK / "system_profiler_airport").read_text())
    (radio,) = parsed.value  # awdl0 is no radio of its own
    assert (radio.name, radio.kind, radio.oper_state) == ("en0", "wifi", "up")
    assert (radio.wifi_ssid, radio.wifi_signal_dbm) == ("", -71)
    (off,) = sp.parse_wifi((IMAC / "system_profiler_airport").read_text()).value
    assert (off.name, off.oper_state, off.wifi_signal_dbm) == ("en1", "down", 0)


def test_wifi_named_ssid_and_bad_signal() -> None:
    doc = {
        "SPAirPortDataType": [
            {
                "spairport_airport_interfaces": [
                    {
                        "_name": "en0",
                        "spairport_status_information": "spairport_status_connected",
                        "spairport_current_network_information": {
                            "_name": "Office",
                            "spairport_signal_noise": "strong",
                        },
                    }
                ]
            }
        ]
    }
    parsed = sp.parse_wifi(json.dumps(doc))
    assert parsed.value[0].wifi_ssid == "Office"
    assert parsed.value[0].wifi_signal_dbm == 0
    assert parsed.warnings == 1
