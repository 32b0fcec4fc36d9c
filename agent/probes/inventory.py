"""Who the host is: OS, kernel, CPU, memory, boot time, machine id.

host_facts is required (it carries the hostname); os-release and machine-id are partial:
a missing or garbled one is recorded as an error and the inventory still goes out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from agent.parsers import ParseError, host_facts_json, lsblk_json, machine_id, os_release
from agent.probes.base import DEFAULT_CONTEXT, Gather, ProbeContext, ProbeOutput, not_yet
from agent.records import HostInventory, ProbeError
from agent.sources import Source, Unavailable
from agent.specs import (
    DMI_PRODUCT,
    DMI_VENDOR,
    HOST_FACTS,
    LSBLK,
    MACHINE_ID,
    OS_RELEASE,
    OS_RELEASE_USR_LIB,
    Spec,
)

T = TypeVar("T")


class InventoryProbe:
    name = "inventory"

    def specs(self, os: str) -> tuple[Spec, ...]:
        match os:
            case "linux":
                return (
                    HOST_FACTS,
                    OS_RELEASE,
                    OS_RELEASE_USR_LIB,
                    MACHINE_ID,
                    LSBLK,
                    DMI_VENDOR,
                    DMI_PRODUCT,
                )
            case "windows":
                from agent.probes import windows  # only on Windows: its parsers cost RSS

                return windows.specs("inventory")
            case "darwin":
                from agent.probes import macos  # only on macOS

                return macos.specs("inventory")
        return ()

    def collect(self, source: Source, context: ProbeContext = DEFAULT_CONTEXT) -> ProbeOutput:
        match source.os:
            case "linux":
                return self._linux(source)
            case "windows":
                from agent.probes import windows  # only on Windows: its parsers cost RSS

                return windows.inventory(source)
            case "darwin":
                from agent.probes import macos  # only on macOS

                return macos.inventory(source)
            case other:
                return not_yet(self.name, other)

    def _linux(self, source: Source) -> ProbeOutput:
        errors: list[ProbeError] = []
        facts = host_facts_json.parse(source.read(HOST_FACTS))
        release = self._partial(errors, lambda: os_release.parse(_os_release_text(source)))
        mid = self._partial(errors, lambda: machine_id.parse(source.read(MACHINE_ID)))
        g = Gather(self.name)
        disks = g.parse(source, LSBLK, lsblk_json.parse) or ()
        vendor = " ".join(
            text.strip()
            for spec in (DMI_VENDOR, DMI_PRODUCT)
            # DMI is absent in many VMs and on non-x86 boards: nothing to report then.
            if (text := g.optional(source, spec)) and text.strip()
        )
        errors.extend(g.errors)
        inventory = HostInventory(
            hostname=facts.hostname,
            os_family="linux",
            os_name=os_release.name(release) if release is not None else "",
            os_version=os_release.version(release) if release is not None else "",
            kernel=facts.kernel,
            arch=facts.arch,
            cpu_model=facts.cpu_model,
            cpu_cores=facts.cpu_cores,
            memory_bytes=facts.memory_bytes,
            boot_time_unix=facts.boot_time_unix,
            machine_id=mid or "",
            disks=disks,
            vendor=vendor,
        )
        return ProbeOutput(inventory=inventory, errors=tuple(errors), warnings=g.warnings)

    def _partial(self, errors: list[ProbeError], read: Callable[[], T]) -> T | None:
        try:
            return read()
        except Unavailable as exc:
            errors.append(ProbeError(self.name, "unavailable", str(exc)))
        except ParseError as exc:
            errors.append(ProbeError(self.name, "parse", str(exc)))
        return None


def _os_release_text(source: Source) -> str:
    try:
        return source.read(OS_RELEASE)
    except Unavailable:
        # os-release(5): /usr/lib/os-release is the vendor copy /etc/os-release may point at.
        return source.read(OS_RELEASE_USR_LIB)
