"""Small documents in the shape smartctl 7.x writes (keys as in smartmontools' JSON output);
the full real outputs are checked in test_smartctl_json_corpus.py."""

import json

import pytest

from agent.parsers import ParseError, smartctl_json
from agent.records import SmartAttribute, SmartDevice


def _attr(
    attr_id: int, name: str, raw: int, *, prefailure: bool = False, when_failed: str = ""
) -> dict[str, object]:
    return {
        "id": attr_id,
        "name": name,
        "value": 100,
        "worst": 100,
        "thresh": 10,
        "when_failed": when_failed,
        "flags": {
            "value": 51 if prefailure else 50,
            "string": "PO--CK " if prefailure else "-O--CK ",
            "prefailure": prefailure,
            "updated_online": True,
            "performance": False,
            "error_rate": False,
            "event_count": True,
            "auto_keep": True,
        },
        "raw": {"value": raw, "string": str(raw)},
    }


def _row(attr_id: int, name: str, raw: int, prefailure: bool = False) -> SmartAttribute:
    return SmartAttribute(attr_id, name, 100, 100, 10, raw, prefailure, "")


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
            _attr(1, "Raw_Read_Error_Rate", 0, prefailure=True),
            _attr(5, "Reallocated_Sector_Ct", 8, prefailure=True),
            _attr(9, "Power_On_Hours", 4994),
            _attr(187, "Reported_Uncorrect", 3),
            _attr(188, "Command_Timeout", 4295032833),
            _attr(197, "Current_Pending_Sector", 2),
            _attr(198, "Offline_Uncorrectable", 1),
            _attr(199, "UDMA_CRC_Error_Count", 12),
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


def test_ata_with_health_bits_in_exit_status() -> None:
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
        reported_uncorrect=3,
        command_timeout=4295032833,  # raw.value: Seagate packs three counters into 188
        udma_crc_errors=12,
        attributes=(
            _row(1, "Raw_Read_Error_Rate", 0, prefailure=True),
            _row(5, "Reallocated_Sector_Ct", 8, prefailure=True),
            _row(9, "Power_On_Hours", 4994),
            _row(187, "Reported_Uncorrect", 3),
            _row(188, "Command_Timeout", 4295032833),
            _row(197, "Current_Pending_Sector", 2),
            _row(198, "Offline_Uncorrectable", 1),
            _row(199, "UDMA_CRC_Error_Count", 12),
        ),
    )


def test_nvme_failed() -> None:
    device = smartctl_json.parse(json.dumps(NVME_FAILED))
    assert device.failed
    assert (device.health_known, device.health_passed) == (True, False)
    assert (device.nvme_critical_warning, device.nvme_percentage_used) == (16, 3)
    assert (device.protocol, device.temperature_c, device.power_on_hours) == ("NVMe", 40, 18376)
    assert device.smartctl_exit_status == 8


def test_nvme_falls_back_to_the_health_log() -> None:
    doc = {k: v for k, v in NVME_FAILED.items() if k not in ("temperature", "power_on_time")}
    device = smartctl_json.parse(json.dumps(doc))
    assert (device.temperature_c, device.power_on_hours) == (40, 18376)


def test_scsi_key_names_across_versions() -> None:
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


def test_minimal_document_keeps_defaults_and_health_unknown() -> None:
    # What an old smartctl or a partial read leaves: no smart_status, no attributes.
    doc = {"smartctl": {"exit_status": 0}, "device": {"name": "/dev/sdb"}}
    device = smartctl_json.parse(json.dumps(doc))
    assert device == SmartDevice(device="/dev/sdb", protocol="")
    assert not device.health_known and not device.failed


def test_disks_behind_a_raid_controller_keep_distinct_names() -> None:
    doc = {
        "smartctl": {"exit_status": 0},
        "device": {"name": "/dev/bus/0", "type": "megaraid,3", "protocol": "SCSI"},
    }
    assert smartctl_json.parse(json.dumps(doc)).device == "/dev/bus/0 [megaraid,3]"


def test_attribute_rows_keep_flags_and_when_failed() -> None:
    doc = ATA | {
        "ata_smart_attributes": {
            "table": [
                _attr(5, "Reallocated_Sector_Ct", 1345, prefailure=True, when_failed="now")
                | {"value": 35, "worst": 35, "thresh": 36},
                _attr(190, "Airflow_Temperature_Cel", 40, when_failed="past"),
            ]
        }
    }
    assert smartctl_json.parse(json.dumps(doc)).attributes == (
        SmartAttribute(5, "Reallocated_Sector_Ct", 35, 35, 36, 1345, True, "FAILING_NOW"),
        SmartAttribute(190, "Airflow_Temperature_Cel", 100, 100, 10, 40, False, "In_the_past"),
    )


def test_nvme_health_log_counters() -> None:
    log = NVME_FAILED["nvme_smart_health_information_log"]
    assert isinstance(log, dict)
    doc = NVME_FAILED | {
        "nvme_smart_health_information_log": log
        | {
            "available_spare": 98,
            "available_spare_threshold": 32,
            "unsafe_shutdowns": 247,
            "media_errors": 142,
            "num_err_log_entries": 2,
        }
    }
    device = smartctl_json.parse(json.dumps(doc))
    assert (device.nvme_available_spare, device.nvme_available_spare_threshold) == (98, 32)
    assert (device.nvme_media_errors, device.nvme_unsafe_shutdowns) == (142, 247)
    assert device.nvme_error_log_entries == 2


