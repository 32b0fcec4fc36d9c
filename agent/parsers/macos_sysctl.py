"""`sysctl <name>...` (macOS) → HostInventory and BootInfo fields.

sysctl(8) prints one `name: value` line per oid asked for:

    kern.hostname: ws-sales-07
    kern.osrelease: 23.4.0
    kern.boottime: { sec = 1714630390, usec = 218563 } Thu May  2 08:13:10 2024
    kern.bootsessionuuid: 8C1D5F7E-2B3A-4C9D-A1E0-6F4B3C2D1E0A
    hw.model: Mac14,2
    hw.machine: arm64
    hw.memsize: 17179869184
    hw.ncpu: 8
    machdep.cpu.brand_string: Apple M2

https://keith.github.io/xcode-man-pages/sysctl.8.html ; the oids are documented in
sysctl(3) (CTL_KERN, CTL_HW) and xnu's bsd/kern/kern_sysctl.c.

kern.boottime is a struct timeval; its `sec` is the boot time in Unix seconds.
hw.machine is the architecture this process runs as: a Python under Rosetta on an Apple
silicon Mac sees `x86_64`, so an "Apple ..." CPU brand means arm64 whatever hw.machine says.
"""

from __future__ import annotations

import re

from agent.parsers import Parsed, ParseError, Warnings
from agent.records import BootInfo, HostInventory

_LINE = re.compile(r"([a-z][a-z0-9_]*(?:\.[A-Za-z0-9_]+)+):\s?(.*)")
_BOOTTIME = re.compile(r"\{\s*sec\s*=\s*(\d+),\s*usec\s*=\s*\d+\s*\}")


def _values(text: str, warnings: Warnings) -> dict[str, str]:
    """Every `name: value` line; anything else is a warning."""
    found: dict[str, str] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        match = _LINE.fullmatch(line.strip())
        if match is None:
            warnings.add(f"line {lineno}: not `name: value`: {line.strip()!r:.80}")
            continue
        found[match.group(1)] = match.group(2).strip()
    if not found:
        raise ParseError("sysctl: no `name: value` line")
    return found


def parse(text: str) -> Parsed[HostInventory]:
    warnings = Warnings()
    found = _values(text, warnings)
    brand = found.get("machdep.cpu.brand_string", "")
    arch = "arm64" if brand.startswith("Apple") else found.get("hw.machine", "")
    inventory = HostInventory(
        hostname=found.get("kern.hostname", ""),
        os_family="darwin",
        kernel=found.get("kern.osrelease", ""),
        arch=arch,
        cpu_model=brand,
        cpu_cores=_int(found, "hw.ncpu", warnings),
        memory_bytes=_int(found, "hw.memsize", warnings),
        boot_time_unix=_boot_time(found, warnings),
        vendor=f"Apple Inc. {found['hw.model']}" if found.get("hw.model") else "",
    )
    return Parsed.of(inventory, warnings)


def parse_boot(text: str) -> Parsed[BootInfo]:
    warnings = Warnings()
    found = _values(text, warnings)
    boot = BootInfo(
        boot_id=found.get("kern.bootsessionuuid", "").lower(),
        boot_time_unix=_boot_time(found, warnings),
    )
    return Parsed.of(boot, warnings)


def _int(found: dict[str, str], name: str, warnings: Warnings) -> int:
    value = found.get(name, "")
    if value.isdigit():
        return int(value)
    if value:
        warnings.add(f"{name}: {value!r:.40} is not a number")
    return 0


def _boot_time(found: dict[str, str], warnings: Warnings) -> int:
    value = found.get("kern.boottime", "")
    if match := _BOOTTIME.match(value):
        return int(match.group(1))
    if value:
        warnings.add(f"kern.boottime: {value!r:.60} is not a timeval")
    return 0
