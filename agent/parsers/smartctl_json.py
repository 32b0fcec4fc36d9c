"""`smartctl --json -x <dev>` → SmartDevice, for ATA, NVMe and SCSI devices.

Keys used (smartmontools JSON format 1.0; smartctl 7.0+; https://www.smartmontools.org/wiki/JSON):

    smartctl.exit_status       bit mask, see agent/specs.py; bits >= 2 are disk findings
    smartctl.messages[]        {"string", "severity"}; the reason when a device cannot be read
    device.name/.type/.protocol  "/dev/sda", "sat", "ATA" | "NVMe" | "SCSI"
    smart_status.passed        absent when smartctl could not ask → health unknown
    model_name                 ATA, NVMe and SCSI up to 7.2; SCSI 7.3+ renamed it
                               scsi_model_name; else vendor+product / scsi_vendor+scsi_product
    firmware_version           ATA/NVMe; SCSI: revision (7.2-) or scsi_revision (7.3+)
    temperature.current        all kinds; NVMe also has ...health_information_log.temperature
    power_on_time.hours        all kinds (absent on some SCSI disks)
    ata_smart_attributes.table[] {"id", "name", "value", "worst", "thresh", "when_failed"
                               ("" | "now" | "past"), "flags": {"prefailure"}, "raw": {"value"}}:
                               5 reallocated, 187 reported uncorrect, 188 command timeout,
                               197 pending, 198 offline uncorrectable, 199 UDMA CRC errors
    nvme_smart_health_information_log.critical_warning / .percentage_used / .media_errors /
                               .available_spare(_threshold) / .unsafe_shutdowns /
                               .num_err_log_entries
    scsi_grown_defect_list     SCSI "Elements in grown defect list"
    scsi_error_counter_log.{read,write,verify}.total_uncorrected_errors
    ata_smart_error_log.extended.count | .summary.count   (-x reads the extended log first)
    ata_smart_self_test_log.{extended,standard}.table[].status.value  status byte; high nibble
                               3-8 is a failed test (ataprint.cpp)
    nvme_self_test_log.table[].self_test_result.value   5-7 failed (nvmeprint.cpp)
    scsi_self_test_0..19.result.value                   3-7 failed (scsiprint.cpp)

Every key except `smartctl` and `device.name` is optional: old versions and partial
reads leave sections out, and the record keeps its default.
"""

from __future__ import annotations

from agent.parsers import ParseError
from agent.parsers._json import (
    JsonObject,
    get_bool,
    get_int,
    get_list,
    get_object,
    get_str,
    load_object,
    lookup,
)
from agent.records import SmartAttribute, SmartDevice

ATA_REALLOCATED = 5
ATA_REPORTED_UNCORRECT = 187
ATA_COMMAND_TIMEOUT = 188
ATA_PENDING = 197
ATA_OFFLINE_UNCORRECTABLE = 198
ATA_UDMA_CRC_ERRORS = 199
_NVME_LOG = "nvme_smart_health_information_log"
# The record's vocabulary is the text report's WHEN_FAILED column (-f old).
_WHEN_FAILED = {"": "", "now": "FAILING_NOW", "past": "In_the_past"}
_ATA_TEST_FAILED = range(3, 9)
_NVME_TEST_FAILED = range(5, 8)
_SCSI_TEST_FAILED = range(3, 8)
_SCSI_SELF_TESTS = 20  # the SCSI self-test log page holds 20 entries


