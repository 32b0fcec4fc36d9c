"""The `win_inventory` JSON (Win32_OperatingSystem, Win32_ComputerSystem, Win32_Processor,
the CurrentVersion key, MachineGuid, Get-PhysicalDisk, Get-NetAdapter -Physical) → HostInventory.

    {"OperatingSystem":{"Caption":"Microsoft Windows 11 Enterprise","Version":"10.0.22631",
       "BuildNumber":"22631","LastBootUpTime":"\\/Date(1763657345500)\\/",
       "LocalDateTime":"\\/Date(1763890872000)\\/","CSName":"NB-SALES-114"},
     "ComputerSystem":{"DNSHostName":"NB-SALES-114","Domain":"corp.example.com",
       "Manufacturer":"LENOVO","Model":"21HMCTO1WW","SystemFamily":"ThinkPad T14s Gen 4",
       "TotalPhysicalMemory":34053779456},
     "Processors":[{"Name":"13th Gen Intel(R) Core(TM) i7-1365U","Architecture":9,
       "NumberOfCores":10,"NumberOfLogicalProcessors":12}],
     "CurrentVersion":{"DisplayVersion":"23H2","ReleaseId":"2009","UBR":4460,"EditionID":"Enterprise"},
     "MachineGuid":"6f1c...","PhysicalDisks":[...],"NetAdapters":[{"Name":"Wi-Fi","MacAddress":"..."}]}

Only `OperatingSystem` is required. Architecture is the Win32_Processor number (0 x86,
5 ARM, 9 x64, 12 ARM64), not OSArchitecture, whose "64-bit" is translated ("64-Bit").
Uptime is LocalDateTime - LastBootUpTime: both from the host's clock, in one query.

https://learn.microsoft.com/windows/win32/cimwin32prov/win32-operatingsystem
https://learn.microsoft.com/windows/win32/cimwin32prov/win32-computersystem
https://learn.microsoft.com/windows/win32/cimwin32prov/win32-processor
"""

from __future__ import annotations

from agent.parsers import Parsed, ParseError, Warnings
from agent.parsers import win_ps_json as ps
from agent.parsers.win_physical_disk_json import BUS_TYPES, MEDIA_TYPES
from agent.records import HostInventory, InventoryDisk

ARCHITECTURES = {0: "x86", 5: "arm", 9: "x86_64", 12: "aarch64"}
TRANSPORTS = {"NVMe": "nvme", "SATA": "sata", "ATA": "ata", "USB": "usb", "SAS": "sas"}
_PLACEHOLDERS = {"", "to be filled by o.e.m.", "default string", "system product name"}


def parse(text: str) -> Parsed[HostInventory]:
    warnings = Warnings()
    doc = ps.load_object(text, "win_inventory")
    os_docs = ps.objects(doc.get("OperatingSystem"))
    if not os_docs:
        raise ParseError("win_inventory: missing key 'OperatingSystem'")
    os_doc = os_docs[0]
    cs = next(iter(ps.objects(doc.get("ComputerSystem"))), {})
    nt = next(iter(ps.objects(doc.get("CurrentVersion"))), {})
    cpus = ps.objects(doc.get("Processors"))
    boot_ms = ps.time_ms(os_doc, "LastBootUpTime")
    now_ms = ps.time_ms(os_doc, "LocalDateTime")
    hostname = ps.text(cs, "DNSHostName") or ps.text(os_doc, "CSName")
    if not hostname:
        raise ParseError("win_inventory: no host name (DNSHostName, CSName)")
    version = ps.text(os_doc, "Version")
    ubr = ps.number(nt, "UBR")
    return Parsed.of(
        HostInventory(
            hostname=hostname,
            os_family="windows",
            os_name=ps.text(os_doc, "Caption"),
            os_version=ps.text(nt, "DisplayVersion") or ps.text(nt, "ReleaseId") or version,
            kernel=f"{version}.{ubr}" if version and ubr else version,
            arch=ARCHITECTURES.get(ps.number(cpus[0], "Architecture", -1), "") if cpus else "",
            cpu_model=ps.text(cpus[0], "Name") if cpus else "",
            cpu_cores=sum(ps.number(c, "NumberOfLogicalProcessors") for c in cpus),
            memory_bytes=ps.number(cs, "TotalPhysicalMemory"),
            boot_time_unix=boot_ms // 1000,
            machine_id=ps.text(doc, "MachineGuid").lower(),
            disks=_disks(doc, warnings),
            nics=_nics(doc, warnings),
            uptime_seconds=max(0, now_ms - boot_ms) // 1000 if boot_ms and now_ms else 0,
            vendor=_vendor(cs),
        ),
        warnings,
    )


def _vendor(cs: ps.JsonObject) -> str:
    maker, model = ps.text(cs, "Manufacturer"), ps.text(cs, "Model")
    family = ps.text(cs, "SystemFamily")
    parts = [p for p in (maker, model) if p.lower() not in _PLACEHOLDERS]
    vendor = " ".join(parts)
    # Lenovo's Model is a type number (21HMCTO1WW); the family names the machine.
    if family.lower() not in _PLACEHOLDERS and family.lower() not in vendor.lower():
        vendor = f"{vendor} ({family})" if vendor else family
    return vendor


def _disks(doc: ps.JsonObject, warnings: Warnings) -> tuple[InventoryDisk, ...]:
    found: list[InventoryDisk] = []
    for i, disk in enumerate(ps.objects(doc.get("PhysicalDisks"))):
        try:
            bus = ps.enum(disk, "BusType", BUS_TYPES)
            found.append(
                InventoryDisk(
                    name=f"PhysicalDisk{ps.text(disk, 'DeviceId')}",
                    model=ps.text(disk, "FriendlyName"),
                    serial=ps.text(disk, "SerialNumber"),
                    size_bytes=ps.number(disk, "Size"),
                    rotational=ps.enum(disk, "MediaType", MEDIA_TYPES) == "HDD",
                    transport=TRANSPORTS.get(bus, bus.lower()),
                )
            )
        except ParseError as exc:
            warnings.add(f"PhysicalDisks[{i}]: {exc}")
    return tuple(found)


def _nics(doc: ps.JsonObject, warnings: Warnings) -> tuple[str, ...]:
    found: list[str] = []
    for i, nic in enumerate(ps.objects(doc.get("NetAdapters"))):
        try:
            name, mac = ps.text(nic, "Name"), ps.mac_address(ps.text(nic, "MacAddress"))
        except ParseError as exc:
            warnings.add(f"NetAdapters[{i}]: {exc}")
            continue
        found.append(f"{name} {mac}".strip())
    return tuple(found)