def test_scsi_defects_and_uncorrected_errors_of_every_operation() -> None:
    def counters(uncorrected: int) -> dict[str, object]:
        return {"gigabytes_processed": "11523.849", "total_uncorrected_errors": uncorrected}

    doc = {
        "smartctl": {"exit_status": 0},
        "device": {"name": "/dev/sdb", "type": "scsi", "protocol": "SCSI"},
        "scsi_grown_defect_list": 260,
        "scsi_error_counter_log": {
            "read": counters(1),
            "write": counters(535),
            "verify": counters(2),
        },
    }
    device = smartctl_json.parse(json.dumps(doc))
    assert (device.scsi_grown_defects, device.scsi_uncorrected_errors) == (260, 538)


def _ata_test(status: int, string: str) -> dict[str, object]:
    return {
        "type": {"value": 1, "string": "Short offline"},
        "status": {"value": status, "string": string, "passed": status == 0},
        "lifetime_hours": 12309,
    }


def test_ata_self_test_failures_count_the_extended_log_once() -> None:
    # The status byte's high nibble: 0 ok, 1 aborted, 2 interrupted, 3-8 failed, 15 running.
    table = [
        _ata_test(0, "Completed without error"),
        _ata_test(0x79, "Completed: read failure"),
        _ata_test(0x19, "Aborted by host"),
        _ata_test(0x2F, "Interrupted (host reset)"),
        _ata_test(0x3F, "Fatal or unknown error"),
        _ata_test(0x8F, "Completed: handling damage??"),
        _ata_test(0xF9, "Self-test routine in progress"),
    ]
    extended = {"extended": {"revision": 1, "sectors": 1, "table": table}}
    both = {"extended": {"table": table}, "standard": {"table": table}}
    standard = {"standard": {"revision": 1, "table": table[:2]}}
    for log, failed in ((extended, 3), (both, 3), (standard, 1)):
        doc = ATA | {"ata_smart_self_test_log": log}
        assert smartctl_json.parse(json.dumps(doc)).selftest_failures == failed


def test_nvme_and_scsi_self_test_failures() -> None:
    def nvme(result: int) -> dict[str, object]:
        return {"self_test_code": {"value": 1}, "self_test_result": {"value": result}}

    # NVMe results 5-7 are failures; 0 ok, 1-4 and 8-9 aborted.
    nvme_doc = NVME_FAILED | {
        "nvme_self_test_log": {"table": [nvme(r) for r in (0, 1, 2, 5, 6, 7, 8, 9)]}
    }
    assert smartctl_json.parse(json.dumps(nvme_doc)).selftest_failures == 3
    # SCSI results 3-7 are failures; 0 completed, 1-2 aborted, 15 running.
    scsi_doc: dict[str, object] = {
        "smartctl": {"exit_status": 0},
        "device": {"name": "/dev/sdc", "type": "scsi", "protocol": "SCSI"},
    }
    for n, result in enumerate((0, 1, 2, 3, 4, 5, 6, 7, 15)):
        scsi_doc[f"scsi_self_test_{n}"] = {
            "code": {"value": 1, "string": "Background short"},
            "result": {"value": result, "string": "..."},
            "power_on_time": {"hours": 41724 - n},
        }
    assert smartctl_json.parse(json.dumps(scsi_doc)).selftest_failures == 5


def test_ata_error_count_prefers_the_extended_log() -> None:
    summary = {"summary": {"revision": 1, "count": 12, "logged_count": 5}}
    both = summary | {"extended": {"revision": 1, "sectors": 5, "count": 3448}}
    assert (
        smartctl_json.parse(json.dumps(ATA | {"ata_smart_error_log": summary})).ata_error_count
        == 12
    )
    assert (
        smartctl_json.parse(json.dumps(ATA | {"ata_smart_error_log": both})).ata_error_count == 3448
    )
    assert smartctl_json.parse(json.dumps(ATA)).ata_error_count == 0


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


def test_messages() -> None:
    assert smartctl_json.messages(json.dumps(OPEN_FAILED)) == (
        "Smartctl open device: /dev/sda failed: Permission denied",
    )
    assert smartctl_json.messages(json.dumps(ATA)) == ()


def test_open_failure_is_a_parse_error_that_says_why() -> None:
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
        (
            '{"smartctl": {}, "device": {"name": "x"}, "ata_smart_attributes": {"table": [1]}}',
            r"key 'ata_smart_attributes.table\[0\]': expected an object",
        ),
        (
            '{"smartctl": {}, "device": {"name": "x"},'
            ' "ata_smart_attributes": {"table": [{"id": 5, "flags": {"prefailure": 1}}]}}',
            "key 'flags.prefailure': expected bool",
        ),
        (
            '{"smartctl": {}, "device": {"name": "x"},'
            ' "ata_smart_self_test_log": {"extended": {"table": ["x"]}}}',
            r"key 'ata_smart_self_test_log.extended.table\[0\]': expected an object",
        ),
    ],
)
def test_garbled(text: str, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        smartctl_json.parse(text)
