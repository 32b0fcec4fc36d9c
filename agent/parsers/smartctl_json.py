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
    ata_smart_attributes.table[] {"id", "raw": {"value"}}: 5 reallocated, 197 pending,
                               198 offline uncorrectable
    nvme_smart_health_information_log.critical_warning / .percentage_used

Every key except `smartctl` and `device.name` is optional: old versions and partial
reads leave sections out, and the record keeps its default.
"""

from __future__ import annotations

from agent.parsers import ParseError
from agent.parsers._json import (
    JsonObject,
    get_int,
    get_list,
    get_object,
    get_str,
    load_object,
    lookup,
)
from agent.records import SmartDevice

ATA_REALLOCATED = 5
ATA_PENDING = 197
ATA_OFFLINE_UNCORRECTABLE = 198
_NVME_LOG = "nvme_smart_health_information_log"


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
    attrs = _ata_raw_values(doc)
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


def _ata_raw_values(doc: JsonObject) -> dict[int, int]:
    raw: dict[int, int] = {}
    for i, row in enumerate(get_list(doc, "ata_smart_attributes.table")):
        if not isinstance(row, dict):
            raise ParseError(f"key 'ata_smart_attributes.table[{i}]': expected an object")
        attr_id = get_int(row, "id", -1)
        if attr_id < 0:
            raise ParseError(f"key 'ata_smart_attributes.table[{i}].id': missing")
        raw[attr_id] = get_int(get_object(row, "raw"), "value")
    return raw
