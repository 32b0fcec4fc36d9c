"""The `win_physical_disks` JSON (Get-PhysicalDisk + Get-StorageReliabilityCounter) → SmartDevice.

    [{"DeviceId":"0","FriendlyName":"SAMSUNG MZVL21T0HCLR-00BL7",
      "Model":"SAMSUNG MZVL21T0HCLR-00BL7","SerialNumber":"0025_38B3_21A5_6E2F.",
      "FirmwareVersion":"GXA7801Q","MediaType":4,
      "BusType":17,"HealthStatus":0,"OperationalStatus":[2],"Size":1024209543168,
      "Reliability":{"Temperature":41,"Wear":3,"PowerOnHours":2841,"ReadErrorsUncorrected":0,...}}]

Windows reads the drive's SMART / NVMe health log itself and reports the verdict:
HealthStatus 0 Healthy, 1 Warning, 2 Unhealthy, 5 Unknown; OperationalStatus "Predictive
Failure" (5) is the drive's own failure prediction. Warning and Unhealthy both count as not
passed. Reliability is null where the counters are unavailable (not elevated, USB bridge).

Mapping into the SmartDevice fields, nearest meaning (the record has no Windows-specific
counters): Temperature → temperature_c, PowerOnHours → power_on_hours, NVMe Wear →
nvme_percentage_used, Read+WriteErrorsUncorrected → nvme_media_errors (NVMe) or
reported_uncorrect (ATA/SATA).

https://learn.microsoft.com/windows-hardware/drivers/storage/msft-physicaldisk
https://learn.microsoft.com/windows-hardware/drivers/storage/msft-storagereliabilitycounter
"""

from __future__ import annotations

from agent.parsers import Parsed, ParseError, Warnings
from agent.parsers import win_ps_json as ps
from agent.records import SmartDevice

BUS_TYPES = {
    0: "Unknown", 1: "SCSI", 2: "ATAPI", 3: "ATA", 4: "1394", 5: "SSA", 6: "Fibre Channel",
    7: "USB", 8: "RAID", 9: "iSCSI", 10: "SAS", 11: "SATA", 12: "SD", 13: "MMC",
    15: "File Backed Virtual", 16: "Storage Spaces", 17: "NVMe",
}  # fmt: skip
MEDIA_TYPES = {0: "Unspecified", 3: "HDD", 4: "SSD", 5: "SCM"}
HEALTH = {0: "Healthy", 1: "Warning", 2: "Unhealthy", 5: "Unknown"}
OPERATIONAL = {
    0: "Unknown", 1: "Other", 2: "OK", 3: "Degraded", 4: "Stressed", 5: "Predictive Failure",
    6: "Error", 7: "Non-Recoverable Error", 8: "Starting", 9: "Stopping", 10: "Stopped",
    11: "In Service", 12: "No Contact", 13: "Lost Communication", 14: "Aborted",
    15: "Dormant", 16: "Supporting Entity in Error", 17: "Completed",
}  # fmt: skip
# smartctl's device.protocol vocabulary, so rules see one word for one kind of drive.
PROTOCOLS = {
    "NVMe": "NVMe", "ATA": "ATA", "SATA": "ATA", "ATAPI": "ATA", "SCSI": "SCSI", "SAS": "SCSI",
    "iSCSI": "SCSI", "Fibre Channel": "SCSI",
}  # fmt: skip


def parse(text: str) -> Parsed[tuple[SmartDevice, ...]]:
    warnings = Warnings()
    found: list[SmartDevice] = []
    for i, item in enumerate(ps.load_list(text, "win_physical_disks")):
        if not isinstance(item, dict):
            warnings.add(f"disk {i}: expected an object, got {item!r:.60}")
            continue
        try:
            found.append(_device(item))
        except ParseError as exc:
            warnings.add(f"disk {i}: {exc}")
    return Parsed.of(tuple(found), warnings)


def _device(disk: ps.JsonObject) -> SmartDevice:
    device_id = ps.text(disk, "DeviceId")
    if not device_id:
        raise ParseError("missing DeviceId")
    bus = ps.enum(disk, "BusType", BUS_TYPES)
    protocol = PROTOCOLS.get(bus, bus)
    health = ps.enum(disk, "HealthStatus", HEALTH)
    predicted = "Predictive Failure" in ps.enums(disk, "OperationalStatus", OPERATIONAL)
    counters = next(iter(ps.objects(disk.get("Reliability"))), {})
    uncorrected = ps.number(counters, "ReadErrorsUncorrected") + ps.number(
        counters, "WriteErrorsUncorrected"
    )
    nvme = protocol == "NVMe"
    return SmartDevice(
        device=f"PhysicalDisk{device_id}",
        protocol=protocol,
        model=ps.text(disk, "FriendlyName") or ps.text(disk, "Model"),
        serial=ps.text(disk, "SerialNumber"),
        firmware=ps.text(disk, "FirmwareVersion"),
        health_known=health in ("Healthy", "Warning", "Unhealthy") or predicted,
        health_passed=health == "Healthy" and not predicted,
        temperature_c=ps.number(counters, "Temperature"),
        power_on_hours=ps.number(counters, "PowerOnHours"),
        nvme_percentage_used=ps.number(counters, "Wear") if nvme else 0,
        nvme_media_errors=uncorrected if nvme else 0,
        reported_uncorrect=0 if nvme else uncorrected,
    )
