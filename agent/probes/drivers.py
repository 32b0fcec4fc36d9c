"""Drivers and devices: loaded modules, devices and the drivers bound to them, kernel
taint, PCIe AER and EDAC counters.

Linux reads /proc/modules, /proc/sys/kernel/tainted and sysfs (PCI devices with their
bound driver and AER counters, EDAC memory controllers). What the kernel says as it
happens (firmware missing, signature rejected, GPU reset, AER and EDAC messages) comes
from the kernel-log follower as events (agent/follow.py). Windows: PnP devices with a
problem code and signed drivers; macOS: loaded kernel extensions.
"""

from __future__ import annotations

from agent.parsers import kernel_tainted, proc_modules, sysfs_devices_json
from agent.probes.base import DEFAULT_CONTEXT, Gather, ProbeContext, ProbeOutput
from agent.sources import Source
from agent.specs import EDAC, PCI_DEVICES, PROC_MODULES, TAINTED, Spec


class DriversProbe:
    name = "drivers"

    def specs(self, os: str) -> tuple[Spec, ...]:
        match os:
            case "linux":
                return (PROC_MODULES, TAINTED, PCI_DEVICES, EDAC)
            case "windows":
                from agent.probes import windows  # only on Windows: its parsers cost RSS

                return windows.specs("drivers")
            case "darwin":
                from agent.probes import macos  # only on macOS

                return macos.specs("drivers")
        return ()

    def collect(self, source: Source, context: ProbeContext = DEFAULT_CONTEXT) -> ProbeOutput:
        match source.os:
            case "windows":
                from agent.probes import windows  # only on Windows: its parsers cost RSS

                return windows.drivers(source)
            case "darwin":
                from agent.probes import macos  # only on macOS

                return macos.drivers(source)
        g = Gather(self.name)
        # A kernel built without loadable modules has no list; most desktops have no EDAC.
        modules = g.parse_optional(source, PROC_MODULES, proc_modules.parse) or ()
        taint = g.parse(source, TAINTED, kernel_tainted.parse) or 0
        devices = g.parse(source, PCI_DEVICES, sysfs_devices_json.parse) or ()
        memory = g.parse_optional(source, EDAC, sysfs_devices_json.parse_edac_devices) or ()
        return ProbeOutput(
            drivers=modules,
            kernel_taint=taint,
            devices=(*devices, *memory),
            errors=g.errors,
            warnings=g.warnings,
        )
