"""The SMART corpus manifests' facts, checked against a parsed SmartDevice.

Both corpus folders (smart/json, smart/text) describe each file with the same keys, so one
check serves both: tests/agent/parsers/test_smartctl_{json,text}_corpus.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agent.records import SmartDevice

ATTRIBUTE_FIELDS = {
    "5": "reallocated_sectors",
    "187": "reported_uncorrect",
    "188": "command_timeout",
    "197": "pending_sectors",
    "198": "offline_uncorrectable",
    "199": "udma_crc_errors",
}
NVME_FIELDS = {
    "critical_warning": "nvme_critical_warning",
    "media_errors": "nvme_media_errors",
    "percentage_used": "nvme_percentage_used",
    "available_spare": "nvme_available_spare",
    "available_spare_threshold": "nvme_available_spare_threshold",
    "unsafe_shutdowns": "nvme_unsafe_shutdowns",
    "error_log_entries": "nvme_error_log_entries",
}
SCSI_FIELDS = {
    "grown_defects": "scsi_grown_defects",
    "uncorrected_errors": "scsi_uncorrected_errors",
}


def check(device: SmartDevice, fact: Mapping[str, Any], attributes: Mapping[str, Any]) -> None:
    """Every manifest fact of one file; `attributes` is the manifest's, with any errata."""
    assert device.protocol.lower() == fact["kind"]
    assert device.model == fact["model"]
    assert device.firmware == fact["firmware"]
    assert device.health_known == (fact["health"] != "unknown")
    assert device.health_passed == (fact["health"] != "FAILED")
    assert device.failed == (fact["health"] == "FAILED")
    attrs = {str(attr.id): attr for attr in device.attributes}
    for attr_id, want in attributes.items():
        assert (attrs[attr_id].name, attrs[attr_id].raw) == (want["name"], want["raw"]), attr_id
    for attr_id, field in ATTRIBUTE_FIELDS.items():
        assert getattr(device, field) == attributes.get(attr_id, {}).get("raw", 0), attr_id
    failing_now = sorted(a.id for a in device.attributes if a.when_failed == "FAILING_NOW")
    assert failing_now == sorted(fact["failing_now"])
    prefail_now = sorted(
        a.id for a in device.attributes if a.when_failed == "FAILING_NOW" and a.prefailure
    )
    assert prefail_now == sorted(fact["failing_now_prefail"])
    past = sorted(a.id for a in device.attributes if a.when_failed == "In_the_past")
    assert past == sorted(fact["failed_in_past"])
    nvme = fact["nvme"] or {}
    for key, field in NVME_FIELDS.items():
        assert getattr(device, field) == (nvme.get(key) or 0), key
    scsi = fact["scsi"] or {}
    for key, field in SCSI_FIELDS.items():
        assert getattr(device, field) == (scsi.get(key) or 0), key
    assert device.power_on_hours == (fact["power_on_hours"] or 0)
    assert device.selftest_failures == fact["selftest_failures"]
    assert device.ata_error_count == (fact["ata_error_count"] or 0)
