"""The `pci_devices` and `edac` calls' JSON (agent/syscalls_linux.py) → Device records,
PCIe AER counters and EDAC memory-error events.

pci_devices (sysfs ABI: Documentation/ABI/testing/sysfs-bus-pci and
sysfs-bus-pci-devices-aer, https://docs.kernel.org/PCI/pcieaer-howto.html):

    {"devices": [
      {"slot": "0000:00:03.0", "vendor": "0x1af4", "device": "0x1041", "class": "0x020000",
       "subsystem_vendor": "0x1af4", "subsystem_device": "0x1041", "driver": "virtio-pci",
       "aer_dev_correctable": "RxErr 0\\nBadTLP 3\\n...\\nTOTAL_ERR_COR 3",
       "aer_dev_nonfatal": "...\\nTOTAL_ERR_NONFATAL 0",
       "aer_dev_fatal": "...\\nTOTAL_ERR_FATAL 0"}],
     "omitted": 0}

`driver` is the basename of the device's `driver` symlink, null when none is bound. The
aer_* keys exist only for PCIe devices with AER reporting (kernel 5.1+); each file is
"<error name> <count>" lines ending with a TOTAL_ERR_* line.

Device records: id = slot, bus "pci", name "1af4:1041 (network)" (vendor:device as
lspci -n prints them, and the class), driver "" when none is bound. `problem` says
"no driver bound" only for classes that need a driver to work (NEEDS_DRIVER: storage,
network, display, multimedia, USB controllers, wireless, processing accelerators) - host
bridges, system peripherals and signal-processing functions are often unbound on
healthy machines - and "PCIe AER: N fatal, M non-fatal errors" when the uncorrectable
counters are not zero. Corrected AER errors matter only as a rate: parse_aer() returns
every counter for a rule with history.

edac (Documentation/ABI/testing/sysfs-devices-edac):

    {"time_ms": 1717398000000, "controllers": [
      {"mc": "mc0", "mc_name": "Skylake Socket#0 IMC#0", "ce_count": 3, "ue_count": 0,
       "ce_noinfo_count": 0, "ue_noinfo_count": 0,
       "dimms": [{"dimm": "dimm0", "label": "CPU_SrcID#0_MC#0_Chan#0_DIMM#0",
                  "ce_count": 3, "ue_count": 0}]}]}

parse_edac_devices() returns every controller as a Device (bus "edac") with its corrected
and uncorrected counts since boot: counters, not events, so the same errors are not
reported again each cycle; the collector sees their growth (DRV-12 in the failure-signature
catalogue). The kernel's own EDAC log lines still arrive as events from the follower.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agent.parsers import Parsed, ParseError, Warnings
from agent.parsers._json import JsonObject, get_list, load_object
from agent.records import Device

# PCI base class (bits 23-16 of `class`), from the PCI Code and ID Assignment spec.
CLASS_NAMES = {
    0x00: "unclassified",
    0x01: "storage",
    0x02: "network",
    0x03: "display",
    0x04: "multimedia",
    0x05: "memory",
    0x06: "bridge",
    0x07: "communication",
    0x08: "system peripheral",
    0x09: "input",
    0x0A: "docking station",
    0x0B: "processor",
    0x0C: "serial bus",
    0x0D: "wireless",
    0x0E: "intelligent I/O",
    0x0F: "satellite",
    0x10: "encryption",
    0x11: "signal processing",
    0x12: "processing accelerator",
    0x13: "instrumentation",
    0x40: "coprocessor",
    0xFF: "unassigned",
}
NEEDS_DRIVER = frozenset({0x01, 0x02, 0x03, 0x04, 0x0D, 0x12})
USB_CONTROLLER = 0x0C03  # base class 0x0c serial bus, subclass 0x03 USB

_AER_LINE = re.compile(r"(\w+)\s+(\d+)")


@dataclass(frozen=True, slots=True)
class AerCounters:
    """A PCIe device's AER totals since boot (TOTAL_ERR_COR / _NONFATAL / _FATAL)."""

    slot: str
    correctable: int = 0
    nonfatal: int = 0
    fatal: int = 0


def parse(text: str) -> Parsed[tuple[Device, ...]]:
    warnings = Warnings()
    devices: list[Device] = []
    for entry, where in _entries(text, warnings):
        klass = _hex(entry.get("class"))
        if klass is None:
            warnings.add(f"{where}: class {entry.get('class')!r} not a hex number")
        driver = entry.get("driver")
        driver = driver if isinstance(driver, str) else ""
        problems = []
        if not driver and klass is not None and _needs_driver(klass):
            problems.append("no driver bound")
        aer = _aer(entry, str(entry["slot"]), where, warnings)
        if aer.fatal or aer.nonfatal:
            problems.append(f"PCIe AER: {aer.fatal} fatal, {aer.nonfatal} non-fatal errors")
        devices.append(
            Device(
                id=str(entry["slot"]),
                name=_name(entry, klass),
                bus="pci",
                driver=driver,
                problem="; ".join(problems),
                corrected_errors=aer.correctable,
                uncorrected_errors=aer.nonfatal + aer.fatal,
            )
        )
    return Parsed.of(tuple(devices), warnings)


