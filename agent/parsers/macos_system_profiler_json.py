"""`system_profiler -json <DataType>...` → inventory, SMART status, disks and Wi-Fi.

system_profiler(8) with -json prints one object, one key per data type asked for, each a
list (https://keith.github.io/xcode-man-pages/system_profiler.8.html). Storage buses list
controllers, each with its drives in `_items`:

    {"SPNVMeDataType": [{"_name": "Apple SSD Controller", "_items": [
        {"_name": "APPLE SSD AP0512Z", "bsd_name": "disk0", "device_model": "APPLE SSD AP0512Z",
         "device_revision": "874.101.2", "device_serial": "0ba0127c41e22b3f",
         "size_in_bytes": 500277792768, "smart_status": "Verified", ...}]}],
     "SPSerialATADataType": [{"_name": "Intel 200 Series Chipset", "_items": [
        {"bsd_name": "disk0", "device_model": "APPLE HDD ST1000DM003", "smart_status": "Failing",
         "spsata_medium_type": "Rotational", ...}]}],
     "SPHardwareDataType": [{"machine_name": "MacBook Air", "machine_model": "Mac14,2",
         "chip_type": "Apple M2", "platform_UUID": "…", "serial_number": "…", ...}],
     "SPAirPortDataType": [{"spairport_airport_interfaces": [{"_name": "en0",
         "spairport_status_information": "spairport_status_connected",
         "spairport_current_network_information": {"_name": "<redacted>",
             "spairport_signal_noise": "-71 dBm / -92 dBm", ...}}]}]}

`smart_status` is the drive's own SMART verdict as IOKit reports it: "Verified" (passed),
"Failing" (failed), "Not Supported" (external and USB drives: unknown). The same string
is diskutil's "SMART Status". macOS redacts the Wi-Fi SSID to "<redacted>" for a process
without Location Services permission (a daemon has none): such an SSID is left empty.

A drive or interface whose values have the wrong types is skipped with a warning; only a
document that is not JSON, or not an object, raises.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from agent.parsers import Parsed, ParseError, Warnings
from agent.parsers._json import JsonObject, get_int, get_list, get_object, get_str, load_object
from agent.records import HostInventory, InventoryDisk, NetInterface, SmartDevice

# Data type → (SmartDevice.protocol, InventoryDisk.transport); the protocol names are
# smartctl's (device.protocol), so rules see one vocabulary for both sources.
_BUSES = {"SPNVMeDataType": ("NVMe", "nvme"), "SPSerialATADataType": ("ATA", "sata")}
_SIGNAL = re.compile(r"\s*(-?\d+)\s*dBm")


def parse_hardware(text: str) -> Parsed[HostInventory]:
    """SPHardwareDataType → vendor ("Apple Inc. MacBook Air (Mac14,2)"), cpu_model,
    machine_id (the platform UUID, IOPlatformUUID). hostname is not in it and stays ""."""
    doc = load_object(text, "system_profiler")
    warnings = Warnings()
    entries = list(_entries(doc, "SPHardwareDataType", warnings))
    if not entries:
        raise ParseError("system_profiler: no SPHardwareDataType entry")
    hw = entries[0]
    try:
        name, model = get_str(hw, "machine_name"), get_str(hw, "machine_model")
        label = f"{name} ({model})" if name and model else name or model
        inventory = HostInventory(
            hostname="",
            os_family="darwin",
            cpu_model=get_str(hw, "chip_type") or get_str(hw, "cpu_type"),
            machine_id=get_str(hw, "platform_UUID").lower(),
            vendor=f"Apple Inc. {label}" if label else "",
        )
    except ParseError as exc:
        raise ParseError(f"system_profiler SPHardwareDataType: {exc}") from None
    return Parsed.of(inventory, warnings)


def parse_smart(text: str) -> Parsed[tuple[SmartDevice, ...]]:
    """NVMe and SATA drives with their SMART verdict; a drive without one is health-unknown."""
    doc = load_object(text, "system_profiler")
    warnings = Warnings()
    found: list[SmartDevice] = []
    for data_type, drive in _drives(doc, warnings):
        protocol = _BUSES[data_type][0]
        try:
            bsd = get_str(drive, "bsd_name")
            status = get_str(drive, "smart_status")
            known, passed = _smart_status(status)
            if status and not known and status != "Not Supported":
                warnings.add(f"{bsd or '?'}: unknown smart_status {status!r:.40}")
            found.append(
                SmartDevice(
                    device=f"/dev/{bsd}" if bsd else get_str(drive, "_name"),
                    protocol=protocol,
                    model=get_str(drive, "device_model").strip() or get_str(drive, "_name"),
                    serial=get_str(drive, "device_serial").strip(),
                    firmware=get_str(drive, "device_revision").strip(),
                    health_known=known,
                    health_passed=passed,
                )
            )
        except ParseError as exc:
            warnings.add(f"{data_type} drive skipped: {exc}")
    return Parsed.of(tuple(found), warnings)


def parse_disks(text: str) -> Parsed[tuple[InventoryDisk, ...]]:
    """The physical NVMe and SATA drives, as the inventory lists them."""
    doc = load_object(text, "system_profiler")
    warnings = Warnings()
    found: list[InventoryDisk] = []
    for data_type, drive in _drives(doc, warnings):
        try:
            found.append(
                InventoryDisk(
                    name=get_str(drive, "bsd_name") or get_str(drive, "_name"),
                    model=get_str(drive, "device_model").strip() or get_str(drive, "_name"),
                    serial=get_str(drive, "device_serial").strip(),
                    size_bytes=get_int(drive, "size_in_bytes"),
                    rotational=get_str(drive, "spsata_medium_type") == "Rotational",
                    transport=_BUSES[data_type][1],
                )
            )
        except ParseError as exc:
            warnings.add(f"{data_type} drive skipped: {exc}")
    return Parsed.of(tuple(found), warnings)


def parse_wifi(text: str) -> Parsed[tuple[NetInterface, ...]]:
    """SPAirPortDataType → the Wi-Fi facts of each radio (name, MAC, SSID, signal in dBm)."""
    doc = load_object(text, "system_profiler")
    warnings = Warnings()
    found: list[NetInterface] = []
    for entry in _entries(doc, "SPAirPortDataType", warnings):
        for i, itf in enumerate(get_list(entry, "spairport_airport_interfaces")):
            if not isinstance(itf, dict):
                warnings.add(f"spairport_airport_interfaces[{i}]: not an object")
                continue
            try:
                if item := _wifi(itf, warnings):
                    found.append(item)
            except ParseError as exc:
                warnings.add(f"spairport_airport_interfaces[{i}] skipped: {exc}")
    return Parsed.of(tuple(found), warnings)


def _wifi(itf: JsonObject, warnings: Warnings) -> NetInterface | None:
    status = get_str(itf, "spairport_status_information")
    if not status:
        return None  # awdl0, llw0: Apple's peer-to-peer links, not a radio of their own
    current = get_object(itf, "spairport_current_network_information")
    ssid = get_str(current, "_name")
    signal = 0
    if noise := get_str(current, "spairport_signal_noise"):
        match = _SIGNAL.match(noise)
        if match:
            signal = int(match.group(1))
        else:
            warnings.add(f"{get_str(itf, '_name')}: signal {noise!r:.40} is not 'N dBm / N dBm'")
    connected = status == "spairport_status_connected"
    return NetInterface(
        name=get_str(itf, "_name"),
        mac=get_str(itf, "spairport_wireless_mac_address").lower(),
        kind="wifi",
        oper_state="up" if connected else "down",
        wifi_ssid="" if ssid.startswith("<") else ssid,  # "<redacted>"
        wifi_signal_dbm=signal if connected else 0,
    )


def _smart_status(status: str) -> tuple[bool, bool]:
    if status == "Verified":
        return True, True
    if "fail" in status.lower():  # "Failing"; older releases said "About to Fail"
        return True, False
    return False, True


def _entries(doc: JsonObject, data_type: str, warnings: Warnings) -> Iterator[JsonObject]:
    try:
        items = get_list(doc, data_type)
    except ParseError as exc:
        warnings.add(str(exc))
        return
    for i, item in enumerate(items):
        if isinstance(item, dict):
            yield item
        else:
            warnings.add(f"{data_type}[{i}]: not an object")


def _drives(doc: JsonObject, warnings: Warnings) -> Iterator[tuple[str, JsonObject]]:
    for data_type in _BUSES:
        for controller in _entries(doc, data_type, warnings):
            try:
                drives = get_list(controller, "_items")
            except ParseError as exc:
                warnings.add(f"{data_type}: {exc}")
                continue
            for i, drive in enumerate(drives):
                if isinstance(drive, dict):
                    yield data_type, drive
                else:
                    warnings.add(f"{data_type} _items[{i}]: not an object")
