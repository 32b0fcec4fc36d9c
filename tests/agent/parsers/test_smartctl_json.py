"""Small documents in the shape smartctl 7.x writes (keys as in smartmontools' JSON output);
the full real outputs are checked in test_smartctl_json_corpus.py."""

import json

import pytest

from agent.parsers import ParseError, smartctl_json
from agent.records import SmartDevice


def _attr(attr_id: int, name: str, raw: int) -> dict[str, object]:
    return {
        "id": attr_id,
        "name": name,
        "value": 100,
        "worst": 100,
        "thresh": 10,
        "when_failed": "",
        "raw": {"value": raw, "string": str(raw)},
    }


ATA = {
    "json_format_version": [1, 0],
    "smartctl": {
        "version": [7, 3],
        "argv": ["smartctl", "--json", "-x", "/dev/sda"],
        "exit_status": 4,
    },
    "device": {
        "name": "/dev/sda",
        "info_name": "/dev/sda [SAT]",
        "type": "sat",
        "protocol": "ATA",
    },
    "model_family": "Phison Driven SSDs",
    "model_name": "KINGSTON SA400M8120G",
    "serial_number": "50026B7783000000",
    "firmware_version": "S1Z40102",
    "smart_status": {"passed": True},
    "ata_smart_attributes": {
        "revision": 16,
        "table": [
            _attr(1, "Raw_Read_Error_Rate", 0),
            _attr(5, "Reallocated_Sector_Ct", 8),
            _attr(9, "Power_On_Hours", 4994),
            _attr(197, "Current_Pending_Sector", 2),
            _attr(198, "Offline_Uncorrectable", 1),
        ],
    },
    "power_on_time": {"hours": 4994},
    "temperature": {"current": 38},
}

NVME_FAILED = {
    "json_format_version": [1, 0],
    "smartctl": {"version": [7, 3], "exit_status": 8},
    "device": {
        "name": "/dev/nvme0",
        "info_name": "/dev/nvme0",
        "type": "nvme",
        "protocol": "NVMe",
    },
    "model_name": "SAMSUNG MZWLL3T2HAJQ-00005",
    "serial_number": "S3AAAA0000000",
    "firmware_version": "GPNA9B3Q",
    "smart_status": {"passed": False, "nvme": {"value": 16, "volatile_memory_backup_failed": True}},
    "nvme_smart_health_information_log": {
        "critical_warning": 16,
        "temperature": 40,
        "available_spare": 100,
        "percentage_used": 3,
        "power_on_hours": 18376,
        "media_errors": 0,
    },
    "temperature": {"current": 40},
    "power_on_time": {"hours": 18376},
}


def test_ata_with_health_bits_in_exit_status():
    assert smartctl_json.parse(json.dumps(ATA)) == SmartDevice(
        device="/dev/sda",
        protocol="ATA",
        model="KINGSTON SA400M8120G",
        serial="50026B7783000000",
        firmware="S1Z40102",
        health_known=True,
        health_passed=True,
        temperature_c=38,
        power_on_hours=4994,
        reallocated_sectors=8,
        pending_sectors=2,
        offline_uncorrectable=1,
        smartctl_exit_status=4,
    )


def test_nvme_failed():
    device = smartctl_json.parse(json.dumps(NVME_FAILED))
    assert device.failed
    assert (device.health_known, device.health_passed) == (True, False)
    assert (device.nvme_critical_warning, device.nvme_percentage_used) == (16, 3)
    assert (device.protocol, device.temperature_c, device.power_on_hours) == ("NVMe", 40, 18376)
    assert device.smartctl_exit_status == 8


def test_nvme_falls_back_to_the_health_log():
    doc = {k: v for k, v in NVME_FAILED.items() if k not in ("temperature", "power_on_time")}
    device = smartctl_json.parse(json.dumps(doc))
    assert (device.temperature_c, device.power_on_hours) == (40, 18376)


def test_scsi_key_names_across_versions():
    base = {
        "smartctl": {"exit_status": 0},
        "smart_status": {"passed": True},
        "device": {"name": "/dev/da5", "type": "scsi", "protocol": "SCSI"},
    }
    v72 = base | {
        "vendor": "TOSHIBA",
        "product": "AL13SXB60EN",
        "model_name": "TOSHIBA AL13SXB60EN",
        "revision": "5702",
    }
    v73 = base | {
        "scsi_vendor": "TOSHIBA",
        "scsi_product": "AL13SXB60EN",
        "scsi_model_name": "TOSHIBA AL13SXB60EN",
        "scsi_revision": "5702",
    }
    no_model = base | {"vendor": "TOSHIBA ", "product": "AL13SXB60EN"}
    for doc in (v72, v73, no_model):
        device = smartctl_json.parse(json.dumps(doc))
        assert device.model == "TOSHIBA AL13SXB60EN"
    assert smartctl_json.parse(json.dumps(v73)).firmware == "5702"
    assert smartctl_json.parse(json.dumps(v72)).firmware == "5702"


def test_minimal_document_keeps_defaults_and_health_unknown():
    # What an old smartctl or a partial read leaves: no smart_status, no attributes.
    doc = {"smartctl": {"exit_status": 0}, "device": {"name": "/dev/sdb"}}
    device = smartctl_json.parse(json.dumps(doc))
    assert device == SmartDevice(device="/dev/sdb", protocol="")
    assert not device.health_known and not device.failed


def test_disks_behind_a_raid_controller_keep_distinct_names():
    doc = {
        "smartctl": {"exit_status": 0},
        "device": {"name": "/dev/bus/0", "type": "megaraid,3", "protocol": "SCSI"},
    }
    assert smartctl_json.parse(json.dumps(doc)).device == "/dev/bus/0 [megaraid,3]"


OPEN_FAILED = {
    "json_format_version": [1, 0],
    "smartctl": {
        "version": [7, 3],
        "exit_status": 2,
        "messages": [
            {
                "string": "Smartctl open device: /dev/sda failed: Permission denied",
                "severity": "error",
            }
        ],
    },
}


def test_messages():
    assert smartctl_json.messages(json.dumps(OPEN_FAILED)) == (
        "Smartctl open device: /dev/sda failed: Permission denied",
    )
    assert smartctl_json.messages(json.dumps(ATA)) == ()


def test_open_failure_is_a_parse_error_that_says_why():
    with pytest.raises(ParseError, match="missing key 'device.name' .*Permission denied"):
        smartctl_json.parse(json.dumps(OPEN_FAILED))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("smartctl 7.3 2022-02-28 r5338 [x86_64-linux-6.1.0]", "not JSON"),
        ('{"devices": []}', "missing key 'smartctl'"),
        (
            '{"smartctl": {}, "device": {"name": "/dev/sda"}, "smart_status": {"passed": 1}}',
            "key 'smart_status.passed': expected bool",
        ),
        (
            '{"smartctl": {"exit_status": "0"}, "device": {"name": "/dev/sda"}}',
            "key 'smartctl.exit_status': expected int",
        ),
        (
            '{"smartctl": {}, "device": {"name": "x"}, "ata_smart_attributes": {"table": [{}]}}',
            r"table\[0\]\.id",
        ),
        (
            '{"smartctl": {}, "device": {"name": "x"}, "temperature": {"current": "hot"}}',
            "key 'temperature.current'",
        ),
    ],
)
def test_garbled(text, message):
    with pytest.raises(ParseError, match=message):
        smartctl_json.parse(text)