def parse_edac_devices(text: str) -> Parsed[tuple[Device, ...]]:
    """Every EDAC memory controller as a Device with its CE/UE counts since boot.

    Counters, not events: they are cumulative, so an event per cycle would repeat the
    same errors; the collector sees growth from one snapshot to the next.
    """
    doc = load_object(text, "edac")
    if "controllers" not in doc:
        raise ParseError("edac: missing key 'controllers'")
    warnings = Warnings()
    devices: list[Device] = []
    for i, mc in enumerate(get_list(doc, "controllers")):
        if not isinstance(mc, dict) or not isinstance(mc.get("mc"), str):
            warnings.add(f"controllers[{i}]: not an object with 'mc'")
            continue
        ce, ue = _count(mc, "ce_count"), _count(mc, "ue_count")
        name = mc.get("mc_name")
        dimms = _failing_dimms(mc)
        devices.append(
            Device(
                id=f"edac/{mc['mc']}",
                name=name if isinstance(name, str) else "",
                bus="edac",
                driver=name if isinstance(name, str) else "",
                problem=f"memory errors on {dimms}" if dimms and (ce or ue) else "",
                corrected_errors=ce,
                uncorrected_errors=ue,
            )
        )
    return Parsed.of(tuple(devices), warnings)


def parse_aer(text: str) -> Parsed[tuple[AerCounters, ...]]:
    """The AER totals of every device that has AER counters."""
    warnings = Warnings()
    found = [
        _aer(entry, str(entry["slot"]), where, warnings)
        for entry, where in _entries(text, warnings)
        if any(
            name in entry for name in ("aer_dev_correctable", "aer_dev_nonfatal", "aer_dev_fatal")
        )
    ]
    return Parsed.of(tuple(found), warnings)


def _entries(text: str, warnings: Warnings) -> list[tuple[JsonObject, str]]:
    doc = load_object(text, "pci_devices")
    if "devices" not in doc:
        raise ParseError("pci_devices: missing key 'devices'")
    found: list[tuple[JsonObject, str]] = []
    for i, entry in enumerate(get_list(doc, "devices")):
        where = f"devices[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("slot"), str):
            warnings.add(f"{where}: not an object with a 'slot'")
            continue
        found.append((entry, f"{where} ({entry['slot']})"))
    return found


def _hex(value: object) -> int | None:
    if not isinstance(value, str):
        return None
    try:
        return int(value, 16)
    except ValueError:
        return None


def _needs_driver(klass: int) -> bool:
    return klass >> 16 in NEEDS_DRIVER or klass >> 8 == USB_CONTROLLER


def _name(entry: JsonObject, klass: int | None) -> str:
    ids = [_hex(entry.get(key)) for key in ("vendor", "device")]
    name = ":".join(f"{i:04x}" for i in ids if i is not None)
    if klass is not None:
        label = CLASS_NAMES.get(klass >> 16, f"class {klass >> 16:#04x}")
        name = f"{name} ({label})" if name else label
    return name


def _aer(entry: JsonObject, slot: str, where: str, warnings: Warnings) -> AerCounters:
    totals = {}
    for key, total in (
        ("aer_dev_correctable", "TOTAL_ERR_COR"),
        ("aer_dev_nonfatal", "TOTAL_ERR_NONFATAL"),
        ("aer_dev_fatal", "TOTAL_ERR_FATAL"),
    ):
        text = entry.get(key)
        if not isinstance(text, str):
            continue
        counts = dict(_AER_LINE.findall(text))
        if total not in counts:
            warnings.add(f"{where}: {key} has no {total} line")
            # Older kernels may lack the TOTAL line: add up the per-error counts.
            totals[key] = sum(int(v) for v in counts.values())
        else:
            totals[key] = int(counts[total])
    return AerCounters(
        slot,
        totals.get("aer_dev_correctable", 0),
        totals.get("aer_dev_nonfatal", 0),
        totals.get("aer_dev_fatal", 0),
    )


def _count(obj: JsonObject, key: str) -> int:
    value = obj.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _failing_dimms(mc: JsonObject) -> str:
    parts = []
    dimms = mc.get("dimms")
    for dimm in dimms if isinstance(dimms, list) else ():
        if not isinstance(dimm, dict):
            continue
        ce, ue = _count(dimm, "ce_count"), _count(dimm, "ue_count")
        if ce or ue:
            label = dimm.get("label") or dimm.get("dimm") or "?"
            parts.append(f"{label}: {ce} CE, {ue} UE")
    return "; ".join(parts)