def parse(text: str) -> SmartDevice:
    doc = load_object(text, "smartctl")
    if not isinstance(lookup(doc, "smartctl"), dict):
        raise ParseError("smartctl: missing key 'smartctl' (not smartctl --json output?)")
    name = get_str(doc, "device.name")
    if not name:
        said = "; ".join(_messages(doc))
        raise ParseError("smartctl: missing key 'device.name'" + (f" ({said})" if said else ""))
    dev_type = get_str(doc, "device.type")
    passed = lookup(doc, "smart_status.passed")
    if passed is not None and not isinstance(passed, bool):
        raise ParseError(f"key 'smart_status.passed': expected bool, got {passed!r:.60}")
    table = _ata_attributes(doc)
    attrs = {attr.id: attr.raw for attr in table}
    return SmartDevice(
        # Several disks behind one RAID controller share a name (/dev/bus/0 -d megaraid,N).
        device=f"{name} [{dev_type}]" if "," in dev_type else name,
        protocol=get_str(doc, "device.protocol"),
        model=_model(doc),
        serial=get_str(doc, "serial_number"),
        firmware=get_str(doc, "firmware_version")
        or get_str(doc, "scsi_revision")
        or get_str(doc, "revision"),
        health_known=passed is not None,
        health_passed=passed is not False,
        temperature_c=get_int(doc, "temperature.current")
        or get_int(doc, f"{_NVME_LOG}.temperature"),
        power_on_hours=get_int(doc, "power_on_time.hours")
        or get_int(doc, f"{_NVME_LOG}.power_on_hours"),
        reallocated_sectors=attrs.get(ATA_REALLOCATED, 0),
        pending_sectors=attrs.get(ATA_PENDING, 0),
        offline_uncorrectable=attrs.get(ATA_OFFLINE_UNCORRECTABLE, 0),
        nvme_critical_warning=get_int(doc, f"{_NVME_LOG}.critical_warning"),
        nvme_percentage_used=get_int(doc, f"{_NVME_LOG}.percentage_used"),
        smartctl_exit_status=get_int(doc, "smartctl.exit_status"),
        reported_uncorrect=attrs.get(ATA_REPORTED_UNCORRECT, 0),
        command_timeout=attrs.get(ATA_COMMAND_TIMEOUT, 0),
        udma_crc_errors=attrs.get(ATA_UDMA_CRC_ERRORS, 0),
        nvme_media_errors=get_int(doc, f"{_NVME_LOG}.media_errors"),
        nvme_available_spare=get_int(doc, f"{_NVME_LOG}.available_spare"),
        nvme_available_spare_threshold=get_int(doc, f"{_NVME_LOG}.available_spare_threshold"),
        nvme_unsafe_shutdowns=get_int(doc, f"{_NVME_LOG}.unsafe_shutdowns"),
        nvme_error_log_entries=get_int(doc, f"{_NVME_LOG}.num_err_log_entries"),
        scsi_grown_defects=get_int(doc, "scsi_grown_defect_list"),
        scsi_uncorrected_errors=sum(
            get_int(doc, f"scsi_error_counter_log.{op}.total_uncorrected_errors")
            for op in ("read", "write", "verify")
        ),
        selftest_failures=_selftest_failures(doc),
        ata_error_count=get_int(doc, "ata_smart_error_log.extended.count")
        or get_int(doc, "ata_smart_error_log.summary.count"),
        attributes=table,
    )


def messages(text: str) -> tuple[str, ...]:
    """What smartctl said (`smartctl.messages[].string`), e.g. why a device could not be opened."""
    return _messages(load_object(text, "smartctl"))


def _messages(doc: JsonObject) -> tuple[str, ...]:
    found: list[str] = []
    for i, item in enumerate(get_list(doc, "smartctl.messages")):
        if not isinstance(item, dict):
            raise ParseError(f"key 'smartctl.messages[{i}]': expected an object")
        if text := get_str(item, "string").strip():
            found.append(text)
    return tuple(found)


def _model(doc: JsonObject) -> str:
    if model := get_str(doc, "model_name") or get_str(doc, "scsi_model_name"):
        return model.strip()
    vendor = get_str(doc, "scsi_vendor") or get_str(doc, "vendor")
    product = get_str(doc, "scsi_product") or get_str(doc, "product")
    return f"{vendor.strip()} {product.strip()}".strip()


def _ata_attributes(doc: JsonObject) -> tuple[SmartAttribute, ...]:
    found: list[SmartAttribute] = []
    for i, row in enumerate(_objects(doc, "ata_smart_attributes.table")):
        attr_id = get_int(row, "id", -1)
        if attr_id < 0:
            raise ParseError(f"key 'ata_smart_attributes.table[{i}].id': missing")
        when_failed = get_str(row, "when_failed")
        found.append(
            SmartAttribute(
                id=attr_id,
                name=get_str(row, "name"),
                value=get_int(row, "value"),
                worst=get_int(row, "worst"),
                threshold=get_int(row, "thresh"),
                raw=get_int(get_object(row, "raw"), "value"),
                prefailure=get_bool(row, "flags.prefailure"),
                # An unknown future spelling is kept as written rather than dropped.
                when_failed=_WHEN_FAILED.get(when_failed, when_failed),
            )
        )
    return tuple(found)


def _selftest_failures(doc: JsonObject) -> int:
    # -x reads the extended log and falls back to the standard one; both list the same tests.
    ata = _objects(doc, "ata_smart_self_test_log.extended.table") or _objects(
        doc, "ata_smart_self_test_log.standard.table"
    )
    failed = sum(get_int(row, "status.value") >> 4 in _ATA_TEST_FAILED for row in ata)
    failed += sum(
        get_int(row, "self_test_result.value", -1) in _NVME_TEST_FAILED
        for row in _objects(doc, "nvme_self_test_log.table")
    )
    failed += sum(
        get_int(doc, f"scsi_self_test_{n}.result.value", -1) in _SCSI_TEST_FAILED
        for n in range(_SCSI_SELF_TESTS)
    )
    return failed


def _objects(doc: JsonObject, path: str) -> list[JsonObject]:
    rows = get_list(doc, path)
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ParseError(f"key '{path}[{i}]': expected an object")
    return [row for row in rows if isinstance(row, dict)]
